"""VTQL ``query`` over HTTP (the grammar itself is tested with vtiger_sandbox.vtql)."""

from __future__ import annotations

import sqlite3

import pytest
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.testing import SandboxServer

pytest.importorskip("vtiger_sandbox.vtql")


@pytest.fixture(scope="module")
def qserver(tmp_path_factory):
    db = tmp_path_factory.mktemp("query") / "query.sqlite"
    with SandboxServer(db) as server:
        server.bulk_create("Contacts", 250, modifiedtime="2025-03-01 08:00:00")
        rest = Rest(server)
        gone = rest.create("Contacts", lastname="Deleted Person")
        rest.ok("POST", "delete", id=gone["id"])
        server.gone_id = gone["id"]  # type: ignore[attr-defined]
        yield server


def test_at_most_100_rows_whatever_the_limit(qserver: SandboxServer) -> None:
    rest = Rest(qserver)
    assert len(rest.ok("GET", "query", query="select * from Contacts;")) == 100
    assert len(rest.ok("GET", "query", query="select * from Contacts limit 200;")) == 100
    assert len(rest.ok("GET", "query", query="select id from Contacts limit 240, 100;")) == 10


def test_count_and_columns(qserver: SandboxServer) -> None:
    rest = Rest(qserver)
    assert rest.ok("GET", "query", query="select count(*) from Contacts;") == [{"count": "250"}]
    rows = rest.ok("GET", "query", query="select id, lastname from Contacts limit 2;")
    assert [sorted(r) for r in rows] == [["id", "lastname"], ["id", "lastname"]]
    assert all(r["id"].startswith("12x") for r in rows)


def test_deleted_records_are_not_queried(qserver: SandboxServer) -> None:
    rest = Rest(qserver)
    rows = rest.ok("GET", "query",
                   query=f"select id from Contacts where id = '{qserver.gone_id}';")
    assert rows == []


def test_query_errors(qserver: SandboxServer) -> None:
    rest = Rest(qserver)
    assert rest.error("GET", "query", query="select * from NoSuchModule;")[1]["code"] == (
        "ACCESS_DENIED")
    assert rest.error("GET", "query", query="selec * from Contacts;")[1]["code"] == (
        "QUERY_SYNTAX_ERROR")
    assert rest.error("GET", "query", query="select * from Contacts limit 1")[1]["code"] == (
        "QUERY_SYNTAX_ERROR")
    assert rest.error("GET", "query", query="")[1]["code"] == "ACCESS_DENIED"


def test_users_groups_currency_are_queryable(qserver: SandboxServer) -> None:
    ws = WebService(qserver)
    ws.login()
    users = ws.get("query", query="select * from Users;").json()["result"]
    assert users[0]["id"] == "19x1" and "accesskey" not in users[0]
    groups = ws.get("query", query="select * from Groups;").json()["result"]
    assert [g["id"] for g in groups] == ["20x2", "20x3", "20x4"]
    cur = ws.get("query", query="select * from Currency;").json()["result"]
    assert cur[0]["currency_code"] == "USD"


def test_injection_attempts_leave_the_database_intact(qserver: SandboxServer) -> None:
    rest = Rest(qserver)
    for q in ["select * from Contacts where lastname = 'x'; drop table crmentity; --';",
              "select * from Contacts where lastname = 'a'' or ''1''=''1';",
              'select * from Contacts where lastname = "x";']:
        resp = rest.get("query", query=q)
        assert resp.status_code in (200, 400, 403, 500)
    conn = sqlite3.connect(qserver.db_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM crmentity").fetchone()[0] >= 251
    finally:
        conn.close()


def test_query_related_needs_no_semicolon_and_upper_case_where(qserver: SandboxServer) -> None:
    rest = Rest(qserver)
    acc = rest.create("Accounts", accountname="QR")
    c = rest.create("Contacts", lastname="Seed0001", account_id=acc["id"])
    rows = rest.ok("GET", "query_related", id=acc["id"], relatedLabel="Contacts",
                   query="select id, lastname from Contacts WHERE lastname like 'Seed00%'")
    assert [r["id"] for r in rows] == [c["id"]]
    _, err = rest.error("GET", "query_related", id=acc["id"], relatedLabel="Contacts",
                        query="select id from Contacts;")
    assert err["code"] == "UNKOWN_ENTITY"
    _, err = rest.error("GET", "query_related", id=acc["id"], relatedLabel="Contacts",
                        query="select id from Contacts where lastname like 'S%'")
    assert err["code"] == "QUERY_SYNTAX_ERROR"


def test_row_cap_is_a_setting(sandbox: SandboxServer) -> None:
    sandbox.bulk_create("Leads", 30)
    sandbox.configure(query_row_cap=10)
    rest = Rest(sandbox)
    assert len(rest.ok("GET", "query", query="select id from Leads;")) == 10
    assert len(rest.ok("GET", "query", query="select id from Leads limit 20, 50;")) == 10
