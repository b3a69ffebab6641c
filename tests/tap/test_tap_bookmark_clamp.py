"""The bookmark never passes the server's clock: a record stamped in the future (clock skew,
imports) or a far-future bookmark in a given state would otherwise hide every later change."""

from __future__ import annotations

import logging
import time

import pytest
from tap_helpers import client_for, config, run_tap
from test_tap_sync import contacts, wire

from vtiger_client import types as vtypes

FUTURE = "is later than the server's time"


def bookmark_seconds(run) -> int:
    return vtypes.datetime_to_unix(
        run.state()["bookmarks"]["Contacts"]["replication_key_value"])


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_a_record_stamped_in_the_future_does_not_hide_later_changes(sandbox, caplog,
                                                                    api_style):
    ids = contacts(sandbox, 20)
    sandbox.touch(ids[-3:], wire(int(time.time()) + 365 * 86400))
    cfg = config(sandbox, modules=["Contacts"], api_style=api_style)
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    assert bookmark_seconds(first) <= time.time() + 2
    assert caplog.text.count(FUTURE) == 1  # once, however many such records

    vt = client_for(sandbox, api_style=api_style)
    later = vt.create("Contacts", {"lastname": "Later", "assigned_user_id": "19x1"})["id"]
    vt.revise({"id": ids[0], "title": "changed after the first run"})
    second = run_tap(cfg, state=first.state())
    assert {later, ids[0]} <= set(second.ids("Contacts"))
    assert bookmark_seconds(second) <= time.time() + 2


FAR_FUTURE = {"bookmarks": {"Contacts": {"replication_key": "modifiedtime",
                                         "replication_key_value": "2099-01-01T00:00:00+00:00"}}}


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_a_far_future_bookmark_in_the_given_state_is_clamped_to_the_server_time(
    sandbox, caplog, api_style
):
    ids = contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"], api_style=api_style)
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg, state=FAR_FUTURE)
    assert caplog.text.count(FUTURE) == 1
    assert "the state's bookmark 2099-01-01" in caplog.text
    assert bookmark_seconds(first) <= time.time() + 2
    client_for(sandbox, api_style=api_style).revise({"id": ids[2], "title": "changed"})
    second = run_tap(cfg, state=first.state())
    assert ids[2] in second.ids("Contacts")


def test_a_far_future_bookmark_is_clamped_on_the_query_fallback_too(sandbox):
    ids = contacts(sandbox, 5)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg, state=FAR_FUTURE)
    assert bookmark_seconds(first) <= time.time() + 2
    client_for(sandbox).revise({"id": ids[1], "title": "changed"})
    time.sleep(1.1)  # query leaves the running second to the next run
    second = run_tap(cfg, state=first.state())
    assert ids[1] in second.ids("Contacts")


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_a_local_clock_behind_the_server_neither_warns_nor_reads_again(sandbox, caplog,
                                                                       api_style):
    ids = sandbox.bulk_create("Contacts", 30)  # stamped now, by the server's clock
    cfg = config(sandbox, modules=["Contacts"], api_style=api_style)
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)

    def ten_minutes_slow(tap):
        tap.client._clock = lambda: time.time() - 600

    with caplog.at_level(logging.WARNING):
        second = run_tap(cfg, state=first.state(), prepare=ten_minutes_slow)
    assert FUTURE not in caplog.text
    assert second.ids("Contacts") == []  # the bookmark second was emitted unchanged already
