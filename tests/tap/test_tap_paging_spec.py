"""Specification of where a run starts and how it pages (issue 21 items 7 and 8), seen from
the records and state a user gets from tap-vtiger against the sandbox:

- ``start_date`` is the first second read (inclusive); nothing older is read again;
- sync failing in the middle of a run: the run goes on through query and misses nothing, not
  even the deletions query cannot see (they come with the next run that can use sync);
- a server whose sync says "more" without moving on ends the run with one line, not a loop;
- a deletion is stamped with the server's time of its page, never before the run's bookmark;
- the query fallback reads up to the second before the one it runs in: a record changed in the
  running second comes with the next run, once.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time

import pytest
from tap_helpers import client_for, config, discover, run_tap, select
from test_tap_sync import BASE, contacts, wire

from vtiger_client import types as vtypes
from vtiger_client.errors import VtigerError
from vtiger_sandbox.testing import SandboxServer


@pytest.fixture(scope="module")
def _server(tmp_path_factory):
    with SandboxServer(tmp_path_factory.mktemp("paging") / "sandbox.sqlite") as server:
        yield server


@pytest.fixture
def sandbox(_server):
    """An empty sandbox per test (one server for the file, reset: `make mutation` runs this
    file once per mutant)."""
    _server.reset()
    return _server


def rfc3339(epoch: int) -> str:
    return vtypes.unix_to_datetime(epoch)


def bookmark(run) -> str:
    return run.state()["bookmarks"]["Contacts"]["replication_key_value"]


def exactly_once(run) -> collections.Counter:
    seen = collections.Counter(run.ids("Contacts"))
    assert max(seen.values(), default=1) == 1, "no record twice in one run"
    return seen


def contacts_catalog(cfg: dict) -> dict:
    return select(discover(cfg), {"Contacts"})


def on_sync_calls(action):
    """A ``prepare`` hook: ``action(n, page)`` sees (and may replace) the n-th sync answer."""
    def prepare(tap):
        original = tap.client.sync
        lock = threading.Lock()
        calls = []

        def sync(*args, **kwargs):
            page = original(*args, **kwargs)
            with lock:
                calls.append(args)
                n = len(calls)
            return action(n, page, *args)

        tap.client.sync = sync
    return prepare


# ------------------------------------------------------------------ start_date


@pytest.mark.parametrize("sync_works", [True, False], ids=["sync", "query-fallback"])
def test_start_date_is_the_first_second_read_and_older_records_are_not_read(sandbox,
                                                                            sync_works):
    ids = contacts(sandbox, 10)  # one a second from BASE
    sandbox.configure(sync_http_500=not sync_works)
    cfg = config(sandbox, modules=["Contacts"], start_date=rfc3339(BASE + 5))
    run = run_tap(cfg)
    assert sorted(run.ids("Contacts")) == sorted(ids[5:])  # BASE + 5 itself is included


def test_start_date_with_a_utc_offset_means_the_same_instant(sandbox):
    ids = contacts(sandbox, 10)
    cfg = config(sandbox, modules=["Contacts"], start_date="2026-01-01T02:00:07+02:00")
    assert sorted(run_tap(cfg).ids("Contacts")) == sorted(ids[7:])


def test_a_bookmark_in_the_state_wins_over_an_earlier_start_date(sandbox):
    ids = contacts(sandbox, 10)
    cfg = config(sandbox, modules=["Contacts"], start_date=rfc3339(BASE))
    first = run_tap(cfg)
    client_for(sandbox).revise({"id": ids[2], "title": "changed"})
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts") == [ids[2]]


# ------------------------------------------------------------------ sync failing mid-run


def test_sync_failing_mid_run_goes_on_through_query_and_misses_nothing(sandbox, caplog):
    ids = contacts(sandbox, 250)  # three sync pages of 100
    vt = client_for(sandbox)
    vt.delete(ids[200])
    sandbox.touch([ids[200]], wire(BASE + 200))  # deleted within what the failing run reads
    vt.revise({"id": ids[0], "title": "changed last"})
    sandbox.touch([ids[0]], wire(BASE + 300))  # ...and a change after that deletion

    def fail_after_first_page(n, page, *args):
        if n == 1:  # from the next call on, sync crashes as stock 8.2 does
            sandbox.configure(sync_http_500=True)
        return page

    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg, prepare=on_sync_calls(fail_after_first_page))
    assert "sync failed mid-run" in caplog.text
    exactly_once(first)
    assert set(first.ids("Contacts")) == set(ids) - {ids[200]}
    assert bookmark(first) == rfc3339(BASE + 300)

    # sync works again: the deletion query could not see is delivered, and the bookmark
    # moves on to the latest change (re-reading the older records does not hold it back)
    sandbox.configure(sync_http_500=False)
    vt.revise({"id": ids[5], "title": "changed since"})
    sandbox.touch([ids[5]], wire(BASE + 400))
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts", deleted=True) == [ids[200]]
    assert ids[5] in second.ids("Contacts")
    exactly_once(second)
    assert bookmark(second) == rfc3339(BASE + 400)


# ------------------------------------------------------------------ a sync that never moves on


def test_a_sync_that_says_more_without_moving_on_ends_the_run_with_one_line(sandbox):
    contacts(sandbox, 3)
    calls = []

    def stuck(n, page, module, since, *rest):
        calls.append(since)
        if n > 3:
            raise AssertionError("the tap keeps calling a sync that does not move on")
        return {**page, "more": True, "lastModifiedTime": since}

    cfg = config(sandbox, modules=["Contacts"])
    with pytest.raises(VtigerError) as raised:
        run_tap(cfg, prepare=on_sync_calls(stuck))
    assert raised.value.code == "SYNC_STUCK"
    assert "\n" not in str(raised.value) and "Contacts" in str(raised.value)
    assert len(calls) == 1


def test_a_sync_that_says_no_more_is_not_asked_again(sandbox):
    contacts(sandbox, 3)
    calls = []

    def count(n, page, *args):
        calls.append(n)
        return page

    run = run_tap(config(sandbox, modules=["Contacts"]), prepare=on_sync_calls(count))
    assert len(run.ids("Contacts")) == 3
    assert calls == [1]


# ------------------------------------------------------------------ deletion stamps


def test_a_deletion_is_stamped_with_the_server_time_of_its_page(sandbox):
    ids = contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    client_for(sandbox).delete(ids[1])
    sandbox.touch([ids[1]], wire(BASE + 40))  # the server's time of the deletion
    second = run_tap(cfg, state=first.state())
    [deleted] = [r for r in second.records("Contacts") if r.get("_sdc_deleted_at")]
    assert deleted["id"] == ids[1]
    assert deleted["_sdc_deleted_at"] == deleted["modifiedtime"] == rfc3339(BASE + 40)
    assert bookmark(second) == rfc3339(BASE + 40)


def test_a_deletion_from_a_sync_without_last_modified_time_never_goes_before_the_bookmark(
        sandbox):
    ids = contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    assert bookmark(first) == rfc3339(BASE + 4)
    client_for(sandbox).delete(ids[1])
    sandbox.touch([ids[1]], wire(BASE + 40))

    def without_last_modified_time(n, page, *args):
        return {k: v for k, v in page.items() if k != "lastModifiedTime"}

    second = run_tap(cfg, state=first.state(), prepare=on_sync_calls(without_last_modified_time))
    [deleted] = [r for r in second.records("Contacts") if r.get("_sdc_deleted_at")]
    assert deleted["id"] == ids[1]
    # the earliest second the run could know it for: the bookmark second it re-read, neither
    # earlier (the state would go back) nor later (the state would pass unread changes)
    assert deleted["_sdc_deleted_at"] == rfc3339(BASE + 4)
    assert bookmark(second) == bookmark(first)


# ------------------------------------------------------------------ query paging


def test_query_fallback_reads_every_record_once_across_ties_at_page_boundaries(sandbox):
    ids = contacts(sandbox, 80)
    tie = sandbox.bulk_create("Contacts", 130, modifiedtime=wire(BASE + 1000))
    later = contacts(sandbox, 40, start=BASE + 2000)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = contacts_catalog(cfg)
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    exactly_once(run)
    assert set(run.ids("Contacts")) == set(ids + tie + later)
    assert sandbox.stats().get("query") == math.ceil(250 / 100)
    assert bookmark(run) == rfc3339(BASE + 2039)


def test_query_fallback_leaves_the_running_second_to_the_next_run(sandbox):
    ids = contacts(sandbox, 3)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = contacts_catalog(cfg)
    previous_second = sandbox.bulk_create("Contacts", 1)[0]
    sandbox.touch([previous_second], wire(int(time.time()) - 1))
    running_second = []

    def change_now(tap):
        original = tap.client.query

        def query(text):
            if not running_second and "Contacts" in text:  # the run's first page
                running_second.extend(sandbox.bulk_create("Contacts", 1))
                sandbox.touch(running_second, wire(int(time.time())))
            return original(text)

        tap.client.query = query

    first = run_tap(cfg, catalog=catalog, prepare=change_now)
    assert set(first.ids("Contacts")) == {*ids, previous_second}
    time.sleep(1.1)
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert second.ids("Contacts") == running_second
