"""sync: Vtiger's paging rule (ties at the boundary second never split) and deletes."""

from __future__ import annotations

import pytest
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.store import text_to_epoch
from vtiger_sandbox.testing import SandboxServer


def sync_all(rest: Rest, module: str, since: int = 1) -> tuple[list[dict], list[str], int]:
    """Page through sync like a client does; returns (updated, deleted, pages)."""
    updated, deleted, pages = [], [], 0
    while True:
        page = rest.ok("GET", "sync", modifiedTime=since, elementType=module)
        pages += 1
        updated += page["updated"]
        deleted += page["deleted"]
        assert isinstance(page["lastModifiedTime"], int)
        since = page["lastModifiedTime"]
        if not page["more"]:
            return updated, deleted, pages
        assert pages < 1000


def test_1000_records_sharing_one_second_come_exactly_once(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    before = sandbox.bulk_create("Contacts", 150, modifiedtime="2025-01-01 10:00:00")
    tie = sandbox.bulk_create("Contacts", 1000, modifiedtime="2025-01-01 11:00:00")
    after = sandbox.bulk_create("Contacts", 250, modifiedtime="2025-01-01 12:00:00")
    sandbox.touch(before[:50], "2025-01-01 09:00:00")

    first = rest.ok("GET", "sync", modifiedTime=1, elementType="Contacts")
    # the first 100 records modified after t end at 10:00; all 150 of that second come along
    assert len(first["updated"]) == 150
    assert first["lastModifiedTime"] == text_to_epoch("2025-01-01 10:00:00")
    assert first["more"] is True
    second = rest.ok("GET", "sync", modifiedTime=first["lastModifiedTime"],
                     elementType="Contacts")
    assert len(second["updated"]) == 1000  # a page far beyond the limit: ties stay together

    updated, deleted, _pages = sync_all(rest, "Contacts")
    ids = [r["id"] for r in updated]
    assert len(ids) == len(set(ids)) == 1400
    assert set(ids) == set(before + tie + after)
    assert deleted == []


def test_deletes_are_reported_in_the_window_and_bump_modifiedtime(rest: Rest) -> None:
    a = rest.create("Leads", lastname="A")
    b = rest.create("Leads", lastname="B")
    since = text_to_epoch(a["modifiedtime"]) - 1
    rest.ok("POST", "delete", id=b["id"])
    page = rest.ok("GET", "sync", modifiedTime=since, elementType="Leads")
    assert [r["id"] for r in page["updated"]] == [a["id"]]
    assert page["deleted"] == [b["id"]]
    assert page["more"] is False


def test_nothing_new_echoes_modified_time(rest: Rest) -> None:
    page = rest.ok("GET", "sync", modifiedTime=4102444800, elementType="Contacts")
    assert page == {"updated": [], "deleted": [], "more": False, "lastModifiedTime": 4102444800}


def test_sync_page_limit_is_a_setting(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    sandbox.configure(sync_page_limit=10)
    for i in range(30):
        sandbox.bulk_create("Accounts", 1, modifiedtime=f"2025-01-01 10:00:{i:02d}")
    updated, _deleted, pages = sync_all(rest, "Accounts")
    assert len(updated) == 30 and pages == 3


@pytest.mark.parametrize("params", [
    {"modifiedTime": 0, "elementType": "Contacts"},
    {"modifiedTime": "2026-11-22 00:00:00", "elementType": "Contacts"},
    {"elementType": "Contacts"},
    {"modifiedTime": 1},
])
def test_bad_sync_arguments_crash_like_vtiger(rest: Rest, params: dict) -> None:
    resp = rest.get("sync", **params)
    assert resp.status_code == 500 and resp.content == b""


def test_unknown_module_is_access_denied(rest: Rest) -> None:
    status, err = rest.error("GET", "sync", modifiedTime=1, elementType="NoSuchModule")
    assert status == 403 and err["code"] == "ACCESS_DENIED"


def test_float_modified_time_is_accepted(rest: Rest) -> None:
    page = rest.ok("GET", "sync", modifiedTime="1.5", elementType="Vendors")
    assert page["lastModifiedTime"] == 1


def test_self_hosted_sync_returns_only_own_records_and_ignores_sync_type(
    sandbox_factory,
) -> None:
    server = sandbox_factory(flavor="self-hosted")
    other = server.add_user("bob", "Bob", "Builder")
    mine = server.bulk_create("Contacts", 3, modifiedtime="2025-01-01 10:00:00")
    server.bulk_create("Contacts", 4, modifiedtime="2025-01-01 10:00:00",
                       assigned_user_id=other["id"])
    server.bulk_create("Contacts", 2, modifiedtime="2025-01-01 10:00:00",
                       assigned_user_id="20x2")
    ws = WebService(server)
    ws.login()
    body = ws.get("sync", modifiedTime=1, elementType="Contacts",
                  syncType="application").json()
    assert sorted(r["id"] for r in body["result"]["updated"]) == sorted(mine)
    bob = WebService(server, "bob", other["access_key"])
    bob.login()
    body = bob.get("sync", modifiedTime=1, elementType="Contacts").json()
    assert len(body["result"]["updated"]) == 4
    # the same records are all visible to query-less retrieve
    assert server.total_calls() >= 4


def test_sync_http_500_setting(sandbox_factory) -> None:
    server = sandbox_factory(flavor="self-hosted", config={"sync_http_500": True})
    ws = WebService(server)
    ws.login()
    resp = ws.get("sync", modifiedTime=1, elementType="Contacts")
    assert resp.status_code == 500 and resp.content == b""
    assert server.stats()["sync"] == 1


def test_cloud_sync_type_restricts_by_owner(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    bob = sandbox.add_user("bob2")
    mine = sandbox.bulk_create("Contacts", 2, modifiedtime="2025-01-01 10:00:00")
    group = sandbox.bulk_create("Contacts", 3, modifiedtime="2025-01-01 10:00:00",
                                assigned_user_id="20x2")
    sandbox.bulk_create("Contacts", 4, modifiedtime="2025-01-01 10:00:00",
                        assigned_user_id=bob["id"])

    def ids(sync_type: str | None) -> set[str]:
        params = {"modifiedTime": 1, "elementType": "Contacts"}
        if sync_type:
            params["syncType"] = sync_type
        return {r["id"] for r in rest.ok("GET", "sync", **params)["updated"]}

    assert len(ids("application")) == len(ids(None)) == 9
    assert ids("user") == set(mine)
    assert ids("userandgroup") == set(mine + group)
