"""Server kinds: Vtiger Cloud, self-hosted 8.2 whose sync works, stock self-hosted 8.2 on PHP 8.

What each self-hosted build answers is taken from the recordings
(``vtiger-reference/cloud-only_*.json``, ``sync-capable_cloud-only_*.json``, ``*_stock.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sandbox_helpers import WebService

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "vtiger-reference"

#: (recording file prefix, sandbox flavor) of the two self-hosted builds
BUILDS = [("cloud-only_", "self-hosted-stock"), ("sync-capable_cloud-only_", "self-hosted-sync")]


def recordings(prefix: str) -> list[dict]:
    """The recorded Cloud-only calls of one build."""
    files = sorted(REFERENCE.glob(f"{prefix}*.json"))
    if prefix == "cloud-only_":
        files = [f for f in files if not f.name.startswith("sync-capable")]
    return [json.loads(f.read_text()) for f in files]


def call(ws: WebService, request: dict):
    params = {k: v for k, v in request["params"].items() if k not in ("operation",
                                                                       "sessionName")}
    op = request["params"]["operation"]
    return ws.get(op, **params) if request["method"] == "GET" else ws.post(op, **params)


@pytest.mark.parametrize(("prefix", "flavor"), BUILDS)
def test_cloud_only_operations_crash_like_the_recorded_build(sandbox_factory, prefix, flavor):
    recorded = recordings(prefix)
    assert len(recorded) >= 11  # me, tags_*, lookup, hierarchy, ..., no_such_operation
    server = sandbox_factory(flavor=flavor)
    ws = WebService(server)
    ws.login()
    for rec in recorded:
        resp = call(ws, rec["request"])
        assert (resp.status_code, resp.content) == (rec["response"]["status"], b""), rec
    # the session survives: a crash is not a logout
    assert ws.get("listtypes").json()["success"] is True


@pytest.mark.parametrize("op", ["sync", "logout", "convertlead", "files_retrieve"])
def test_stock_build_crashes_on_the_operations_php8_breaks(sandbox_factory, op):
    server = sandbox_factory(flavor="self-hosted-stock")
    ws = WebService(server)
    ws.login()
    args = {"sync": {"modifiedTime": 1, "elementType": "Contacts"}, "logout": {},
            "convertlead": {"element": {"leadId": "10x1"}}, "files_retrieve": {"id": "12x1"}}
    resp = (ws.get if op in ("sync", "files_retrieve") else ws.post)(op, **args[op])
    assert (resp.status_code, resp.content) == (500, b"")


def test_sync_capable_build_syncs_and_logs_out(sandbox_factory):
    server = sandbox_factory(flavor="self-hosted-sync")
    ws = WebService(server)
    ws.login()
    page = ws.get("sync", modifiedTime=1, elementType="Contacts").json()
    assert page["success"] is True and page["result"]["updated"] == []
    assert ws.post("logout").json()["success"] is True


def test_self_hosted_is_an_alias_of_the_sync_capable_build(sandbox_factory):
    server = sandbox_factory(flavor="self-hosted")
    assert server.admin("GET", "config")["flavor"] == "self-hosted-sync"


def test_cloud_still_answers_cloud_only_operations(sandbox_factory):
    server = sandbox_factory(flavor="cloud")
    ws = WebService(server)
    ws.login()
    assert ws.get("me").json()["success"] is True
    # an unknown operation name crashes on every kind of server
    assert ws.get("no_such_operation").status_code == 500


@pytest.mark.parametrize("flavor", ["self-hosted-sync", "self-hosted-stock"])
def test_query_sees_every_owner_on_self_hosted(sandbox_factory, flavor):
    server = sandbox_factory(flavor=flavor)
    bob = server.add_user("bob", "Bob", "Builder")
    ids = (server.bulk_create("Contacts", 1) + server.bulk_create(
        "Contacts", 1, assigned_user_id=bob["id"]) + server.bulk_create(
        "Contacts", 1, assigned_user_id="20x2"))
    ws = WebService(server)
    ws.login()
    rows = ws.get("query", query="select id from Contacts;").json()["result"]
    assert sorted(r["id"] for r in rows) == sorted(ids)


def test_self_hosted_sync_lists_as_deleted_only_what_the_caller_owned(sandbox_factory):
    """Recorded 2026-12-05: own and group-owned Contact deleted; sync listed only the own one."""
    server = sandbox_factory(flavor="self-hosted-sync")
    bob = server.add_user("bob", "Bob", "Builder")
    own = server.bulk_create("Contacts", 1, modifiedtime="2025-01-01 10:00:00")[0]
    group = server.bulk_create("Contacts", 1, modifiedtime="2025-01-01 10:00:00",
                               assigned_user_id="20x2")[0]
    bobs = server.bulk_create("Contacts", 1, modifiedtime="2025-01-01 10:00:00",
                              assigned_user_id=bob["id"])[0]
    ws = WebService(server)
    ws.login()
    for rid in (own, group, bobs):
        assert ws.post("delete", id=rid).json()["success"] is True
    page = ws.get("sync", modifiedTime=1, elementType="Contacts").json()["result"]
    assert page["deleted"] == [own]
    as_bob = WebService(server, "bob", bob["access_key"])
    as_bob.login()
    page = as_bob.get("sync", modifiedTime=1, elementType="Contacts").json()["result"]
    assert page["deleted"] == [bobs]
