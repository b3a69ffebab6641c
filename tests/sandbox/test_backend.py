"""The backend without HTTP: typed calls over the store, as the request readers make them."""

from __future__ import annotations

import pytest

from vtiger_sandbox.backend import ServerCrash, User, VtigerBackend
from vtiger_sandbox.backend.sync import sync_since
from vtiger_sandbox.errors import VtigerApiError
from vtiger_sandbox.modules import load_modules
from vtiger_sandbox.store import Store
from vtiger_sandbox.vtql import Condition, Select


@pytest.fixture
def backend(tmp_path) -> VtigerBackend:
    made = VtigerBackend(Store(tmp_path / "unit.sqlite", load_modules()))
    made.bootstrap("admin", "key")
    return made


def admin(backend: VtigerBackend) -> User:
    user = backend.users.by_crmid(1)
    assert user is not None
    return user


def test_query_caps_counts_and_hides_secrets(backend: VtigerBackend) -> None:
    backend.admin.bulk_create("Contacts", 150)
    u = admin(backend)
    assert len(backend.query.query(u, "select id, lastname from Contacts;")) == 100
    assert backend.query.query(u, "select count(*) from Contacts;") == [{"count": "150"}]
    users = backend.query.query(u, "select * from Users;")
    assert users[0]["user_name"] == "admin" and "accesskey" not in users[0]
    cur = backend.query.query(u, "select * from Currency;")
    assert cur[0]["currency_code"] == "USD" and all(isinstance(v, str) for v in cur[0].values())


def test_query_related_sees_only_related_records(backend: VtigerBackend) -> None:
    u = admin(backend)
    acc = backend.records.create(u, "Accounts", {"accountname": "A", "assigned_user_id": "19x1"})
    mine = backend.admin.bulk_create("Contacts", 3, fields={"account_id": acc["id"]})
    backend.admin.bulk_create("Contacts", 5)
    rows = backend.relations.query_related(u, "select id from Contacts", acc["id"], "Contacts")
    assert sorted(r["id"] for r in rows) == sorted(mine)
    # the shadow table is gone afterwards
    assert len(backend.query.query(u, "select id from Contacts;")) == 8


def test_a_typed_select_answers_what_its_vtql_answers(backend: VtigerBackend) -> None:
    u = admin(backend)
    for name in ("O'Brien", "o'brien ", "OBrien", "50% off", "50 off"):
        backend.records.create(u, "Contacts", {"lastname": name, "assigned_user_id": "19x1"})
    select = Select("Contacts", columns=("lastname",),
                    where=(Condition("lastname", "=", ("O'Brien",)),
                           Condition("lastname", "like", ("50\\%%",))),
                    any_of=True, order_by=("lastname",), descending=True, limit=10)
    text = ("select lastname from Contacts where lastname = 'O''Brien' "
            "or lastname like '50\\\\%%' order by lastname desc limit 0, 10;")
    typed, written = backend.query.select(u, select), backend.query.query(u, text)
    assert typed == written
    assert sorted(r["lastname"] for r in typed) == ["50% off", "O'Brien", "o'brien "]


def test_sync_window_rule_in_isolation(backend: VtigerBackend) -> None:
    u = admin(backend)
    backend.configure({"sync_page_limit": 2})
    a = backend.admin.bulk_create("Leads", 1, modifiedtime="2025-01-01 00:00:01")
    b = backend.admin.bulk_create("Leads", 3, modifiedtime="2025-01-01 00:00:02")
    c = backend.admin.bulk_create("Leads", 1, modifiedtime="2025-01-01 00:00:03")
    p1 = backend.sync.sync(u, "Leads", sync_since("1"))
    assert [r["id"] for r in p1["updated"]] == a + b and p1["more"] is True
    p2 = backend.sync.sync(u, "Leads", sync_since(p1["lastModifiedTime"]))
    assert [r["id"] for r in p2["updated"]] == c and p2["more"] is False


@pytest.mark.parametrize("raw", ["0", "-5", "soon", None, [1]])
def test_a_sync_time_php_cannot_read_crashes_the_server(raw: object) -> None:
    with pytest.raises(ServerCrash):
        sync_since(raw)


def test_failed_write_leaves_nothing_behind(backend: VtigerBackend) -> None:
    u = admin(backend)
    before = backend.store.conn.execute("SELECT COUNT(*) FROM crmentity").fetchone()[0]
    with pytest.raises(VtigerApiError):
        backend.records.create(u, "Contacts", {"lastname": "x", "assigned_user_id": "19x1",
                                               "account_id": "11x999"})
    after = backend.store.conn.execute("SELECT COUNT(*) FROM crmentity").fetchone()[0]
    assert before == after
