"""Two Vtiger clients written elsewhere, from PyPI, agree with the sandbox.

``vtiger-cloudsdk-restapi`` (Vtiger's own Cloud REST SDK: Basic auth on /restapi/v1/...) and
``vtigerpy`` (session login on webservice.php, then any operation by name) are run against the
sandbox, every operation they offer: on the Cloud flavor through both API styles, on the
self-hosted flavor where the REST API does not exist. Their calls succeed, or fail the way they
fail on a real server (vtiger-notes.md; the recordings of vtiger-reference).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import vtigerpy
from vtiger_cloudsdk_restapi import Client

from vtiger_sandbox.testing import SandboxServer


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path_factory.mktemp("cloud") / "c.sqlite", flavor="cloud") as s:
        yield s


@pytest.fixture(scope="module")
def self_hosted(tmp_path_factory) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path_factory.mktemp("sh") / "s.sqlite", flavor="self-hosted") as s:
        yield s


@pytest.fixture
def sdk(cloud: SandboxServer) -> Client:
    # the SDK appends /restapi/v1/vtiger/default to a bare instance URL
    return Client(cloud.url, cloud.username, cloud.access_key)


def ws_result(resp: requests.Response) -> object:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["success"] is True, body
    return body["result"]


def ws_error(resp: requests.Response) -> tuple[str, str]:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["success"] is False, body
    return body["error"]["code"], body["error"]["message"]


# ==================================================================== Cloud REST SDK
def test_sdk_metadata_operations(sdk: Client, cloud: SandboxServer) -> None:
    assert sdk.me()["user_name"] == cloud.username
    assert sdk.myid() == "19x1"
    assert "Contacts" in sdk.list_types()["types"]
    assert "Users" not in sdk.list_types("email")["types"]
    assert sdk.describe("Contacts")["name"] == "Contacts"
    assert "Contacts" in sdk.related_types("Accounts")["types"]


def test_sdk_record_life_cycle(sdk: Client) -> None:
    rec = sdk.create("Contacts", {"lastname": "Sdk", "assigned_user_id": "19x1"})
    assert sdk.retrieve(rec["id"])["lastname"] == "Sdk"
    assert sdk.query(f"select lastname from Contacts where id = '{rec['id']}';") == [
        {"lastname": "Sdk", "id": rec["id"]}]
    updated = sdk.update({**sdk.retrieve(rec["id"]), "firstname": "Ada"})
    assert updated["firstname"] == "Ada"
    assert sdk.revise({"id": rec["id"], "title": "Dr"})["title"] == "Dr"
    page = sdk.sync(1, "Contacts", "application")
    assert rec["id"] in {r["id"] for r in page["updated"]}
    assert sdk.delete(rec["id"]) == {"status": "successful"}
    with pytest.raises(BaseException, match="Permission to perform the operation is denied"):
        sdk.retrieve(rec["id"])  # a deleted record: ACCESS_DENIED, as on a real server


def test_sdk_relations(sdk: Client) -> None:
    acc = sdk.create("Accounts", {"accountname": "SDK Corp", "assigned_user_id": "19x1"})
    con = sdk.create("Contacts", {"lastname": "Linked", "assigned_user_id": "19x1"})
    assert sdk.add_related(acc["id"], con["id"], "Contacts") == {"message": "successfull"}
    assert [r["id"] for r in sdk.retrieve_related(acc["id"], "Contacts", "Contacts")] == [
        con["id"]]
    assert sdk.query_related(acc["id"], "Contacts", "select id from Contacts") == [
        {"id": con["id"]}]
    assert sdk.delete_related(acc["id"], con["id"]) == {"status": "successful"}
    assert sdk.retrieve_related(acc["id"], "Contacts", "Contacts") == []
    child = sdk.create("Accounts", {"accountname": "SDK Child", "account_id": acc["id"],
                                    "assigned_user_id": "19x1"})
    tree = sdk.account_hierarchy(child["id"])
    assert {n["id"] for n in tree} == {acc["id"], child["id"]}


def test_sdk_tags(sdk: Client) -> None:
    con = sdk.create("Contacts", {"lastname": "Tagged", "assigned_user_id": "19x1"})
    sdk.tags_add(con["id"], ["vip", "beta"])
    assert sorted(sdk.tags_retrieve(con["id"])) == ["beta", "vip"]  # the SDK POSTs it
    assert sdk.retrieve(con["id"])["tags"] == "vip,beta"
    sdk.tags_delete(con["id"], ["beta"])
    assert sdk.tags_retrieve(con["id"]) == ["vip"]
    sdk.tags_delete(con["id"], [], delete_all=True)
    assert sdk.tags_retrieve(con["id"]) == []


def test_sdk_convert_lead(sdk: Client) -> None:
    lead = sdk.create("Leads", {"lastname": "Convert", "company": "Lead Co",
                                "assigned_user_id": "19x1"})
    # the SDK's defaults ([]) cannot take its own "create" key: callers pass dicts
    with pytest.raises(TypeError):
        sdk.convert_lead(lead["id"])
    out = sdk.convert_lead(lead["id"], {"potentialname": "Deal", "closingdate": "2027-01-01",
                                        "sales_stage": "Prospecting"}, {}, {})
    assert set(out) == {"Accounts", "Contacts", "Potentials"}
    with pytest.raises(BaseException, match="Lead is already converted"):
        sdk.convert_lead(lead["id"], {}, {}, {})


def test_sdk_reopen_returns_a_closed_ticket_to_open(sdk: Client) -> None:
    ticket = sdk.create("HelpDesk", {"ticket_title": "Done", "ticketstatus": "Closed",
                                     "ticketpriorities": "Low", "assigned_user_id": "19x1"})
    assert sdk.reopen(ticket["id"]) == {"message": "Record reopened successfully."}
    assert sdk.retrieve(ticket["id"])["ticketstatus"] == "Open"


def test_sdk_image_of_a_record_without_attachment_fails_as_vtiger_does(sdk: Client) -> None:
    con = sdk.create("Contacts", {"lastname": "NoImage", "assigned_user_id": "19x1"})
    with pytest.raises(BaseException, match="Record you are trying to access is not found"):
        sdk.image(con["id"])


def test_sdk_generic_api_reaches_the_remaining_cloud_operations(sdk: Client) -> None:
    con = sdk.create("Contacts", {"lastname": "Secret", "email": "s@example.com",
                                  "assigned_user_id": "19x1"})
    assert sdk.api("GET", "/decrypt", {"id": con["id"], "fieldname": "email"}) == \
        "s@example.com"
    assert sdk.api("GET", "/lookup", {"type": "email", "value": "s@example.com",
                                      "searchIn": {"Contacts": ["email"]}})[0]["id"] == con["id"]
    assert "limits" in sdk.api("GET", "/editionLimits")
    dep = sdk.api("GET", "/picklist_dependency", {
        "module": "HelpDesk", "sourcefield": "ticketstatus", "targetfield": "ticketpriorities"})
    assert dep["sourcefield"] == "ticketstatus"
    added = sdk.api("POST", "/add_picklist", {"elementType": "Contacts", "element": {
        "fieldname": "leadsource", "values": ["Podcast", "Meetup"]}})
    assert added["success"] is True and set(added["result"]) == {"id0", "id1"}
    sdk.create("Contacts", {"lastname": "Heard", "leadsource": "Podcast",
                            "assigned_user_id": "19x1"})
    assert sdk.api("POST", "/edit_picklist", {"elementType": "Contacts", "element": {
        "fieldname": "leadsource", "current_value": "Podcast", "new_value": "Radio"}}) == {
        "success": True, "result": ["success", True]}
    assert sdk.query("select leadsource from Contacts where lastname = 'Heard';")[0][
        "leadsource"] == "Radio"
    assert sdk.api("POST", "/delete_picklist", {"elementType": "Contacts", "element": {
        "fieldname": "leadsource", "delete_values": ["Radio", "Meetup"],
        "replace_with": "Web Site"}})["success"] is True
    values = [p["value"] for f in sdk.describe("Contacts")["fields"]
              if f["name"] == "leadsource" for p in f["type"]["picklistValues"]]
    assert "Radio" not in values and "Meetup" not in values and "Web Site" in values
    assert sdk.query("select leadsource from Contacts where lastname = 'Heard';")[0][
        "leadsource"] == "Web Site"


def test_sdk_errors_carry_vtigers_message(sdk: Client, cloud: SandboxServer) -> None:
    with pytest.raises(BaseException, match="Permission to perform the operation is denied"):
        sdk.describe("contacts")  # module names are case-sensitive
    with pytest.raises(BaseException, match="lastname does not have a value"):
        sdk.create("Contacts", {"assigned_user_id": "19x1"})
    wrong = Client(cloud.url, cloud.username, "not-the-key")
    with pytest.raises(BaseException, match="Invalid username or password"):
        wrong.me()  # HTTP 401: the SDK raises the reason phrase


def test_sdk_against_self_hosted_gets_the_login_page(self_hosted: SandboxServer) -> None:
    """The open-source edition has no REST API: index.php's login page with HTTP 200
    (restapi_v1_listtypes.json). The SDK fails to decode it, and then fails again in its own
    error path (it prints ``r.request.data``, which a PreparedRequest does not have).
    """
    sdk = Client(self_hosted.url, self_hosted.username, self_hosted.access_key)
    with pytest.raises(AttributeError, match="'PreparedRequest' object has no attribute"):
        sdk.list_types()


# ============================================================== vtigerpy (webservice)
@pytest.fixture(params=["cloud", "self_hosted"])
def vt(request) -> vtigerpy.Vtiger:
    server: SandboxServer = request.getfixturevalue(request.param)
    return vtigerpy.Vtiger(server.url, server.username, server.access_key)


def test_vtigerpy_logs_in_with_a_posted_getchallenge(vt: vtigerpy.Vtiger) -> None:
    # vtigerpy POSTs getchallenge with its parameters in the URL: Vtiger reads a GET
    # operation's parameters from the query string whatever the method
    assert vt.sessionName
    assert ws_result(vt.get("listtypes"))["types"]


def test_vtigerpy_every_webservice_operation(vt: vtigerpy.Vtiger) -> None:
    assert ws_result(vt.get("describe", elementType="Contacts"))["name"] == "Contacts"
    acc = ws_result(vt.post("create", elementType="Accounts", element=json.dumps(
        {"accountname": "Py Corp", "assigned_user_id": "19x1"})))
    con = ws_result(vt.post("create", elementType="Contacts", element=json.dumps(
        {"lastname": "Py", "account_id": acc["id"], "assigned_user_id": "19x1"})))
    assert ws_result(vt.get("retrieve", id=con["id"]))["account_id"] == acc["id"]
    full = ws_result(vt.get("retrieve", id=con["id"]))
    assert ws_result(vt.post("update", element=json.dumps({**full, "firstname": "Mo"})))[
        "firstname"] == "Mo"
    assert ws_result(vt.post("revise", element=json.dumps({"id": con["id"], "title": "X"})))[
        "title"] == "X"
    rows = ws_result(vt.get("query", query="select id, lastname from Contacts where "
                                           "lastname = 'Py';"))
    assert [r["id"] for r in rows] == [con["id"]]
    assert con["id"] in {r["id"] for r in ws_result(
        vt.get("sync", modifiedTime="1", elementType="Contacts"))["updated"]}
    assert "Contacts" in ws_result(vt.get("relatedtypes", elementType="Accounts"))["types"]
    other = ws_result(vt.post("create", elementType="Contacts", element=json.dumps(
        {"lastname": "Py2", "assigned_user_id": "19x1"})))
    assert ws_result(vt.post("add_related", sourceRecordId=acc["id"],
                             relatedRecordId=other["id"], relationIdLabel="Contacts")) == {
        "message": "successfull"}
    related = ws_result(vt.get("retrieve_related", id=acc["id"], relatedLabel="Contacts",
                               relatedType="Contacts"))
    assert {r["id"] for r in related} == {con["id"], other["id"]}
    assert len(ws_result(vt.get("query_related", id=acc["id"], relatedLabel="Contacts",
                                query="select id from Contacts WHERE lastname = 'Py2'"))) == 1
    assert ws_result(vt.post("delete_related", sourceRecordId=acc["id"],
                             relatedRecordId=other["id"])) == {"status": "successful"}
    assert ws_result(vt.get("retrieve_inventory", id=acc["id"]))["LineItems"] == []
    lead = ws_result(vt.post("create", elementType="Leads", element=json.dumps(
        {"lastname": "PyLead", "company": "L", "assigned_user_id": "19x1"})))
    converted = ws_result(vt.post("convertlead", element=json.dumps({
        "leadId": lead["id"], "entities": {"Contacts": {"create": True, "name": "Contacts"}}})))
    assert set(converted) == {"Contacts"}
    assert ws_result(vt.post("delete", id=con["id"])) == {"status": "successful"}
    assert ws_error(vt.post("delete", id=con["id"]))[0] == "ACCESS_DENIED"
    assert ws_result(vt.post("logout")) == {"message": "successfull"}
    assert ws_error(vt.get("listtypes"))[0] == "INVALID_SESSIONID"


def test_vtigerpy_errors_are_the_real_servers(vt: vtigerpy.Vtiger) -> None:
    # a GET operation sent by POST reads its parameters from the (empty) query string
    assert ws_error(vt.post("describe", elementType="Contacts"))[0] == "ACCESS_DENIED"
    assert ws_error(vt.get("query", query="select * from Contacts"))[0] == \
        "QUERY_SYNTAX_ERROR"
    assert ws_error(vt.get("retrieve", id="12x999999"))[0] == "ACCESS_DENIED"
    assert ws_error(vt.post("create", elementType="Contacts", element=json.dumps(
        {"lastname": "NoOwner"})))[0] == "MANDATORY_FIELDS_MISSING"


def test_vtigerpy_cloud_only_operations_crash_on_self_hosted(
        self_hosted: SandboxServer) -> None:
    vt = vtigerpy.Vtiger(self_hosted.url, self_hosted.username, self_hosted.access_key)
    con = ws_result(vt.post("create", elementType="Contacts", element=json.dumps(
        {"lastname": "Local", "assigned_user_id": "19x1"})))
    for resp in (vt.post("reopen", id=con["id"]),
                 vt.get("decrypt", id=con["id"], fieldname="lastname"),
                 vt.post("add_picklist", elementType="Contacts",
                         element=json.dumps({"fieldname": "leadsource", "values": ["X"]})),
                 vt.get("nosuchop")):
        assert (resp.status_code, resp.content) == (500, b"")
