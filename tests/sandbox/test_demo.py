"""The demo data set (``--seed demo``): size, relations, tags, deletes and shared timestamps."""

from __future__ import annotations

import sqlite3
from collections import Counter

from sandbox_helpers import Rest

from vtiger_sandbox.backend import VtigerBackend
from vtiger_sandbox.modules import load_modules
from vtiger_sandbox.seed import DEMO_TIE_COUNT, DEMO_TIE_TEXT, apply_seed
from vtiger_sandbox.store import Store, text_to_epoch
from vtiger_sandbox.testing import SandboxServer


def _counts(db) -> dict[str, tuple[int, int]]:
    conn = sqlite3.connect(db)
    try:
        out = {}
        for m in ("Contacts", "Accounts", "Leads", "Potentials", "HelpDesk"):
            live, dead = conn.execute(
                f'SELECT SUM(deleted = 0), SUM(deleted = 1) FROM "m_{m}"').fetchone()
            out[m] = (live, dead)
        return out
    finally:
        conn.close()


def test_demo_has_the_promised_volume_with_some_deleted(demo_sandbox: SandboxServer) -> None:
    counts = _counts(demo_sandbox.db_path)
    totals = {m: live + dead for m, (live, dead) in counts.items()}
    assert totals == {"Contacts": 2000, "Accounts": 500, "Leads": 1000, "Potentials": 300,
                      "HelpDesk": 200}
    assert all(dead > 0 for _live, dead in counts.values())


def test_demo_records_are_related_tagged_and_share_a_modifiedtime(
    demo_sandbox: SandboxServer,
) -> None:
    rest = Rest(demo_sandbox)
    page = rest.ok("GET", "sync", modifiedTime=text_to_epoch(DEMO_TIE_TEXT) - 1,
                   elementType="Contacts")
    at_tie = [r for r in page["updated"] if r["modifiedtime"] == DEMO_TIE_TEXT]
    assert len(at_tie) + len([d for d in page["deleted"]]) >= DEMO_TIE_COUNT - 5
    contact = next(r for r in page["updated"] if r["account_id"])
    account = rest.ok("GET", "retrieve", id=contact["account_id"])
    related = rest.ok("GET", "retrieve_related", id=account["id"], relatedLabel="Contacts",
                      relatedType="Contacts")
    assert contact["id"] in [r["id"] for r in related]
    conn = sqlite3.connect(demo_sandbox.db_path)
    try:
        assert conn.execute("SELECT COUNT(DISTINCT crmid) FROM tags").fetchone()[0] > 50
    finally:
        conn.close()
    owners = Counter(r["assigned_user_id"] for r in page["updated"])
    assert "19x1" in owners and any(o.startswith("20x") for o in owners)


def test_demo_is_deterministic(tmp_path) -> None:
    def build(name: str) -> list:
        store = Store(tmp_path / name, load_modules())
        backend = VtigerBackend(store)
        backend.bootstrap("admin", "k")
        apply_seed(backend, "demo")
        rows = store.conn.execute(
            'SELECT id, firstname, lastname, account_id, modifiedtime, deleted FROM "m_Contacts"'
            " ORDER BY crmid").fetchall()
        store.close()
        return rows

    assert build("a.sqlite") == build("b.sqlite")


def test_seed_n_creates_n_contacts(sandbox_factory) -> None:
    server = sandbox_factory(seed="250")
    counts = _counts(server.db_path)
    assert counts["Contacts"] == (250, 0)


def test_demo_has_n_to_n_relations(demo_sandbox: SandboxServer) -> None:
    rest = Rest(demo_sandbox)
    conn = sqlite3.connect(demo_sandbox.db_path)
    try:
        src, dst = conn.execute(
            "SELECT src, dst FROM relations WHERE label = 'Contacts' ORDER BY src, dst").fetchone()
    finally:
        conn.close()
    campaigns = rest.ok("GET", "retrieve_related", id=f"12x{dst}", relatedLabel="Campaigns",
                        relatedType="Campaigns")
    assert f"1x{src}" in [c["id"] for c in campaigns]
    products = rest.ok("GET", "query", query="select count(*) from Products;")
    assert products == [{"count": "50"}]


def test_demo_records_tags_field_agrees_with_tags_retrieve(demo_sandbox: SandboxServer) -> None:
    """As on a Cloud server, a record's ``tags`` field lists the tags tags_retrieve answers."""
    conn = sqlite3.connect(demo_sandbox.db_path)
    try:
        tagged = [r[0] for r in conn.execute(
            "SELECT DISTINCT crmid FROM tags ORDER BY crmid LIMIT 25")]
        untagged = conn.execute(
            'SELECT id FROM "m_Contacts" WHERE crmid NOT IN (SELECT crmid FROM tags) '
            "AND deleted = 0 LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    rest = Rest(demo_sandbox)
    checked = 0
    for crmid in tagged:
        prefix = "12" if rest.ok("GET", "query", query=f"select id from Contacts where "
                                 f"id = '12x{crmid}';") else "11"
        try:
            record = rest.ok("GET", "retrieve", id=f"{prefix}x{crmid}")
        except AssertionError:  # deleted records have tags too
            continue
        tags = rest.ok("GET", "tags_retrieve", id=record["id"])["tags"]
        assert tags and record["tags"].split(",") == tags
        checked += 1
    assert checked >= 10
    assert rest.ok("GET", "retrieve", id=untagged)["tags"] == ""
