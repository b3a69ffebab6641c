"""Records over REST: create / retrieve / update / revise / delete, as Vtiger does them."""

from __future__ import annotations

import re

from sandbox_helpers import Rest


def test_create_returns_the_whole_record_with_server_fields(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Tester", firstname="Alice", email="a@example.com",
                      emailoptout=True, nosuchfield="ignored")
    assert re.fullmatch(r"12x\d+", rec["id"])
    assert rec["lastname"] == "Tester" and rec["emailoptout"] == "1"
    assert rec["donotcall"] == "0" and rec["account_id"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rec["createdtime"])
    assert rec["modifiedtime"] == rec["createdtime"]
    assert rec["modifiedby"] == "19x1" and rec["source"] == "WEBSERVICE"
    assert rec["contact_no"].startswith("CON")
    assert rec["label"] == "Alice Tester"
    assert "nosuchfield" not in rec
    assert all(isinstance(v, str) for v in rec.values())


def test_create_stores_invalid_date_as_empty_and_rounds_currency(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="BadDate", birthday="not-a-date")
    assert rec["birthday"] == ""
    acc = rest.create("Accounts", accountname="Money Inc", annual_revenue="1000.5")
    assert acc["annual_revenue"] == "1000.50000000"


def test_create_requires_mandatory_fields_in_describe_order(rest: Rest) -> None:
    status, err = rest.error("POST", "create", elementType="Contacts",
                             element={"firstname": "x", "assigned_user_id": "19x1"})
    assert (status, err["code"], err["message"]) == (
        400, "MANDATORY_FIELDS_MISSING", "lastname does not have a value")
    _, err = rest.error("POST", "create", elementType="Contacts", element={"lastname": "x"})
    assert err["message"] == "assigned_user_id does not have a value"


def test_create_with_element_that_is_not_json_is_a_missing_mandatory_field(rest: Rest) -> None:
    _, err = rest.error("POST", "create", elementType="Contacts", element="{not json")
    assert err == {"code": "MANDATORY_FIELDS_MISSING", "message": "lastname does not have a value"}


def test_create_rejects_reference_to_wrong_module(rest: Rest) -> None:
    contact = rest.create("Contacts", lastname="Ref")
    _, err = rest.error("POST", "create", elementType="Contacts",
                        element={"lastname": "x", "assigned_user_id": "19x1",
                                 "account_id": contact["id"]})
    assert err == {"code": "REFERENCE_INVALID",
                   "message": "Invalid reference specified for account_id"}


def test_create_in_unknown_module_is_access_denied(rest: Rest) -> None:
    status, err = rest.error("POST", "create", elementType="NoSuchModule",
                             element={"lastname": "x"})
    assert status == 403 and err["code"] == "ACCESS_DENIED"


def test_retrieve_and_its_errors(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Fetch")
    got = rest.ok("GET", "retrieve", id=rec["id"])
    assert got == rec
    crmid = rec["id"].split("x")[1]
    assert rest.error("GET", "retrieve", id=f"11x{crmid}")[1]["code"] == "INVALID_ID_ATTRIBUTE"
    assert rest.error("GET", "retrieve", id="12x999999")[1]["code"] == "ACCESS_DENIED"
    assert rest.error("GET", "retrieve", id="abc")[1]["message"].endswith("for id")
    assert rest.error("GET", "retrieve", id="999x1")[1]["code"] == "ACCESS_DENIED"


def test_revise_changes_only_given_fields(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Rev", phone="1")
    out = rest.ok("POST", "revise", element={"id": rec["id"], "firstname": "Ann"})
    assert out["firstname"] == "Ann" and out["phone"] == "1" and out["lastname"] == "Rev"
    _, err = rest.error("POST", "revise", element={"id": rec["id"], "lastname": ""})
    assert err["code"] == "MANDATORY_FIELDS_MISSING"
    _, err = rest.error("POST", "revise", element={"phone": "1"})
    assert err["code"] == "ACCESS_DENIED"


def test_update_requires_every_mandatory_field(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Upd", phone="5")
    _, err = rest.error("POST", "update", element={"id": rec["id"], "firstname": "x"})
    assert err == {"code": "MANDATORY_FIELDS_MISSING", "message": "lastname does not have a value"}
    out = rest.ok("POST", "update", element={"id": rec["id"], "lastname": "Upd2",
                                               "assigned_user_id": "19x1"})
    assert out["lastname"] == "Upd2" and out["phone"] == "5"


def test_delete_then_everything_is_access_denied(rest: Rest) -> None:
    rec = rest.create("Contacts", lastname="Gone")
    assert rest.ok("POST", "delete", id=rec["id"]) == {"status": "successful"}
    assert rest.error("POST", "delete", id=rec["id"])[1]["code"] == "ACCESS_DENIED"
    assert rest.error("GET", "retrieve", id=rec["id"])[1]["code"] == "ACCESS_DENIED"
    _, err = rest.error("POST", "revise", element={"id": rec["id"], "phone": "1"})
    assert err["code"] == "ACCESS_DENIED"
