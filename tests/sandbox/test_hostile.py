"""Hostile input gets a Vtiger-style error (or is stored verbatim), never a crash or a
corrupted database."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.testing import SandboxServer


@pytest.mark.parametrize("element", [
    "", "null", "[]", '"a string"', "42", "{not json", "[" * 5000 + "]" * 5000,
    json.dumps({"lastname": {"nested": [1, 2]}}),
])
def test_element_that_is_not_a_json_object(rest: Rest, element: str) -> None:
    status, err = rest.error("POST", "create", elementType="Contacts", element=element)
    assert status == 400 and err["code"] == "MANDATORY_FIELDS_MISSING"


def test_quotes_unicode_and_sql_looking_values_are_stored_verbatim(rest: Rest) -> None:
    nasty = "O'Brien\"; DROP TABLE \"m_Contacts\"; -- Ünïcödé 名前 😀 \\ %_"
    rec = rest.create("Contacts", lastname=nasty, description="line1\nline2\ttab")
    got = rest.ok("GET", "retrieve", id=rec["id"])
    assert got["lastname"] == nasty and got["description"] == "line1\nline2\ttab"
    assert rec["label"].startswith("O&#039;Brien&quot;")  # PHP htmlentities


def test_huge_values_are_accepted_without_harm(rest: Rest) -> None:
    big = "x" * 1_000_000
    rec = rest.create("Contacts", lastname="Big", description=big)
    assert len(rest.ok("GET", "retrieve", id=rec["id"])["description"]) == 1_000_000


@pytest.mark.parametrize("bad_id", [
    "12x1; DROP TABLE crmentity", "12x99999999999999999999999999", "x", "12x", "'",
    "12x-1", "\u0661\u0662x\u0661", "12x\u0661", "",
])
def test_malformed_ids_are_access_denied(rest: Rest, bad_id: str) -> None:
    status, err = rest.error("GET", "retrieve", id=bad_id)
    assert status == 403 and err["code"] == "ACCESS_DENIED"


@pytest.mark.parametrize("module", ["Contacts'", "m_Contacts", "\"Contacts\"", "Cöntacts",
                                    "crmentity", "Contacts\x00"])
def test_unknown_or_weird_module_names(rest: Rest, module: str) -> None:
    _, err = rest.error("GET", "describe", elementType=module)
    assert err["code"] == "ACCESS_DENIED"
    _, err = rest.error("POST", "create", elementType=module, element={"lastname": "x"})
    assert err["code"] == "ACCESS_DENIED"


def test_huge_modified_time_and_weird_sync_values(rest: Rest) -> None:
    page = rest.ok("GET", "sync", modifiedTime="9" * 40, elementType="Contacts")
    assert page["updated"] == [] and page["more"] is False
    assert rest.get("sync", modifiedTime="1e999", elementType="Contacts").status_code == 500


def test_binary_garbage_body(shared_sandbox: SandboxServer) -> None:
    resp = requests.post(f"{shared_sandbox.rest_url}/create", data=b"\xff\xfe\x00garbage=%ZZ",
                         auth=(shared_sandbox.username, shared_sandbox.access_key),
                         headers={"content-type": "application/x-www-form-urlencoded"},
                         timeout=10)
    assert resp.status_code == 403  # no elementType -> ACCESS_DENIED
    resp = requests.post(f"{shared_sandbox.rest_url}/create", data=b"{{{",
                         auth=(shared_sandbox.username, shared_sandbox.access_key),
                         headers={"content-type": "application/json"}, timeout=10)
    assert resp.json()["success"] is False


def test_webservice_with_hostile_params(ws: WebService) -> None:
    body = ws.post("revise", element='{"id": "12x1\' OR 1=1 --", "lastname": "x"}').json()
    assert body["error"]["code"] == "ACCESS_DENIED"
    body = ws.get("retrieve_related", id="12x1", relatedLabel="'; --").json()
    assert body["success"] is False


def test_database_survives_the_abuse(shared_sandbox: SandboxServer, rest: Rest) -> None:
    for _ in range(3):
        rest.create("Contacts", lastname="Still fine")
    conn = sqlite3.connect(shared_sandbox.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute('SELECT COUNT(*) FROM "m_Contacts"').fetchone()[0] >= 3
    finally:
        conn.close()


def test_emoji_can_be_replaced_like_a_default_mariadb(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    assert rest.create("Contacts", lastname="Smile 😀")["lastname"] == "Smile 😀"
    sandbox.configure(emoji="replace")
    assert rest.create("Contacts", lastname="Smile 😀")["lastname"] == "Smile ?"


def test_currency_follows_the_users_decimals_preference_or_the_setting(
    sandbox: SandboxServer,
) -> None:
    rest = Rest(sandbox)
    acc = rest.create("Accounts", accountname="Default", annual_revenue="1000.5")
    assert acc["annual_revenue"] == "1000.50000000"
    me = rest.ok("POST", "revise", element={"id": "19x1", "no_of_currency_decimals": "0",
                                            "user_name": "hacker"})
    assert me["no_of_currency_decimals"] == "0" and me["user_name"] == "admin"
    acc = rest.create("Accounts", accountname="Fresh install", annual_revenue="12345.5")
    assert acc["annual_revenue"] == "12346.00000000"  # like a fresh Vtiger install
    sandbox.configure(currency_decimals=2)
    acc = rest.create("Accounts", accountname="Configured", annual_revenue="1.234")
    assert acc["annual_revenue"] == "1.23000000"


def test_error_messages_that_are_not_legal_header_values(rest: Rest) -> None:
    # trailing blanks, non-ASCII and control characters in the message must not break HTTP
    _, err = rest.error("GET", "describe", elementType="Modül ")
    assert err["message"].endswith("Modül ")
    resp = rest.get("describe", elementType="x\r\n")
    assert resp.status_code == 403
