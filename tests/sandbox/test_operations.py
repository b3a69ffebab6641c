"""Metadata and the secondary operations: listtypes, describe, relations, tags, lookup,
convertlead, account hierarchy, editionLimits, picklist_dependency."""

from __future__ import annotations

import json

from sandbox_helpers import Rest, WebService


def test_listtypes_lists_every_module_and_filters_by_field_type(rest: Rest) -> None:
    everything = rest.ok("GET", "listtypes")
    assert len(everything["types"]) == 35
    assert everything["information"]["Accounts"] == {
        "isEntity": True, "label": "Organizations", "singular": "Organization"}
    emails = rest.ok("GET", "listtypes", fieldTypeList=json.dumps(["email"]))
    assert {"Contacts", "Leads", "Accounts", "Vendors"} <= set(emails["types"])
    assert "Potentials" not in emails["types"]


def test_describe_is_the_real_describe(rest: Rest) -> None:
    d = rest.ok("GET", "describe", elementType="Contacts")
    assert d["idPrefix"] == "12" and d["name"] == "Contacts"
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["lastname"]["mandatory"] is True
    assert fields["account_id"]["type"]["refersTo"] == ["Accounts"]
    users = rest.ok("GET", "describe", elementType="Users")
    assert users["idPrefix"] == "19"


def test_describe_unknown_or_lowercase_module(rest: Rest) -> None:
    for name in ("contacts", "NoSuchModule"):
        _, err = rest.error("GET", "describe", elementType=name)
        message = f"Permission to perform the operation is denied for name : {name}"
        assert err == {"code": "ACCESS_DENIED", "message": message}


def test_users_groups_and_currency_exist(rest: Rest) -> None:
    admin = rest.ok("GET", "retrieve", id="19x1")
    assert admin["user_name"] == "admin" and admin["is_admin"] == "on"
    assert "accesskey" not in admin and "user_password" not in admin
    group = rest.ok("GET", "retrieve", id="20x2")
    assert group["groupname"] == "Team Selling"
    usd = rest.ok("GET", "retrieve", id="21x1")
    assert usd["currency_code"] == "USD"


def test_custom_fields_show_in_describe_and_records(shared_sandbox, rest: Rest) -> None:
    shared_sandbox.add_field("Contacts", "cf_901", "Shoe size", {"name": "integer"})
    d = rest.ok("GET", "describe", elementType="Contacts")
    assert "cf_901" in {f["name"] for f in d["fields"]}
    rec = rest.create("Contacts", lastname="Big", cf_901="46")
    assert rec["cf_901"] == "46"


def test_owner_may_be_a_group_and_bad_owner_is_rejected(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Grp", assigned_user_id="20x3")
    assert rec["assigned_user_id"] == "20x3"
    _, err = rest.error("POST", "create", elementType="Contacts",
                        element={"lastname": "x", "assigned_user_id": "19x999"})
    assert err["code"] == "REFERENCE_INVALID"


def test_relatedtypes_of_accounts(rest: Rest) -> None:
    rt = rest.ok("GET", "relatedtypes", elementType="Accounts")
    assert rt["types"][:3] == ["Contacts", "Potentials", "Quotes"]
    assert rt["information"]["Sales Order"] == {"name": "SalesOrder", "label": "Sales Order",
                                                "isEntity": "1"}


def test_related_records_through_reference_fields_and_add_related(rest: Rest) -> None:
    acc = rest.create("Accounts", accountname="Parent Co")
    c1 = rest.create("Contacts", lastname="Linked", account_id=acc["id"])
    pot = rest.create("Potentials", potentialname="Deal", closingdate="2026-12-31",
                      sales_stage="Prospecting", related_to=acc["id"])
    related = rest.ok("GET", "retrieve_related", id=acc["id"], relatedLabel="Contacts",
                      relatedType="Contacts")
    assert [r["id"] for r in related] == [c1["id"]]
    assert "label" not in related[0]
    pots = rest.ok("GET", "retrieve_related", id=acc["id"], relatedLabel="Potentials",
                   relatedType="Potentials")
    assert [r["id"] for r in pots] == [pot["id"]]
    _, err = rest.error("GET", "retrieve_related", id=acc["id"], relatedLabel="NoSuchLabel",
                        relatedType="Contacts")
    assert err == {"code": "UNKOWN_ENTITY", "message": "Relation specified is incorrect"}

    c2 = rest.create("Contacts", lastname="Later")
    assert rest.ok("POST", "add_related", sourceRecordId=pot["id"], relatedRecordId=c2["id"],
                   relationIdLabel="Contacts") == {"message": "successfull"}
    linked = rest.ok("GET", "retrieve_related", id=c2["id"], relatedLabel="Potentials",
                     relatedType="Potentials")
    assert [r["id"] for r in linked] == [pot["id"]]
    assert rest.ok("POST", "delete_related", sourceRecordId=pot["id"],
                   relatedRecordId=c2["id"]) == {"status": "successful"}
    assert rest.ok("GET", "retrieve_related", id=c2["id"], relatedLabel="Potentials",
                   relatedType="Potentials") == []


def test_tags_add_retrieve_delete(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Tagged")
    assert rest.ok("POST", "tags_add", id=rec["id"], tags=["vip", "beta"]) == {
        "message": "tags added"}
    assert rest.ok("GET", "tags_retrieve", id=rec["id"]) == {"tags": ["vip", "beta"]}
    assert rest.ok("GET", "retrieve", id=rec["id"])["tags"] == "vip,beta"
    assert rest.ok("POST", "tags_delete", id=rec["id"], tags=["vip"]) == {
        "message": "tags deleted"}
    assert rest.ok("GET", "tags_retrieve", id=rec["id"]) == {"tags": ["beta"]}
    rest.ok("POST", "tag_delete", id=rec["id"], delete_all="true")
    assert rest.ok("GET", "tags_retrieve", id=rec["id"]) == {"tags": []}


def test_lookup_by_phone_and_email(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Phone", mobile="+1 555 0199", email="ph@ex.com")
    found = rest.ok("GET", "lookup", type="phone", value="+1 555 0199",
                    searchIn=json.dumps({"Contacts": ["mobile", "phone"]}))
    assert [r["id"] for r in found] == [rec["id"]]
    found = rest.ok("GET", "lookup", type="email", value="ph@ex.com")
    assert rec["id"] in [r["id"] for r in found]


def test_picklist_dependency_and_edition_limits(rest: Rest) -> None:
    dep = rest.ok("GET", "picklist_dependency", module="Potentials", sourcefield="leadsource",
                  targetfield="sales_stage")
    assert dep["valuemapping"] == [] and dep["sourcefield"] == "leadsource"
    lim = rest.ok("GET", "editionLimits", serviceName="DOCUMENT_UPLOAD_FILE_LIMIT")
    assert lim == {"serviceName": "DOCUMENT_UPLOAD_FILE_LIMIT", "limit": "50MB"}


def test_convertlead_creates_entities_and_the_lead_leaves_sync(ws: WebService) -> None:
    lead = ws.post("create", elementType="Leads", element={
        "lastname": "Convert", "company": "Convert Co", "assigned_user_id": "19x1",
        "email": "conv@ex.com"}).json()["result"]
    element = {"leadId": lead["id"], "assignedTo": "19x1", "entities": {
        "Accounts": {"create": True, "name": "Accounts"},
        "Contacts": {"create": True, "name": "Contacts", "lastname": "ConvertedPerson"},
        "Potentials": {"create": True, "name": "Potentials", "closingdate": "2026-12-31"}}}
    result = ws.post("convertlead", element=element).json()["result"]
    assert set(result) == {"Accounts", "Contacts", "Potentials"}
    contact = ws.get("retrieve", id=result["Contacts"]).json()["result"]
    assert contact["account_id"] == result["Accounts"] and contact["email"] == "conv@ex.com"
    account = ws.get("retrieve", id=result["Accounts"]).json()["result"]
    assert account["accountname"] == "Convert Co"
    again = ws.post("convertlead", element=element).json()
    assert again["error"] == {"code": "LEAD_ALREADY_CONVERTED",
                              "message": "Lead is already converted"}
    page = ws.get("sync", modifiedTime=1, elementType="Leads").json()["result"]
    assert lead["id"] in page["deleted"]
    # ... yet the converted lead itself can still be retrieved, as on a real server
    assert ws.get("retrieve", id=lead["id"]).json()["result"]["lastname"] == "Convert"


def test_account_hierarchy_follows_parent_accounts(rest: Rest) -> None:
    top = rest.create("Accounts", accountname="Top")
    mid = rest.create("Accounts", accountname="Mid", account_id=top["id"])
    leaf = rest.create("Accounts", accountname="Leaf & Co", account_id=mid["id"])
    tree = rest.ok("GET", "get_account_hierarchy", id=mid["id"])
    assert [(n["id"], n["level"], n["current"]) for n in tree] == [
        (top["id"], 0, False), (mid["id"], 1, True), (leaf["id"], 2, False)]
    assert tree[0]["label"] == "Parent Org" and tree[2]["name"] == "Leaf &amp; Co"


def test_files_retrieve_finds_no_attachment(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="NoFiles")
    status, err = rest.error("GET", "files_retrieve", id=rec["id"])
    assert status == 404
    assert err == {"code": "RECORD_NOT_FOUND",
                   "message": "Record you are trying to access is not found"}


def test_untokenizable_vtql_is_an_internal_server_error(rest: Rest) -> None:
    status, err = rest.error("GET", "query",
                             query='select lastname from Contacts where lastname = "x";')
    assert status == 500
    assert err == {"code": "INTERNAL_SERVER_ERROR",
                   "message": "Unknown Error while processing request"}


def test_extendsession_is_not_supported_without_a_browser_session(ws: WebService) -> None:
    body = ws.post("extendsession").json()
    assert body["error"] == {"code": "AUTHENTICATION_FAILURE", "message": "Authencation Failed"}
