"""The server process: restarts keep data (SQLite file), SIGTERM shuts down cleanly."""

from __future__ import annotations

import sqlite3

from sandbox_helpers import Rest

from vtiger_sandbox.testing import SandboxServer


def test_restart_keeps_records_settings_and_access_key(tmp_path) -> None:
    db = tmp_path / "keep.sqlite"
    server = SandboxServer(db, access_key="k1").start()
    rec = Rest(server).create("Contacts", lastname="Persistent")
    server.add_field("Contacts", "cf_1", "Custom")
    server.configure(sync_page_limit=7)
    assert server.stop() == 0  # SIGTERM -> clean exit

    again = SandboxServer(db, access_key="k1").start()
    try:
        rest = Rest(again)
        assert rest.ok("GET", "retrieve", id=rec["id"])["lastname"] == "Persistent"
        assert "cf_1" in {f["name"] for f in rest.ok("GET", "describe",
                                                      elementType="Contacts")["fields"]}
        assert again.admin("GET", "config")["sync_page_limit"] == 7
        nxt = rest.create("Contacts", lastname="Next")
        assert int(nxt["id"].split("x")[1]) > int(rec["id"].split("x")[1])
    finally:
        again.stop()


def test_sigterm_leaves_a_complete_database(tmp_path) -> None:
    db = tmp_path / "clean.sqlite"
    server = SandboxServer(db).start()
    ids = server.bulk_create("Accounts", 25)
    assert server.stop() == 0
    server.wait_until_down()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute('SELECT COUNT(*) FROM "m_Accounts"').fetchone()[0] == len(ids)
    conn.close()


def test_kill_does_not_lose_committed_writes(tmp_path) -> None:
    db = tmp_path / "crash.sqlite"
    server = SandboxServer(db).start()
    rec = Rest(server).create("Leads", lastname="Durable")
    server.kill()
    again = SandboxServer(db, access_key=server.access_key).start()
    try:
        assert Rest(again).ok("GET", "retrieve", id=rec["id"])["lastname"] == "Durable"
    finally:
        again.stop()


def test_concurrent_clients_get_consistent_answers(sandbox: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> str:
        rest = Rest(sandbox)
        rec = rest.create("Contacts", lastname=f"Parallel {i}")
        rest.ok("POST", "revise", element={"id": rec["id"], "phone": str(i)})
        rest.ok("GET", "sync", modifiedTime=1, elementType="Contacts")
        return rec["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(work, range(40)))
    assert len(set(ids)) == 40
    assert sandbox.stats() == {"create": 40, "revise": 40, "sync": 40}
