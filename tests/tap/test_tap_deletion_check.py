"""Deletions sync cannot list arrive through the id check (``select id ... order by id``): on
self-hosted servers (sync lists only the caller's own deletions; stock 8.2 has no sync) and for
modules read through query. A check cut off halfway never reports a live record deleted;
records created or deleted while it runs cannot confuse it; its cost is ceil(N / 100) calls."""

from __future__ import annotations

import collections
import logging
import threading
import time

import pytest
from tap_helpers import _Stop, client_for, config, run_tap
from test_tap_sync import BASE, catalog_for, contacts, wire

from tap_vtiger import idset
from tap_vtiger.deletions import STATE_KEY

GROUP = "20x2"


def id_checks(sandbox_or_queries) -> int:
    return sum(1 for q in sandbox_or_queries if q.startswith("select id from Contacts where id >"))


def recording(queries: list[str], when=None, action=None):
    """A ``prepare`` hook noting every query text; ``action(n)`` runs before the n-th id-check
    query when ``when(n)`` holds (e.g. to change records meanwhile, or to stop the run there).
    """
    def prepare(tap):
        original = tap.client.query
        lock = threading.Lock()

        def query(text):
            with lock:
                queries.append(text)
                n = id_checks(queries)
                if text.startswith("select id from Contacts where id >") and when and when(n):
                    action(n)
            return original(text)

        tap.client.query = query
    return prepare


def self_hosted(sandbox_factory):
    """A self-hosted sandbox whose Contacts belong to the admin, bob and a group."""
    server = sandbox_factory(flavor="self-hosted")
    bob = server.add_user("bob")["id"]
    mine = contacts(server, 5)
    theirs = contacts(server, 5, start=BASE + 10, assigned_user_id=bob)
    grouped = contacts(server, 5, start=BASE + 20, assigned_user_id=GROUP)
    return server, mine, theirs, grouped


@pytest.fixture(params=["self-hosted webservice", "stock (sync crashes) webservice",
                        "stock (no sync) rest"])
def server_kind(request, sandbox_factory):
    if "webservice" in request.param:
        server, mine, theirs, grouped = self_hosted(sandbox_factory)
        if request.param.startswith("stock"):
            server.configure(crash_operations=["sync", "logout"])
        cfg = config(server, modules=["Contacts"], api_style="webservice")
        return server, cfg, mine + theirs + grouped
    server = sandbox_factory()
    ids = contacts(server, 15)
    server.configure(sync_http_500=True)
    return server, config(server, modules=["Contacts"]), ids


@pytest.mark.parametrize("maps", [None, {"Contacts": {"mapped": "'yes'"}}],
                         ids=["fast path", "stream maps"])
def test_every_owners_deletions_arrive_once_and_live_records_stay_live(server_kind, maps):
    server, cfg, ids = server_kind
    cfg = {**cfg, "deletion_check_hours": 0, **({"stream_maps": maps} if maps else {})}
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    vt = client_for(server, api_style=cfg.get("api_style", "rest"))
    gone = [ids[0], ids[6], ids[12]]  # the admin's, bob's and the group's (or any three)
    for rid in gone:
        vt.delete(rid)
    vt.revise({"id": ids[7], "assigned_user_id": GROUP})  # moved, not deleted
    time.sleep(1.1)  # query leaves the running second to the next run
    second = run_tap(cfg, state=first.state())
    assert sorted(second.ids("Contacts", deleted=True)) == sorted(gone)
    assert ids[7] in second.ids("Contacts")
    assert not set(second.ids("Contacts")) & set(gone)
    third = run_tap(cfg, state=second.state())
    assert third.ids("Contacts", deleted=True) == []  # reported once


def test_the_check_runs_once_a_day_by_default(sandbox_factory):
    server, _, theirs, _ = self_hosted(sandbox_factory)
    cfg = config(server, modules=["Contacts"], api_style="webservice")
    first = run_tap(cfg)
    client_for(server, api_style="webservice").delete(theirs[0])
    queries: list[str] = []
    second = run_tap(cfg, state=first.state(), prepare=recording(queries))
    assert id_checks(queries) == 0  # a fresh extraction counts as today's check
    assert second.ids("Contacts", deleted=True) == []
    state = second.state()
    state["bookmarks"]["Contacts"][STATE_KEY]["checked_at"] -= 86400
    third = run_tap(cfg, state=state)
    assert third.ids("Contacts", deleted=True) == [theirs[0]]


def test_a_check_costs_one_query_per_100_records(sandbox_factory):
    server = sandbox_factory()
    contacts(server, 250)
    server.configure(sync_http_500=True)
    cfg = config(server, modules=["Contacts"], deletion_check_hours=0)
    catalog = catalog_for(cfg, "Contacts")
    first = run_tap(cfg, catalog=catalog)
    queries: list[str] = []
    run_tap(cfg, catalog=catalog, state=first.state(), prepare=recording(queries))
    assert id_checks(queries) == 3  # ceil(250 / 100)


def test_a_check_cut_off_halfway_reports_no_live_record_and_the_next_run_finishes_it(
    sandbox_factory,
):
    server = sandbox_factory()
    ids = contacts(server, 250)
    server.configure(sync_http_500=True)
    cfg = config(server, modules=["Contacts"], deletion_check_hours=0)
    catalog = catalog_for(cfg, "Contacts")
    first = run_tap(cfg, catalog=catalog)
    vt = client_for(server)
    early, late = ids[10], ids[240]  # one in the first id page, one in the last
    vt.delete(early)
    vt.delete(late)
    created: list[str] = []

    def meanwhile(n):
        if n == 2:  # while the check runs: a new record, a deletion behind and ahead of it
            created.append(vt.create("Contacts", {"lastname": "New",
                                                  "assigned_user_id": "19x1"})["id"])
            vt.delete(ids[5])
            vt.delete(ids[200])
        if n == 3:
            raise _Stop  # killed before the last page

    cut = run_tap(cfg, catalog=catalog, state=first.state(),
                  prepare=recording([], when=lambda n: n >= 2, action=meanwhile))
    reported = cut.ids("Contacts", deleted=True)
    assert set(reported) <= {early, ids[200]}  # only records gone when looked at
    assert early in reported
    assert cut.state()["bookmarks"]["Contacts"][STATE_KEY]["check_after"] > 0

    resumed = run_tap(cfg, catalog=catalog, state=cut.state())
    later = resumed.ids("Contacts", deleted=True)
    live = {r["id"] for r in vt.query_all("Contacts", ["id"])}
    assert not (set(reported) | set(later)) & live
    assert {late, ids[200]} <= set(reported) | set(later)
    # ids[5] vanished behind the cursor: the next full check reports it
    time.sleep(1.1)  # query leaves the running second to the next run
    final = run_tap(cfg, catalog=catalog, state=resumed.state())
    assert created[0] in set(resumed.ids("Contacts")) | set(final.ids("Contacts"))
    everything = reported + later + final.ids("Contacts", deleted=True)
    assert sorted(set(everything)) == sorted({early, late, ids[5], ids[200]})
    assert max(collections.Counter(reported + later + final.ids(
        "Contacts", deleted=True)).values()) <= 2  # a resumed page may repeat, no more


def test_an_empty_answer_reports_nothing(sandbox_factory, caplog):
    server = sandbox_factory()
    contacts(server, 20)
    server.configure(sync_http_500=True)
    cfg = config(server, modules=["Contacts"], deletion_check_hours=0)
    first = run_tap(cfg)

    def prepare(tap):
        original = tap.client.query

        def query(text):
            return [] if text.startswith("select id from Contacts where id >") else original(text)

        tap.client.query = query

    with caplog.at_level(logging.WARNING):
        second = run_tap(cfg, state=first.state(), prepare=prepare)
    assert second.ids("Contacts", deleted=True) == []
    assert "count(*) says 20 exist" in caplog.text


def test_state_from_before_the_check_is_seeded_without_reporting(sandbox_factory):
    server, _, _, grouped = self_hosted(sandbox_factory)
    cfg = config(server, modules=["Contacts"], api_style="webservice", deletion_check_hours=0)
    first = run_tap(cfg)
    old = first.state()
    del old["bookmarks"]["Contacts"][STATE_KEY]  # written by a version without the check
    seeded = run_tap(cfg, state=old)
    assert seeded.ids("Contacts", deleted=True) == []
    box = seeded.state()["bookmarks"]["Contacts"][STATE_KEY]
    assert "seeding" not in box
    assert len(idset.decode(box["known"])) == 15
    client_for(server, api_style="webservice").delete(grouped[1])
    after = run_tap(cfg, state=seeded.state())
    assert after.ids("Contacts", deleted=True) == [grouped[1]]


def test_a_sync_that_lists_every_deletion_keeps_no_ids(sandbox):
    contacts(sandbox, 10)
    run = run_tap(config(sandbox, modules=["Contacts"]))  # Vtiger Cloud REST sync
    assert STATE_KEY not in run.state()["bookmarks"]["Contacts"]


def test_the_id_set_round_trips_and_stays_small():
    assert idset.decode(idset.encode([])) == []
    ids = [1, 2, 3, 7, 9, 10, 11, 1000, 2**40]
    assert idset.decode(idset.encode(reversed(ids))) == ids
    assert len(idset.encode(range(1, 1_000_001))) < 200
    with pytest.raises(ValueError):
        idset.decode("r1:garbage")


#: Texts written by the run encoding, the only one before the gap encoding existed.
LEGACY = ("r1:{Wp48S^xk9=GL@E0stWa8~^|S5YJf50RRsH0s{a60^A1xm-zqx{~rJVEL@{TCQx#g00Afv<qK?JAGY&"
          "-0RR9100dcD")


def test_an_id_set_in_the_earlier_run_encoding_still_decodes():
    assert idset.decode(LEGACY) == [1, 2, 3, 7, 9, 10, 11, 1000, 2**40]


def test_scattered_ids_take_the_gap_encoding_and_round_trip():
    import random

    rng = random.Random(11)
    for spread in (2, 10, 100, 5000):
        ids = sorted(rng.sample(range(1, 2_000 * spread), 2_000))
        text = idset.encode([*ids, 2**45])  # one huge gap: the escape code
        assert text.startswith("r2:")
        assert idset.decode(text) == [*ids, 2**45]


def test_neighbouring_ids_keep_the_run_encoding():
    holes = {i for i in range(1, 100_000, 97)}  # a bulk import, 1 in 97 deleted
    text = idset.encode(i for i in range(1, 100_000) if i not in holes)
    assert text.startswith("r1:") and len(text) < 2_000


def test_one_million_ids_at_one_crmid_in_100_take_near_their_information_bound():
    import math
    import random

    ids = random.Random(7).sample(range(1, 100_000_001), 1_000_000)
    p = 0.01
    bound = 100_000_000 * -(p * math.log2(p) + (1 - p) * math.log2(1 - p)) / math.log2(85)
    assert len(idset.encode(ids)) < 1.01 * bound  # about 1.26 MB: no encoding fits 1 MB


@pytest.mark.parametrize("text", ["r2:", "r2:garbage", idset.encode(range(1, 400, 3))[:-5]])
def test_a_corrupt_gap_encoding_is_refused(text):
    with pytest.raises(ValueError):
        idset.decode(text)


def test_a_state_in_the_earlier_encoding_is_checked_and_rewritten(sandbox_factory):
    server = sandbox_factory()
    ids = contacts(server, 30)
    server.configure(sync_http_500=True)
    cfg = config(server, modules=["Contacts"], deletion_check_hours=0)
    first = run_tap(cfg)
    state = first.state()
    box = state["bookmarks"]["Contacts"][STATE_KEY]
    numbers = sorted(idset.crmid(i) for i in ids)
    box["known"] = idset._runs(numbers)  # as the earlier tap wrote it
    client_for(server).delete(ids[7])
    second = run_tap(cfg, state=state)
    assert second.ids("Contacts", deleted=True) == [ids[7]]
    after = second.state()["bookmarks"]["Contacts"][STATE_KEY]
    assert idset.decode(after["known"]) == [n for n in numbers if n != idset.crmid(ids[7])]


def restore(server, record_id: str, modifiedtime: str) -> None:
    """What Vtiger's recycle bin restore does: the row is live again and keeps the
    modifiedtime it has (the deletion's, or older), here the given one so the test decides
    where it falls against the tap's bookmark (written straight into the sandbox's database,
    as no API call restores a record)."""
    import sqlite3

    with sqlite3.connect(server.db_path, timeout=10) as db:
        db.execute("UPDATE m_Contacts SET deleted = 0, modifiedtime = ? WHERE id = ?",
                   (modifiedtime, record_id))


def deleted_then_restored(sandbox_factory, modifiedtime):
    """30 Contacts (modifiedtime BASE .. BASE + 29) read through query; the fifth is reported
    deleted by the id check, then restored with ``modifiedtime(server, client)`` and read by a
    third run (its query texts noted). The deletion's own modifiedtime (the current second)
    never matters: the restore replaces it, so no run depends on which second it starts in.
    """
    server = sandbox_factory()
    ids = contacts(server, 30)
    server.configure(sync_http_500=True)
    cfg = config(server, modules=["Contacts"], deletion_check_hours=0)
    first = run_tap(cfg)
    vt = client_for(server)
    vt.delete(ids[4])
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts", deleted=True) == [ids[4]]
    restore(server, ids[4], modifiedtime(server, vt))
    queries: list[str] = []
    third = run_tap(cfg, state=second.state(), prepare=recording(queries))
    return server, cfg, ids, third, queries


def test_a_record_reported_deleted_that_exists_again_is_emitted_live_again(sandbox_factory):
    # restored with a modifiedtime before the bookmark: only the id check can see it back
    server, cfg, ids, third, queries = deleted_then_restored(
        sandbox_factory, lambda server, vt: wire(BASE + 4))  # its own, before the deletion
    back = [r for r in third.records("Contacts") if r["id"] == ids[4]]
    assert len(back) == 1 and not back[0].get("_sdc_deleted_at")
    assert back[0]["lastname"]  # the whole record, not an id
    assert third.ids("Contacts", deleted=True) == []
    assert sum("where id in (" in q for q in queries) == 1
    client_for(server).delete(ids[4])  # deleted again: reported again
    fourth = run_tap(cfg, state=third.state())
    assert fourth.ids("Contacts", deleted=True) == [ids[4]]


def test_a_restored_record_the_incremental_read_sees_is_emitted_live_once(sandbox_factory):
    # restored with a modifiedtime after the bookmark (the first run's newest record, BASE +
    # 29) and long past: the incremental read delivers it, and the id check must not read or
    # emit it again
    _server, _cfg, ids, third, queries = deleted_then_restored(
        sandbox_factory, lambda server, vt: wire(BASE + 100))
    back = [r for r in third.records("Contacts") if r["id"] == ids[4]]
    assert len(back) == 1 and not back[0].get("_sdc_deleted_at")
    assert third.ids("Contacts", deleted=True) == []
    assert sum("where id in (" in q for q in queries) == 0


def test_a_first_run_from_start_date_keeps_only_what_it_delivered(sandbox_factory):
    server = sandbox_factory()
    old = contacts(server, 5)
    new = contacts(server, 5, start=BASE + 86400)
    server.configure(sync_http_500=True)
    cfg = config(server, modules=["Contacts"], start_date="2026-01-02T00:00:00Z")
    queries: list[str] = []
    first = run_tap(cfg, prepare=recording(queries))
    assert sorted(first.ids("Contacts")) == sorted(new)
    assert id_checks(queries) == 0  # complete already: no check on the first run
    box = first.state()["bookmarks"]["Contacts"][STATE_KEY]
    assert idset.decode(box["known"]) == sorted(idset.crmid(i) for i in new)
    client_for(server).delete(old[0])  # never delivered: nothing to flag
    second = run_tap({**cfg, "deletion_check_hours": 0}, state=first.state())
    assert second.ids("Contacts", deleted=True) == []
