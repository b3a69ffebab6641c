"""Operations without HTTP: the store and the operation layer on their own.

The VTQL compiler belongs to another module; a stand-in with its interface checks that
``query`` and ``query_related`` run whatever SQL it produces correctly (row cap, count,
hidden user secrets, related-records-only shadow table).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from vtiger_sandbox.errors import VtigerApiError
from vtiger_sandbox.modules import Module, load_modules
from vtiger_sandbox.operations import Operations, ServerCrash
from vtiger_sandbox.store import Store


@dataclass
class Compiled:
    module: Module
    sql: str
    params: list
    columns: list[str] | None
    is_count: bool


@pytest.fixture
def ops(tmp_path) -> Operations:
    store = Store(tmp_path / "unit.sqlite", load_modules())
    o = Operations(store)
    o.bootstrap("admin", "key")
    return o


@pytest.fixture
def fake_vtql(monkeypatch):
    """A stand-in compiler: 'count <Module>', 'ids <Module>' or 'all <Module>' (+ ';')."""

    def compile_query(text: str, modules: dict[str, Module], row_cap: int = 100) -> Compiled:
        kind, name = text.rstrip(";").split()
        m = modules[name]
        if kind == "count":
            return Compiled(m, f"SELECT COUNT(*) FROM {m.table} WHERE deleted = 0", [], None,
                            True)
        cols = '"id", "lastname"' if kind == "ids" else "*"
        return Compiled(m, f"SELECT {cols} FROM {m.table} WHERE deleted = 0 "
                           "ORDER BY crmid LIMIT ? OFFSET ?", [row_cap, 0], None, False)

    mod = types.ModuleType("vtiger_sandbox.vtql")
    mod.compile_query = compile_query  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vtiger_sandbox.vtql", mod)
    import vtiger_sandbox

    monkeypatch.setattr(vtiger_sandbox, "vtql", mod, raising=False)
    return mod


def admin(ops: Operations):
    user = ops.user_by_crmid(1)
    assert user is not None
    return user


def test_query_caps_counts_and_hides_secrets(ops: Operations, fake_vtql) -> None:
    ops.bulk_create("Contacts", 150)
    u = admin(ops)
    assert len(ops.query(u, {"query": "ids Contacts;"})) == 100
    assert ops.query(u, {"query": "count Contacts;"}) == [{"count": "150"}]
    users = ops.query(u, {"query": "all Users;"})
    assert users[0]["user_name"] == "admin" and "accesskey" not in users[0]
    cur = ops.query(u, {"query": "all Currency;"})
    assert cur[0]["deleted"] == "0" and all(isinstance(v, str) for v in cur[0].values())


def test_query_related_sees_only_related_records(ops: Operations, fake_vtql) -> None:
    u = admin(ops)
    acc = ops.create(u, {"elementType": "Accounts",
                         "element": {"accountname": "A", "assigned_user_id": "19x1"}})
    mine = ops.bulk_create("Contacts", 3, fields={"account_id": acc["id"]})
    ops.bulk_create("Contacts", 5)
    rows = ops.query_related(u, {"query": "ids Contacts", "id": acc["id"],
                                 "relatedLabel": "Contacts"})
    assert sorted(r["id"] for r in rows) == sorted(mine)
    # the shadow table is gone afterwards
    assert len(ops.query(u, {"query": "ids Contacts;"})) == 8


def test_query_without_the_compiler_is_a_clean_error(ops: Operations, monkeypatch) -> None:
    import vtiger_sandbox

    monkeypatch.setitem(sys.modules, "vtiger_sandbox.vtql", None)
    monkeypatch.delattr(vtiger_sandbox, "vtql", raising=False)
    with pytest.raises(VtigerApiError) as exc:
        ops.query(admin(ops), {"query": "select * from Contacts;"})
    assert exc.value.code == "INTERNAL_SERVER_ERROR"


def test_sync_window_rule_in_isolation(ops: Operations) -> None:
    u = admin(ops)
    ops.configure({"sync_page_limit": 2})
    a = ops.bulk_create("Leads", 1, modifiedtime="2025-01-01 00:00:01")
    b = ops.bulk_create("Leads", 3, modifiedtime="2025-01-01 00:00:02")
    c = ops.bulk_create("Leads", 1, modifiedtime="2025-01-01 00:00:03")
    p1 = ops.sync(u, {"modifiedTime": "1", "elementType": "Leads"})
    assert [r["id"] for r in p1["updated"]] == a + b and p1["more"] is True
    p2 = ops.sync(u, {"modifiedTime": p1["lastModifiedTime"], "elementType": "Leads"})
    assert [r["id"] for r in p2["updated"]] == c and p2["more"] is False
    with pytest.raises(ServerCrash):
        ops.sync(u, {"modifiedTime": "0", "elementType": "Leads"})


def test_failed_write_leaves_nothing_behind(ops: Operations) -> None:
    u = admin(ops)
    before = ops.store.conn.execute("SELECT COUNT(*) FROM crmentity").fetchone()[0]
    with pytest.raises(VtigerApiError):
        ops.create(u, {"elementType": "Contacts",
                       "element": {"lastname": "x", "assigned_user_id": "19x1",
                                   "account_id": "11x999"}})
    after = ops.store.conn.execute("SELECT COUNT(*) FROM crmentity").fetchone()[0]
    assert before == after
