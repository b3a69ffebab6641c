"""Every operation answers the same through webservice.php (sessions) as through REST."""

from __future__ import annotations

import json

from sandbox_helpers import Rest, WebService


def ws_ok(ws: WebService, method: str, op: str, **params):
    resp = ws.get(op, **params) if method == "GET" else ws.post(op, **params)
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True, body
    return body["result"]


def test_all_operations_over_both_apis(rest: Rest, ws: WebService) -> None:
    acc = ws_ok(ws, "POST", "create", elementType="Accounts",
                element={"accountname": "WS Co", "assigned_user_id": "19x1"})
    con = ws_ok(ws, "POST", "create", elementType="Contacts",
                element={"lastname": "WS", "assigned_user_id": "19x1", "account_id": acc["id"],
                         "email": "ws@example.com"})
    lead = ws_ok(ws, "POST", "create", elementType="Leads",
                 element={"lastname": "WS lead", "company": "L", "assigned_user_id": "19x1"})
    calls = [
        ("GET", "me", {}),
        ("GET", "listtypes", {"fieldTypeList": json.dumps(["email"])}),
        ("GET", "describe", {"elementType": "Accounts"}),
        ("GET", "retrieve", {"id": con["id"]}),
        ("GET", "relatedtypes", {"elementType": "Contacts"}),
        ("GET", "retrieve_related", {"id": acc["id"], "relatedLabel": "Contacts",
                                     "relatedType": "Contacts"}),
        ("GET", "tags_retrieve", {"id": con["id"]}),
        ("GET", "lookup", {"type": "email", "value": "ws@example.com",
                           "searchIn": json.dumps(["Contacts"])}),
        ("GET", "picklist_dependency", {"module": "Leads", "sourcefield": "leadsource",
                                        "targetfield": "leadstatus"}),
        ("GET", "get_account_hierarchy", {"id": acc["id"]}),
        ("GET", "editionLimits", {"serviceName": "WEBSERVICE_LIMIT"}),
        ("GET", "sync", {"modifiedTime": 1, "elementType": "Accounts"}),
    ]
    for method, op, params in calls:
        assert ws_ok(ws, method, op, **params) == rest.ok(method, op, **params), op

    assert ws_ok(ws, "POST", "revise", element={"id": con["id"], "phone": "7"})["phone"] == "7"
    upd = ws_ok(ws, "POST", "update", element={"id": con["id"], "lastname": "WS2",
                                               "assigned_user_id": "19x1"})
    assert upd["lastname"] == "WS2" and upd["phone"] == "7"
    assert ws_ok(ws, "POST", "tags_add", id=con["id"], tags=["a"]) == {"message": "tags added"}
    assert ws_ok(ws, "POST", "tags_delete", id=con["id"], tags=["a"]) == {
        "message": "tags deleted"}
    pot = ws_ok(ws, "POST", "create", elementType="Potentials",
                element={"potentialname": "P", "closingdate": "2026-01-01",
                         "sales_stage": "Prospecting", "assigned_user_id": "19x1"})
    assert ws_ok(ws, "POST", "add_related", sourceRecordId=con["id"],
                 relatedRecordId=pot["id"], relationIdLabel="Potentials") == {
        "message": "successfull"}
    assert ws_ok(ws, "POST", "delete_related", sourceRecordId=con["id"],
                 relatedRecordId=pot["id"]) == {"status": "successful"}
    converted = ws_ok(ws, "POST", "convertlead", element={
        "leadId": lead["id"], "entities": {"Contacts": {"create": True, "name": "Contacts"}}})
    assert list(converted) == ["Contacts"]
    assert ws_ok(ws, "POST", "delete", id=con["id"]) == {"status": "successful"}


def test_webservice_errors_use_the_same_codes_on_http_200(rest: Rest, ws: WebService) -> None:
    cases = [
        ("GET", "retrieve", {"id": "12x999999"}),
        ("GET", "describe", {"elementType": "Nope"}),
        ("POST", "create", {"elementType": "Contacts", "element": json.dumps({"lastname": "x"})}),
        ("GET", "retrieve_related", {"id": "19x1", "relatedLabel": "Nope"}),
    ]
    for method, op, params in cases:
        resp = ws.get(op, **params) if method == "GET" else ws.post(op, **params)
        assert resp.status_code == 200
        _status, rest_err = rest.error(method, op, **params)
        assert resp.json()["error"] == rest_err, op
