"""API Designer endpoints over HTTP: custom REST APIs (Basic auth) and webhooks (own token).

Run against real sandbox servers; the bundled ``apidesigner_demo.xml`` is served unless a test
writes ``<db>.apidesigner.xml`` beside the sandbox's database (picked up on the next call).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_helpers import Rest

from vtiger_sandbox.modules import load_modules
from vtiger_sandbox.responses.apidesigner import (
    DEMO_DEFINITIONS,
    DefinitionError,
    load_definitions,
)
from vtiger_sandbox.testing import SandboxServer

TOKEN = "demo-webhook-token"


class Designer:
    """Calls to /restapi/vtap/... of one sandbox."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.base = f"{server.url}/restapi/vtap"
        self.auth = (server.username, server.access_key)

    def api(self, method: str, path: str, auth: tuple[str, str] | bool | None = True,
            **kw) -> requests.Response:
        creds = self.auth if auth is True else (auth or None)
        return requests.request(method, f"{self.base}/api/{path}", auth=creds, timeout=30, **kw)

    def webhook(self, path: str, body, token: str | None = TOKEN, placement: str = "header",
                method: str = "POST") -> requests.Response:
        headers = {"token": token} if token is not None and placement == "header" else {}
        params = {"token": token} if token is not None and placement == "query" else {}
        return requests.request(method, f"{self.base}/webhook/{path}", json=body,
                                headers=headers, params=params, timeout=30)

    def define(self, xml: str) -> None:
        Path(str(self.server.db_path) + ".apidesigner.xml").write_text(xml, encoding="utf-8")

    def count(self, module: str = "Contacts") -> int:
        rows = Rest(self.server).ok("GET", "query", query=f"select count(*) from {module};")
        return int(rows[0]["count"])


def ok(resp: requests.Response):
    assert resp.status_code == 200, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["success"] is True, body
    return body["result"]


def failed(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def designer(sandbox: SandboxServer) -> Designer:
    return Designer(sandbox)


# ------------------------------------------------------------------------------ REST APIs
def test_select_filters_with_or_and_returns_the_selected_fields(designer: Designer) -> None:
    rest = Rest(designer.server)
    ann = rest.create("Contacts", lastname="Ann", email="ann@example.com")
    rest.create("Contacts", lastname="Bob", email="bob@example.com")
    cat = rest.create("Contacts", lastname="Cat", email="cat@other.org")
    rows = ok(designer.api("GET", "contacts", params={"email": "example.com",
                                                        "lastname": "Cat"}))
    assert sorted(r["lastname"] for r in rows) == ["Ann", "Bob", "Cat"]
    assert set(rows[0]) == {"id", "firstname", "lastname", "email", "modifiedtime"}
    rows = ok(designer.api("GET", "contacts", params={"lastname": "Cat"}))
    assert [r["id"] for r in rows] == [cat["id"]]
    # no filter sent: every condition is skipped
    assert len(ok(designer.api("GET", "contacts"))) == 3
    assert ann["id"] in {r["id"] for r in ok(designer.api("GET", "contacts"))}


def test_select_sorts_and_pages(designer: Designer) -> None:
    designer.define("""<apidesigner><endpoint path="people/paged">
      <api method="get"><select module="Contacts">
        <record><field name="lastname"/></record>
        <sort><field name="lastname" order="descending"/></sort>
        <limit max="2" page="@page"/>
      </select></api></endpoint></apidesigner>""")
    rest = Rest(designer.server)
    for name in ["A", "B", "C", "D", "E"]:
        rest.create("Contacts", lastname=name)
    pages = [[r["lastname"] for r in ok(designer.api("GET", "people/paged",
                                                     params={"page": p}))] for p in (1, 2, 3, 4)]
    assert pages == [["E", "D"], ["C", "B"], ["A"], []]
    failed(designer.api("GET", "people/paged", params={"page": "0"}), 400, "INVALID_PARAMETER")


def test_hostile_filter_values_match_literally(designer: Designer) -> None:
    rest = Rest(designer.server)
    nasty = "o'brien\\%_x'; drop table crmentity; --@example.com"
    target = rest.create("Contacts", lastname="Nasty", email=nasty)
    rest.create("Contacts", lastname="Plain", email="obrien@example.com")
    rows = ok(designer.api("GET", "contacts", params={"email": "brien\\%_x'"}))
    assert [r["id"] for r in rows] == [target["id"]]
    rows = ok(designer.api("GET", "contacts", params={"email": "%"}))
    assert [r["id"] for r in rows] == [target["id"]]


def test_create_through_a_rest_api(designer: Designer) -> None:
    record = ok(designer.api("POST", "contacts", json={"lastname": "Made", "email": "m@x.io",
                                                       "mobile": "not in the definition"}))
    assert record["id"].startswith("12x") and record["assigned_user_id"] == "19x1"
    assert record["mobile"] == ""  # only the definition's fields are written
    failed(designer.api("POST", "contacts", json={"email": "no-lastname@x.io"}), 400,
           "MANDATORY_FIELDS_MISSING")
    assert designer.count() == 1


def test_rest_apis_need_a_users_basic_auth(designer: Designer) -> None:
    failed(designer.api("GET", "contacts", auth=None), 401, "AUTHENTICATION_REQUIRED")
    failed(designer.api("GET", "contacts", auth=("admin", "wrong")), 401,
           "INVALID_USER_CREDENTIALS")
    failed(designer.api("POST", "contacts", auth=None, json={"lastname": "X"}), 401,
           "AUTHENTICATION_REQUIRED")
    # unknown paths are not revealed without credentials
    failed(designer.api("GET", "nosuch", auth=None), 401, "AUTHENTICATION_REQUIRED")
    failed(designer.api("GET", "nosuch"), 404, "API_NOT_FOUND")
    failed(designer.api("DELETE", "contacts"), 405, "METHOD_NOT_ALLOWED")
    assert designer.count() == 0


def test_a_second_user_may_call_rest_apis(designer: Designer) -> None:
    user = designer.server.add_user("partner")
    rows = designer.api("GET", "contacts", auth=("partner", user["access_key"]))
    assert ok(rows) == []


# ------------------------------------------------------------------------------- webhooks
def test_webhook_upsert_creates_then_updates_by_email(designer: Designer) -> None:
    first = ok(designer.webhook("contacts_upsert", {"lastname": "Lee", "email": "lee@x.io"}))
    again = ok(designer.webhook("contacts_upsert", {"lastname": "Lee-Smith",
                                                    "email": "lee@x.io", "phone": "123"}))
    assert again["id"] == first["id"]
    assert again["lastname"] == "Lee-Smith" and again["phone"] == "123"
    assert designer.count() == 1


@pytest.mark.parametrize("token,placement", [(None, "header"), ("wrong", "header"),
                                             ("", "header"), (TOKEN, "query"),
                                             (TOKEN + "x", "header"), (TOKEN[:-1], "header")])
def test_webhook_without_the_right_token_writes_nothing(designer: Designer, token, placement
                                                        ) -> None:
    resp = designer.webhook("contacts_upsert", {"records": [{"lastname": "Sneaky"}]},
                            token=token, placement=placement)
    failed(resp, 401, "INVALID_AUTH_TOKEN")
    assert TOKEN not in resp.text
    assert designer.count() == 0


def test_query_placed_token(designer: Designer) -> None:
    lead = ok(designer.webhook("leads_in", {"lastname": "Q", "company": "Q Inc"},
                               token="demo-query-token", placement="query"))
    assert lead["leadsource"] == "Web Site"  # a constant in the definition
    failed(designer.webhook("leads_in", {"lastname": "H", "company": "H Inc"},
                            token="demo-query-token", placement="header"), 401,
           "INVALID_AUTH_TOKEN")
    assert designer.count("Leads") == 1


def test_bulk_of_50_is_written_record_by_record(designer: Designer) -> None:
    records = [{"lastname": f"Bulk{i}", "email": f"b{i}@x.io"} for i in range(49)]
    records.insert(7, {"email": "missing-lastname@x.io"})
    result = ok(designer.webhook("contacts_upsert", {"records": records}))["records"]
    assert len(result) == 50
    assert result[7] == {"success": False, "error": {
        "code": "MANDATORY_FIELDS_MISSING", "message": "lastname does not have a value"}}
    assert all(r["success"] and r["status"] == "created" for i, r in enumerate(result) if i != 7)
    assert designer.count() == 49
    # the same batch again updates, matching on email; a bare JSON array works too
    again = ok(designer.webhook("contacts_upsert", records[:7]))["records"]
    assert [r["status"] for r in again] == ["updated"] * 7
    assert designer.count() == 49


def test_bulk_over_50_is_refused_whole(designer: Designer) -> None:
    records = [{"lastname": f"Bulk{i}", "email": f"b{i}@x.io"} for i in range(51)]
    failed(designer.webhook("contacts_upsert", {"records": records}), 400, "LIMIT_EXCEEDED")
    assert designer.count() == 0


def test_bulk_only_where_the_definition_says_so(designer: Designer) -> None:
    failed(designer.webhook("leads_in", {"records": [{"lastname": "L", "company": "C"}]},
                            token="demo-query-token", placement="query"), 400,
           "INVALID_PARAMETER")
    assert designer.count("Leads") == 0


def test_upsert_with_ambiguous_match_writes_nothing(designer: Designer) -> None:
    rest = Rest(designer.server)
    rest.create("Contacts", lastname="Twin1", email="twin@x.io")
    rest.create("Contacts", lastname="Twin2", email="twin@x.io")
    failed(designer.webhook("contacts_upsert", {"lastname": "Third", "email": "twin@x.io"}),
           409, "DUPLICATE_RECORDS")
    assert sorted(r["lastname"] for r in ok(designer.api("GET", "contacts"))) == [
        "Twin1", "Twin2"]


def test_update_and_delete_find_their_record(designer: Designer) -> None:
    designer.define("""<apidesigner><endpoint path="case" kind="webhook" token="t0k">
      <webhook method="put"><update module="Contacts">
        <record><field name="description"/></record>
        <where><field name="contact_no" value="@number"/></where></update></webhook>
      <webhook method="delete"><delete module="Contacts">
        <where><field name="contact_no" value="@number"/></where></delete></webhook>
      </endpoint></apidesigner>""")
    rec = Rest(designer.server).create("Contacts", lastname="Case")
    updated = ok(designer.webhook("case", {"number": rec["contact_no"], "description": "hi"},
                                  token="t0k", method="PUT"))
    assert updated["id"] == rec["id"] and updated["description"] == "hi"
    failed(designer.webhook("case", {"number": "CON999", "description": "x"}, token="t0k",
                            method="PUT"), 404, "RECORD_NOT_FOUND")
    assert ok(designer.webhook("case", {"number": rec["contact_no"]}, token="t0k",
                               method="DELETE"))["id"] == rec["id"]
    assert designer.count() == 0


def test_an_id_of_another_module_is_refused(designer: Designer) -> None:
    account = Rest(designer.server).create("Accounts", accountname="Not a contact")
    failed(designer.webhook("contacts_upsert", {"id": account["id"], "lastname": "X"}), 400,
           "INVALID_ID_ATTRIBUTE")
    assert designer.count() == 0


# --------------------------------------------------------------------- definitions, flavour
def test_a_broken_definitions_file_is_reported_and_fixing_it_heals(designer: Designer) -> None:
    designer.define("<apidesigner><endpoint path='x'><api><select module='Nope'/></api>"
                    "</endpoint></apidesigner>")
    err = failed(designer.api("GET", "x"), 500, "API_DEFINITION_INVALID")
    assert "Nope" in err["message"]
    designer.define("<apidesigner><endpoint path='x'><api><select module='Contacts'/></api>"
                    "</endpoint></apidesigner>")
    assert ok(designer.api("GET", "x")) == []


def test_calls_are_counted(designer: Designer) -> None:
    designer.server.reset_stats()
    designer.api("GET", "contacts")
    designer.webhook("contacts_upsert", {"lastname": "S"}, token="bad")
    stats = designer.server.stats()
    assert stats.get("vtap_api") == 1 and stats.get("vtap_webhook") == 1


def test_self_hosted_has_no_api_designer(sandbox_factory) -> None:
    server = sandbox_factory(flavor="self-hosted")
    resp = requests.get(f"{server.url}/restapi/vtap/api/contacts",
                        auth=(server.username, server.access_key), timeout=30)
    assert resp.status_code == 200  # the login page of index.php, never an API answer
    assert resp.headers["content-type"].startswith("text/html")


MODULES = load_modules()


def test_the_demo_definitions_load() -> None:
    endpoints = load_definitions(DEMO_DEFINITIONS.read_text(), MODULES)
    assert endpoints[("webhook", "contacts_upsert")].actions["POST"].bulk
    assert endpoints[("api", "contacts")].actions["GET"].verb == "select"


@pytest.mark.parametrize("xml,problem", [
    ("<apidesigner><endpoint path='a'><api><select module='Contacts'><record>"
     "<field name='nosuch'/></record></select></api></endpoint></apidesigner>", "nosuch"),
    ("<apidesigner><endpoint path='a'><api><select module='Contacts'><sort>"
     "<field name='lastname' order='descending'/><field name='id'/></sort></select></api>"
     "</endpoint></apidesigner>", "one direction"),
    ("<apidesigner><endpoint path='a'><api method='put'><update module='Contacts' bulk='true'>"
     "<where><field name='id' value='@id'/></where></update></api></endpoint></apidesigner>",
     "bulk"),
    ("<apidesigner><endpoint path='a' kind='webhook'><webhook method='post'>"
     "<create module='Contacts'/></webhook></endpoint></apidesigner>", "token"),
    ("<apidesigner><endpoint path='a'><api><select module='Contacts'><limit max='500'/>"
     "</select></api></endpoint></apidesigner>", "1..100"),
    ("<apidesigner><endpoint path='../etc'><api><select module='Contacts'/></api></endpoint>"
     "</apidesigner>", "path"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><apidesigner/>', "DTD"),
    ("<apidesigner><endpoint", "XML"),
])
def test_bad_definitions_are_refused_with_the_reason(xml: str, problem: str) -> None:
    with pytest.raises(DefinitionError, match=problem):
        load_definitions(xml, MODULES)


# ------------------------------------------------------- filter values, without HTTP
@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from vtiger_sandbox.backend import VtigerBackend
    from vtiger_sandbox.store import Store

    made = VtigerBackend(Store(tmp_path_factory.mktemp("ad") / "ad.sqlite", load_modules()))
    made.bootstrap()
    yield made
    made.store.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(min_size=1, max_size=20).filter(lambda v: "\0" not in v and v.strip()))
def test_filter_values_reach_the_query_unchanged(backend, value: str) -> None:
    """Whatever a caller sends as a filter, the select finds exactly the records holding it
    under the server's collation: ``value.upper()`` is the same text there, ``value + "x"``,
    ``%`` and ``_`` never are.
    """
    from vtiger_client.collation import same_text
    from vtiger_sandbox.responses.apidesigner import Runner

    admin = backend.users.by_crmid(1)
    designer = load_definitions(
        "<apidesigner><endpoint path='p'><api><select module='Contacts'>"
        "<record><field name='lastname'/></record>"
        "<where><field name='lastname' value='@name'/><field name='department' value='@run'/>"
        "</where></select></api></endpoint></apidesigner>", backend.modules)
    action = designer[("api", "p")].actions["GET"]
    run = f"run{backend.store.stats['hypothesis'] + 1}"
    backend.store.stats["hypothesis"] += 1
    made = backend.records.create(admin, "Contacts", {
        "lastname": value, "department": run, "assigned_user_id": "19x1"})
    expected = [made["id"]]
    for decoy in {value + "x", value.upper(), value.replace("'", ""), "%", "_"} - {value}:
        if decoy.strip():
            other = backend.records.create(admin, "Contacts", {
                "lastname": decoy, "department": run, "assigned_user_id": "19x1"})
            if same_text(decoy, value):
                expected.append(other["id"])
    rows = Runner(backend).select(admin, action, {"name": value, "run": run})
    assert sorted(r["id"] for r in rows) == sorted(expected)


def test_api_designer_calls_share_the_rest_rate_limits_and_headers(designer: Designer) -> None:
    # Vtiger Cloud meters every REST call, API Designer's included: the same headers, the same
    # per-minute budget as the core API, and a 429 past it that writes nothing.
    rest = Rest(designer.server)
    for _attempt in range(2):  # the minute window may roll over mid-test: then try again
        designer.server.configure(minute_limit=3)  # (re)setting a limit restarts the counts
        resps = [rest.get("me"), designer.api("GET", "contacts"),
                 designer.webhook("contacts_upsert", {"lastname": "Lim", "email": "lim@x.io"}),
                 designer.webhook("contacts_upsert", {"lastname": "Over", "email": "o@x.io"})]
        if len({r.headers["X-FloodControl-Reset"] for r in resps}) == 1:
            break
    assert [int(r.headers["X-FloodControl-Remaining"]) for r in resps[:3]] == [2, 1, 0]
    assert all("X-RateLimit-DailyLimit" in r.headers for r in resps)
    assert "Retry-After" not in resps[2].headers
    over = resps[3]
    assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.json()["success"] is False
    designer.server.configure(minute_limit=100000)
    assert designer.count() == 1  # "Lim" only: the refused call wrote nothing
