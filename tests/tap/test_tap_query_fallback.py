"""The query fallback pages on modifiedtime so that records inserted or changed while it pages
are neither lost nor duplicated: changed records move to "now", past the run's upper bound, and
arrive with the next run; rows leaving a tie second while it is paged shift no other row past
the (modifiedtime, id) keyset."""

from __future__ import annotations

import collections
import logging
import threading
import time

import pytest
from tap_helpers import client_for, config, run_tap
from test_tap_sync import BASE, contacts, wire


def on_query(when, action):
    """A ``prepare`` hook: run ``action()`` once, before the first query matching ``when``."""
    def prepare(tap):
        original = tap.client.query
        lock = threading.Lock()
        done = []

        def query(text):
            with lock:
                if not done and when(text):
                    done.append(text)
                    action()
            return original(text)

        tap.client.query = query
    return prepare


def counts(run, stream="Contacts"):
    return collections.Counter(run.ids(stream))


@pytest.mark.slow
def test_changes_and_inserts_during_paging_are_neither_lost_nor_duplicated(sandbox):
    ids = contacts(sandbox, 350)
    sandbox.configure(sync_http_500=True)
    vt = client_for(sandbox)
    created = []

    def meanwhile():
        vt.revise({"id": ids[10], "title": "changed after it was read"})
        vt.revise({"id": ids[250], "title": "changed before it was read"})
        created.append(vt.create("Contacts", {"lastname": "New",
                                              "assigned_user_id": "19x1"})["id"])

    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg, prepare=on_query(lambda q: "id >" in q, meanwhile))  # 2nd page
    seen = counts(first)
    assert max(seen.values()) == 1, "nothing twice within a run"
    assert set(seen) == set(ids) - {ids[250]}  # 250 moved past the run's upper bound
    time.sleep(1.1)  # the query fallback leaves the running second to the next run
    second = run_tap(cfg, state=first.state())
    assert {ids[10], ids[250], created[0]} <= set(second.ids("Contacts"))
    assert set(first.ids("Contacts")) | set(second.ids("Contacts")) == set(ids) | set(created)


@pytest.mark.slow
def test_a_tie_second_whose_rows_move_while_paged_is_reread_without_duplicates(sandbox, caplog):
    tie = sandbox.bulk_create("Contacts", 250, modifiedtime=wire(BASE + 100))
    sandbox.configure(sync_http_500=True)
    vt = client_for(sandbox)
    moved = sorted(tie, key=lambda i: int(i.split("x")[1]))[:5]

    def meanwhile():
        for rid in moved:
            vt.revise({"id": rid, "title": "moved out of the second"})

    cfg = config(sandbox, modules=["Contacts"])
    with caplog.at_level(logging.INFO):
        first = run_tap(cfg, prepare=on_query(lambda q: "modifiedtime = " in q, meanwhile))
    seen = counts(first)
    assert set(seen) == set(tie)
    assert max(seen.values()) == 1
    time.sleep(1.1)
    second = run_tap(cfg, state=first.state())
    assert set(moved) <= set(second.ids("Contacts"))


# ------------------------------------------------------------------ deletions across an outage


def _seed_whose_first_calls_answer_500(calls: int) -> int:
    """A fault seed under which the first ``calls`` faulted calls all answer a plain HTTP 500
    (the injector is deterministic: same seed, same statuses)."""
    from vtiger_sandbox.faults import FaultInjector

    for seed in range(1000):
        injector = FaultInjector()
        statuses = [injector.decide({"seed": seed, "error_rate": 1}, "sync").status
                    for _ in range(calls)]
        if statuses == [500] * calls:
            return seed
    raise AssertionError("no such seed")


@pytest.mark.parametrize("maps", [None, {"Contacts": {"mapped": "'yes'"}}],
                         ids=["fast-writer", "sdk-per-record-path"])
def test_deletions_during_a_sync_outage_arrive_once_sync_works_again(sandbox, caplog, maps):
    ids = contacts(sandbox, 30)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1,
                 **({"stream_maps": maps} if maps else {}))
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)

    # sync answers HTTP 500 on every try: this run reads through query, which sees the
    # revised record but cannot see the deleted one
    vt = client_for(sandbox)
    vt.delete(ids[3])
    vt.revise({"id": ids[5], "description": "during the outage"})
    # the deletion, then the change, well before the bookmark this run will reach ("now"
    # would be past the query's upper bound, the current second)
    assert sandbox.touch([ids[3]], wire(BASE + 50)) == 1
    sandbox.touch([ids[5]], wire(BASE + 100))
    sandbox.configure(faults={"seed": _seed_whose_first_calls_answer_500(2), "error_rate": 1,
                              "operations": ["sync"]})
    with caplog.at_level(logging.WARNING):
        outage = run_tap(cfg, state=first.state())
    sandbox.configure(faults={})
    assert "reading through query instead" in caplog.text
    assert outage.ids("Contacts") == [ids[5]]  # the bookmark second is not repeated
    assert outage.ids("Contacts", deleted=True) == []
    verdict = outage.state()["bookmarks"]["Contacts"]["vtiger_sync"]
    assert "mode" not in verdict  # a plain 500 is not trusted as "sync never works"
    assert verdict["gap_from"] < calendar_seconds(first.records("Contacts")[-1]["modifiedtime"])

    # sync is back: it starts where query took over, so the deletion is not lost. Small pages:
    # the first ones end below the bookmark, which the SDK must not take for unsorted output.
    sandbox.configure(sync_page_limit=1)
    after = run_tap(cfg, state=outage.state())
    sandbox.configure(sync_page_limit=100)
    assert after.ids("Contacts", deleted=True) == [ids[3]]
    assert ids[5] in after.ids("Contacts")
    assert "vtiger_sync" not in after.state()["bookmarks"]["Contacts"]  # the gap is closed
    assert (after.state()["bookmarks"]["Contacts"]["replication_key_value"]
            >= outage.state()["bookmarks"]["Contacts"]["replication_key_value"])

    # and the run after that is an ordinary incremental run again: one sync page from the
    # bookmark's own second (re-read on purpose), not from the gap
    sandbox.reset_stats()
    again = run_tap(cfg, state=after.state())
    assert sandbox.stats().get("sync") == 1
    bookmark = after.state()["bookmarks"]["Contacts"]["replication_key_value"]
    assert all(r["modifiedtime"] >= bookmark for r in again.records("Contacts"))


def calendar_seconds(text: str) -> int:
    from vtiger_client import types as vtypes

    return vtypes.datetime_to_unix(text)


# ------------------------------------------------------------------ modules the API refuses


def test_a_module_sync_refuses_is_read_through_query_and_the_verdict_is_kept(sandbox, caplog):
    ids = contacts(sandbox, 120)
    sandbox.configure(refused_modules={"sync": ["Contacts"]})
    cfg = config(sandbox, modules=["Contacts"])
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    assert "sync is not available (sync: ACCESS_DENIED" in caplog.text
    verdict = first.state()["bookmarks"]["Contacts"]["vtiger_sync"]
    assert verdict["mode"] == "query" and "ACCESS_DENIED" in verdict["reason"]

    sandbox.reset_stats()
    run_tap(cfg, state=first.state())
    assert sandbox.stats().get("sync", 0) == 0  # trusted for a day: no call spent on sync


def test_a_full_table_module_the_api_cannot_query_is_skipped_with_a_warning(sandbox, caplog):
    ids = contacts(sandbox, 3)
    sandbox.configure(refused_modules={"query": ["Currency"]})
    cfg = config(sandbox, modules=["Contacts", "Currency"])
    with caplog.at_level(logging.WARNING):
        run = run_tap(cfg)
    assert run.records("Currency") == []
    assert "Currency: cannot be read through query" in caplog.text
    assert sorted(run.ids("Contacts")) == sorted(ids)  # the other streams are unaffected
