"""``picklist_dependency``: the mappings held in the ``picklist_dependencies`` setting, over HTTP.

Answer shape (seed document, "Picklist Dependency"; Vtiger's
``Vtiger_DependencyPicklist::getPickListDependency``): ``{"sourcefield", "targetfield",
"valuemapping": [{"sourcevalue", "targetvalues": [...]}]}``, an empty ``valuemapping`` for a
pair without a dependency.
"""

from __future__ import annotations

import requests
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.seed import DEMO_PICKLIST_DEPENDENCIES
from vtiger_sandbox.testing import SandboxServer

SEVERITIES = {
    "module": "HelpDesk", "sourcefield": "ticketcategories", "targetfield": "ticketseverities",
    "valuemapping": [
        {"sourcevalue": "Small Problem", "targetvalues": ["Minor"]},
        {"sourcevalue": "Big Problem", "targetvalues": ["Critical", "Major"]},
        {"sourcevalue": "Other Problem", "targetvalues": []},
    ]}
STAGES = {
    "module": "Potentials", "sourcefield": "opportunity_type", "targetfield": "sales_stage",
    "valuemapping": [
        {"sourcevalue": "New Business", "targetvalues": ["Prospecting", "Qualification"]},
    ]}


def _dep(rest: Rest, module: str, src: str, dst: str) -> dict:
    return rest.ok("GET", "picklist_dependency", module=module, sourcefield=src,
                   targetfield=dst)


def _post_config(server: SandboxServer, body: dict) -> requests.Response:
    return requests.post(f"{server.url}/_sandbox/config", json=body, timeout=10,
                         auth=(server.username, server.access_key))


def test_configured_dependencies_are_answered_exactly_on_both_apis(
    sandbox: SandboxServer,
) -> None:
    rest = Rest(sandbox)
    assert _dep(rest, "HelpDesk", "ticketcategories", "ticketseverities") == {
        "sourcefield": "ticketcategories", "targetfield": "ticketseverities", "valuemapping": []}
    cfg = sandbox.configure(picklist_dependencies=[SEVERITIES, STAGES])
    assert cfg["picklist_dependencies"] == [SEVERITIES, STAGES]
    assert _dep(rest, "HelpDesk", "ticketcategories", "ticketseverities") == {
        "sourcefield": "ticketcategories", "targetfield": "ticketseverities",
        "valuemapping": SEVERITIES["valuemapping"]}  # configured order, values as given
    assert _dep(rest, "Potentials", "opportunity_type", "sales_stage")["valuemapping"] == [
        {"sourcevalue": "New Business", "targetvalues": ["Prospecting", "Qualification"]}]
    ws = WebService(sandbox)
    ws.login()
    body = ws.get("picklist_dependency", module="HelpDesk", sourcefield="ticketcategories",
                  targetfield="ticketseverities").json()
    assert body == {"success": True, "result": _dep(rest, "HelpDesk", "ticketcategories",
                                                    "ticketseverities")}
    # the reverse direction, another target or another module: no dependency
    for module, src, dst in (("HelpDesk", "ticketseverities", "ticketcategories"),
                             ("HelpDesk", "ticketcategories", "ticketpriorities"),
                             ("Leads", "leadsource", "leadstatus")):
        assert _dep(rest, module, src, dst) == {
            "sourcefield": src, "targetfield": dst, "valuemapping": []}


def test_unknown_module_or_field_is_access_denied(sandbox: SandboxServer) -> None:
    sandbox.configure(picklist_dependencies=[SEVERITIES])
    rest = Rest(sandbox)
    _, err = rest.error("GET", "picklist_dependency", module="helpdesk",
                        sourcefield="ticketcategories", targetfield="ticketseverities")
    assert err["code"] == "ACCESS_DENIED"
    _, err = rest.error("GET", "picklist_dependency", module="HelpDesk",
                        sourcefield="ticketcategories", targetfield="nosuchfield")
    assert err == {"code": "ACCESS_DENIED",
                   "message": "Permission to access nosuchfield attribute denied."}


def test_dependencies_persist_across_restarts_and_reset_clears_them(tmp_path) -> None:
    db = tmp_path / "deps.sqlite"
    server = SandboxServer(db).start()
    server.configure(picklist_dependencies=[SEVERITIES])
    assert server.stop() == 0
    again = SandboxServer(db).start()
    try:
        rest = Rest(again)
        mapping = _dep(rest, "HelpDesk", "ticketcategories", "ticketseverities")["valuemapping"]
        assert mapping == SEVERITIES["valuemapping"]
        again.reset()
        assert again.admin("GET", "config")["picklist_dependencies"] == []
        assert _dep(rest, "HelpDesk", "ticketcategories", "ticketseverities")[
            "valuemapping"] == []
    finally:
        again.stop()


def test_a_custom_picklist_field_can_be_a_target(sandbox: SandboxServer) -> None:
    sandbox.add_field("HelpDesk", "cf_team", "Team", type={
        "name": "picklist", "defaultValue": "Tier 1",
        "picklistValues": [{"label": "Tier 1", "value": "Tier 1"},
                           {"label": "Tier 2", "value": "Tier 2"}]})
    dep = {"module": "HelpDesk", "sourcefield": "ticketpriorities", "targetfield": "cf_team",
           "valuemapping": [{"sourcevalue": "Urgent", "targetvalues": ["Tier 2"]}]}
    sandbox.configure(picklist_dependencies=[dep])
    assert _dep(Rest(sandbox), "HelpDesk", "ticketpriorities", "cf_team")["valuemapping"] == [
        {"sourcevalue": "Urgent", "targetvalues": ["Tier 2"]}]


def test_dependencies_that_vtiger_could_not_hold_are_refused(sandbox: SandboxServer) -> None:
    sandbox.configure(picklist_dependencies=[SEVERITIES])

    def entry(**kw) -> dict:
        return {**SEVERITIES, **kw}

    bad_entries = [
        {"module": "HelpDesk"},  # keys missing
        entry(module="NoSuchModule"),
        entry(sourcefield="ticket_title"),  # a string field, not a picklist
        entry(targetfield="nosuchfield"),
        entry(targetfield="ticketcategories"),  # depends on itself
        entry(valuemapping=[{"sourcevalue": "Huge Problem", "targetvalues": ["Major"]}]),
        entry(valuemapping=[{"sourcevalue": "Big Problem", "targetvalues": ["Urgent"]}]),
        entry(valuemapping=[{"sourcevalue": "Big Problem", "targetvalues": "Major"}]),
        entry(valuemapping=[{"sourcevalue": "Big Problem", "targetvalues": ["Major"]},
                            {"sourcevalue": "Big Problem", "targetvalues": ["Minor"]}]),
        entry(valuemapping=[{"sourcevalue": "Big Problem"}]),
    ]
    for bad in [{"picklist_dependencies": {}}, {"picklist_dependencies": [SEVERITIES, SEVERITIES]},
                # a second parent for ticketseverities (Vtiger allows one source per target)
                {"picklist_dependencies": [SEVERITIES, entry(
                    sourcefield="ticketpriorities",
                    valuemapping=[{"sourcevalue": "Low", "targetvalues": ["Minor"]}])]},
                *({"picklist_dependencies": [b]} for b in bad_entries)]:
        resp = _post_config(sandbox, bad)
        assert resp.status_code == 400, bad
        assert resp.json()["error"]["code"] == "INVALID_SETTING", bad
    assert sandbox.admin("GET", "config")["picklist_dependencies"] == [SEVERITIES]


def test_demo_seed_holds_helpdesk_dependencies_of_real_picklist_values(
    demo_sandbox: SandboxServer,
) -> None:
    rest = Rest(demo_sandbox)
    fields = {f["name"]: f for f in rest.ok("GET", "describe", elementType="HelpDesk")["fields"]}

    def values(name: str) -> list[str]:
        return [p["value"] for p in fields[name]["type"]["picklistValues"]]

    assert len(DEMO_PICKLIST_DEPENDENCIES) == 2
    for dep in DEMO_PICKLIST_DEPENDENCIES:
        answer = _dep(rest, dep["module"], dep["sourcefield"], dep["targetfield"])
        assert answer == {"sourcefield": dep["sourcefield"], "targetfield": dep["targetfield"],
                          "valuemapping": dep["valuemapping"]}
        assert [m["sourcevalue"] for m in answer["valuemapping"]] == values(dep["sourcefield"])
        for m in answer["valuemapping"]:
            assert m["targetvalues"] and set(m["targetvalues"]) <= set(values(dep["targetfield"]))
    severities = _dep(rest, "HelpDesk", "ticketcategories", "ticketseverities")["valuemapping"]
    assert severities[0] == {"sourcevalue": "Big Problem", "targetvalues": ["Major", "Critical"]}


def test_a_config_file_overrides_the_demo_dependencies(sandbox_factory) -> None:
    server = sandbox_factory(seed="demo", config={"picklist_dependencies": [STAGES]})
    assert server.admin("GET", "config")["picklist_dependencies"] == [STAGES]
    rest = Rest(server)
    assert _dep(rest, "HelpDesk", "ticketcategories", "ticketseverities")["valuemapping"] == []
