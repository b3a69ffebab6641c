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
