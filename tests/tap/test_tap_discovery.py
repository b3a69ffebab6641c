"""tap-vtiger discovery: streams from listtypes + describe, typed schemas, call costs."""

from __future__ import annotations

import pytest
from tap_helpers import QUIET, config, discover, run_tap, select

from vtiger_client.errors import ConfigError


def props(catalog: dict, stream: str) -> dict:
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)
    return entry["schema"]["properties"]


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_discovery_costs_one_call_plus_one_per_module(sandbox, api_style):
    modules = ["Contacts", "Accounts", "Users", "Currency"]
    sandbox.reset_stats()
    catalog = discover(config(sandbox, modules=modules, api_style=api_style))
    login = {"getchallenge": 1, "login": 1} if api_style == "webservice" else {}
    assert sandbox.stats() == {"listtypes": 1, "describe": len(modules), **login}
    assert {s["tap_stream_id"] for s in catalog["streams"]} == set(modules)


def test_default_is_every_module_listtypes_returns(sandbox):
    sandbox.reset_stats()
    catalog = discover(config(sandbox))
    stats = sandbox.stats()
    names = {s["tap_stream_id"] for s in catalog["streams"]}
    assert {"Contacts", "Accounts", "Leads", "Users", "Groups", "Currency"} <= names
    assert stats["describe"] == len(names)
    assert stats == {"listtypes": 1, "describe": len(names)}


def test_schema_types_keys_and_references(sandbox):
    catalog = discover(config(sandbox, modules=["Contacts", "Potentials", "Users"]))
    contact = props(catalog, "Contacts")
    assert contact["account_id"]["x-refersTo"] == ["Accounts"]
    assert contact["account_id"]["type"] == ["string", "null"]
    assert "Accounts" in contact["account_id"]["description"]
    assert contact["assigned_user_id"]["x-refersTo"] == ["Users", "Groups"]
    assert contact["modifiedtime"]["format"] == "date-time"
    assert contact["birthday"]["format"] == "date"
    assert contact["donotcall"]["type"] == ["boolean", "null"]
    assert contact["_sdc_deleted_at"]["format"] == "date-time"
    assert props(catalog, "Potentials")["amount"]["type"] == ["number", "null"]
    assert props(catalog, "Potentials")["probability"]["type"] == ["number", "null"]
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "Contacts")
    assert entry["key_properties"] == ["id"]
    assert entry["replication_key"] == "modifiedtime"
    users = props(catalog, "Users")
    assert "accesskey" not in users and "user_password" not in users


def test_custom_fields_are_discovered_typed(sandbox):
    sandbox.add_field("Contacts", "cf_900", "Score", {"name": "integer"})
    sandbox.add_field("Contacts", "cf_901", "Interests",
                      {"name": "multipicklist",
                       "picklistValues": [{"label": "a", "value": "a"}]})
    contact = props(discover(config(sandbox, modules=["Contacts"])), "Contacts")
    assert contact["cf_900"]["type"] == ["integer", "null"]
    assert contact["cf_901"]["type"] == ["array", "null"]


def test_unknown_module_is_a_clear_error(sandbox):
    with pytest.raises(ConfigError, match="'contacts'"):
        discover(config(sandbox, modules=["contacts"]))


def test_catalog_run_makes_no_describe_at_all(sandbox):
    """Streams are built from the catalog: unselected modules (and selected ones) cost no
    describe; the run is only the extraction itself."""
    cfg = config(sandbox, modules=["Contacts", "Accounts", "Leads"])
    catalog = select(discover(cfg), {"Contacts"})
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    assert sandbox.stats() == {"sync": 1}
    assert {m["stream"] for m in run.messages if m["type"] == "SCHEMA"} == {"Contacts"}


def test_catalog_without_x_keywords_still_types_records(sandbox):
    """A catalog passed through a tool that dropped x-vtiger-type still yields typed values."""
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    client = VtigerClient(ClientConfig.from_mapping(sandbox.tap_config()))
    client.create("Potentials", {"potentialname": "Deal", "amount": "10.5",
                                 "closingdate": "2026-12-01", "sales_stage": "Prospecting",
                                 "assigned_user_id": "19x1"})
    cfg = config(sandbox, modules=["Potentials"])
    catalog = select(discover(cfg), {"Potentials"})
    for entry in catalog["streams"]:
        for prop in entry["schema"]["properties"].values():
            for key in [k for k in prop if k.startswith("x-")]:
                del prop[key]
        for key in [k for k in entry["schema"] if k.startswith("x-")]:
            del entry["schema"][key]
    record = run_tap(cfg, catalog=catalog).records("Potentials")[0]
    assert record["amount"] == 10.5
    assert record["modifiedtime"].endswith("+00:00")


def test_about_documents_the_settings(tmp_path):
    import subprocess

    from tap_helpers import ROOT

    out = subprocess.run([str(ROOT / ".venv/bin/tap-vtiger"), "--about", "--format=markdown"],
                         capture_output=True, text=True, check=True).stdout
    for name in ("api_url", "username", "access_key", "api_style", "start_date", "modules",
                 "sync_type", "include_deleted", "request_timeout", "max_retries",
                 "user_agent", "api_budget_percent"):
        assert f"| {name}" in out, name


def test_quiet_settings_are_real_settings():
    from tap_vtiger.tap import TapVtiger

    known = set(TapVtiger.config_jsonschema["properties"])
    assert set(QUIET) <= known


def test_relation_tag_and_metadata_streams_add_no_discovery_calls(sandbox):
    cfg = {**sandbox.tap_config(), "modules": ["Accounts", "Contacts"]}  # everything on
    sandbox.reset_stats()
    names = {s["tap_stream_id"] for s in discover(cfg)["streams"]}
    assert {"Accounts_related", "tags", "picklist_values"} <= names
    assert sandbox.stats() == {"listtypes": 1, "describe": 2}
