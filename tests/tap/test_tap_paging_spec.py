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

from tap_vtiger.streams.modules import SYNC_PROOF_KEY
from vtiger_client import types as vtypes
from vtiger_client.errors import AuthenticationError, RetryableError, VtigerError
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
    _server.configure(flavor="cloud")  # reset keeps the flavor a test chose
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
    later = contacts(sandbox, 88, start=BASE + 2000)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = contacts_catalog(cfg)
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    exactly_once(run)
    assert set(run.ids("Contacts")) == set(ids + tie + later)
    assert sandbox.stats().get("query") == math.ceil(298 / 100)
    assert bookmark(run) == rfc3339(BASE + 2087)


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


# ------------------------------------------------------------------ the server's clock

FUTURE = "is later than the server's time"
FAR_FUTURE = {"bookmarks": {"Contacts": {"replication_key": "modifiedtime",
                                         "replication_key_value": "2099-01-01T00:00:00+00:00"}}}


def contacts_state(run) -> dict:
    return run.state()["bookmarks"]["Contacts"]


def test_a_run_right_after_another_reads_nothing_again_and_warns_nothing(sandbox, caplog):
    ids = sandbox.bulk_create("Contacts", 5)  # stamped now by the server's clock
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    with caplog.at_level(logging.WARNING):
        second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts") == []
    assert FUTURE not in caplog.text


def test_a_far_future_bookmark_starts_the_run_at_the_server_time_with_one_warning(sandbox,
                                                                                   caplog):
    old = contacts(sandbox, 5)
    recent = sandbox.bulk_create("Contacts", 1)
    sandbox.touch(recent, wire(int(time.time()) + 2))  # the server's clock, give or take
    cfg = config(sandbox, modules=["Contacts"])
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg, state=FAR_FUTURE)
    assert caplog.text.count(FUTURE) == 1
    assert "the state's bookmark 2099-01-01" in caplog.text
    assert first.ids("Contacts") == recent  # from the server's time on, not from 2099
    assert vtypes.datetime_to_unix(bookmark(first)) <= time.time() + 2
    assert not set(old) & set(first.ids("Contacts"))


def test_a_far_future_bookmark_is_put_back_to_the_server_time_on_the_query_fallback_too(
        sandbox):
    ids = contacts(sandbox, 5)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    first = run_tap(cfg, state=FAR_FUTURE)
    assert first.ids("Contacts") == []
    assert vtypes.datetime_to_unix(bookmark(first)) <= time.time() + 2
    client_for(sandbox).revise({"id": ids[1], "title": "changed"})
    time.sleep(1.1)  # query leaves the running second to the next run
    second = run_tap(cfg, state=first.state())
    assert ids[1] in second.ids("Contacts")


def test_a_far_future_bookmark_with_nothing_to_read_is_still_put_back_to_the_server_time(
        sandbox):
    ids = contacts(sandbox, 3)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg, state=FAR_FUTURE)
    assert first.ids("Contacts") == []
    assert vtypes.datetime_to_unix(bookmark(first)) <= time.time() + 2
    client_for(sandbox).revise({"id": ids[0], "title": "changed"})
    assert ids[0] in run_tap(cfg, state=first.state()).ids("Contacts")


# ------------------------------------------------------------------ sync pages


def test_sync_pages_are_read_once_each_with_a_state_after_every_page(sandbox):
    ids = contacts(sandbox, 25)
    sandbox.configure(sync_page_limit=10)
    cfg = config(sandbox, modules=["Contacts"])
    sandbox.reset_stats()
    run = run_tap(cfg)
    exactly_once(run)
    assert set(run.ids("Contacts")) == set(ids)
    calls = sandbox.stats()
    assert calls.get("sync") == 3
    assert not calls.get("query")  # no completeness check on a REST server
    bookmarks = [s["bookmarks"]["Contacts"].get("replication_key_value")
                 for s in run.states() if "Contacts" in s.get("bookmarks", {})]
    assert {rfc3339(BASE + 9), rfc3339(BASE + 19), rfc3339(BASE + 24)} <= set(bookmarks)
    assert "vtiger_sync" not in contacts_state(run)
    assert all("vtiger_ids" not in s["bookmarks"].get("Contacts", {}) for s in run.states())


def test_a_first_run_asks_sync_from_the_first_second_it_can(sandbox, caplog):
    ids = contacts(sandbox, 3)
    sandbox.reset_stats()
    with caplog.at_level(logging.WARNING):
        run = run_tap(config(sandbox, modules=["Contacts"]))
    assert sorted(run.ids("Contacts")) == sorted(ids)
    assert sandbox.stats().get("sync") == 1 and not sandbox.stats().get("query")
    assert "sync" not in caplog.text


def test_records_of_a_sync_page_come_in_modifiedtime_order_whatever_the_server_order(
        sandbox):
    ids = contacts(sandbox, 6)

    def reversed_page(n, page, *args):
        return {**page, "updated": list(reversed(page.get("updated") or []))}

    run = run_tap(config(sandbox, modules=["Contacts"]), prepare=on_sync_calls(reversed_page))
    assert run.ids("Contacts") == ids
    assert bookmark(run) == rfc3339(BASE + 5)


def test_deletions_are_left_out_when_include_deleted_is_off(sandbox):
    ids = contacts(sandbox, 4)
    cfg = config(sandbox, modules=["Contacts"], include_deleted=False)
    first = run_tap(cfg)
    client_for(sandbox).delete(ids[0])
    sandbox.touch([ids[0]], wire(BASE + 40))
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts", deleted=True) == []


# ------------------------------------------------------------------ sync unavailable


def crashing_sync(sandbox) -> None:
    """Stock Vtiger 8.2 on PHP 8: sync answers HTTP 500 with an empty body, every time."""
    sandbox.configure(crash_operations=["sync"])


def aged(state: dict, seconds: int) -> dict:
    """The state as a run ``seconds`` later sees it (verdicts are that much older)."""
    verdict = state["bookmarks"]["Contacts"].get("vtiger_sync") or {}
    if "checked_at" in verdict:
        verdict["checked_at"] -= seconds
    return state


def test_a_sync_that_crashes_is_not_asked_again_for_a_day_and_deletions_arrive_after(
        sandbox, caplog):
    ids = contacts(sandbox, 5)
    crashing_sync(sandbox)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    assert caplog.text.count("sync is not available") == 1

    vt = client_for(sandbox)
    vt.delete(ids[1])
    sandbox.touch([ids[1]], wire(BASE + 20))
    vt.revise({"id": ids[2], "title": "changed"})
    sandbox.touch([ids[2]], wire(BASE + 30))
    sandbox.reset_stats()
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts") == [ids[2]]
    assert not sandbox.stats().get("sync")  # trusted for a day: no call spent on it

    sandbox.configure(crash_operations=[])
    third = run_tap(cfg, state=aged(second.state(), 86400))
    assert third.ids("Contacts", deleted=True) == [ids[1]]
    assert "vtiger_sync" not in contacts_state(third)  # sync serves again: nothing to remember
    assert "vtiger_ids" not in contacts_state(third)  # sync lists deletions: no id check kept
    fourth = run_tap(cfg, state=third.state())
    assert fourth.ids("Contacts", deleted=None) == []


def test_a_sync_crash_is_one_warning_per_run_whatever_the_number_of_modules(sandbox, caplog):
    contacts(sandbox, 2)
    sandbox.touch(sandbox.bulk_create("Accounts", 2), wire(BASE))
    crashing_sync(sandbox)
    cfg = config(sandbox, modules=["Contacts", "Accounts"], max_retries=1)
    with caplog.at_level(logging.WARNING):
        run = run_tap(cfg)
    assert len(run.ids("Contacts")) == 2 and len(run.ids("Accounts")) == 2
    assert caplog.text.count("sync is not available") == 1


def test_a_module_sync_refuses_is_read_through_query_and_sync_is_not_asked_again(sandbox):
    ids = contacts(sandbox, 3)
    sandbox.configure(refused_modules={"sync": ["Contacts"]})
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    sandbox.reset_stats()
    run_tap(cfg, state=first.state())
    assert not sandbox.stats().get("sync")


def failing_sync(code: str, *, from_call: int):
    def action(n, page, *args):
        if n >= from_call:
            raise RetryableError(code, "the server is unwell", operation="sync")
        return page
    return action


def test_a_plain_http_500_of_sync_is_tried_again_next_run(sandbox):
    ids = contacts(sandbox, 3)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg, prepare=on_sync_calls(failing_sync("HTTP_500", from_call=1)))
    assert sorted(first.ids("Contacts")) == sorted(ids)
    sandbox.reset_stats()
    run_tap(cfg, state=first.state())
    assert sandbox.stats().get("sync") == 1


@pytest.mark.parametrize("from_call", [1, 2], ids=["first-call", "mid-run"])
def test_sync_failing_for_another_reason_fails_the_run_instead_of_switching_to_query(
        sandbox, from_call):
    contacts(sandbox, 25)
    sandbox.configure(sync_page_limit=10)
    cfg = config(sandbox, modules=["Contacts"])
    with pytest.raises(RetryableError):
        run_tap(cfg, prepare=on_sync_calls(failing_sync("HTTP_503", from_call=from_call)))


def test_deletions_during_several_query_runs_all_arrive_once_sync_works_again(sandbox):
    ids = contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    first = run_tap(cfg)  # through sync
    vt = client_for(sandbox)
    vt.delete(ids[0])
    sandbox.touch([ids[0]], wire(BASE + 10))
    sandbox.configure(sync_http_500=True)
    vt.revise({"id": ids[1], "title": "one"})
    sandbox.touch([ids[1]], wire(BASE + 20))
    second = run_tap(cfg, state=first.state())  # through query: cannot see the deletion
    vt.revise({"id": ids[2], "title": "two"})
    sandbox.touch([ids[2]], wire(BASE + 30))
    third = run_tap(cfg, state=second.state())
    assert (second.ids("Contacts"), third.ids("Contacts")) == ([ids[1]], [ids[2]])
    sandbox.configure(sync_http_500=False)
    fourth = run_tap(cfg, state=aged(third.state(), 86400))
    assert fourth.ids("Contacts", deleted=True) == [ids[0]]
    assert bookmark(fourth) == rfc3339(BASE + 30)


# ------------------------------------------------------------------ the id check (query)


def test_deletions_found_by_the_id_check_leave_the_bookmark_where_it_was(sandbox):
    ids = contacts(sandbox, 5)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"], deletion_check_hours=0, max_retries=1)
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    client_for(sandbox).delete(ids[1])
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts", deleted=True) == [ids[1]]
    assert bookmark(second) == bookmark(first) == rfc3339(BASE + 4)


def test_a_first_run_through_query_spends_no_id_check(sandbox):
    contacts(sandbox, 120)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    catalog = contacts_catalog(cfg)
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    assert len(run.ids("Contacts")) == 120
    assert sandbox.stats().get("query") == 2


def test_a_sync_crash_in_later_modules_is_still_said_at_info_level(sandbox, caplog):
    contacts(sandbox, 1)
    sandbox.touch(sandbox.bulk_create("Accounts", 1), wire(BASE))
    crashing_sync(sandbox)
    with caplog.at_level(logging.INFO):
        run_tap(config(sandbox, modules=["Contacts", "Accounts"], max_retries=1))
    assert caplog.text.count("sync crashes here too; reading through query instead") == 1


def test_a_run_says_how_many_records_of_the_bookmark_second_it_skipped(sandbox, caplog):
    contacts(sandbox, 3)
    sandbox.bulk_create("Contacts", 2, modifiedtime=wire(BASE + 10))
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    with caplog.at_level(logging.INFO):
        assert run_tap(cfg, state=first.state()).ids("Contacts") == []
    assert "Contacts: 2 records of the bookmark second skipped" in caplog.text


def test_the_run_after_query_runs_says_it_reads_their_changes_again(sandbox, caplog):
    ids = contacts(sandbox, 3)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    first = run_tap(cfg)
    sandbox.configure(sync_http_500=True)
    client_for(sandbox).revise({"id": ids[0], "title": "changed"})
    sandbox.touch([ids[0]], wire(BASE + 20))
    second = run_tap(cfg, state=first.state())
    sandbox.configure(sync_http_500=False)
    with caplog.at_level(logging.INFO):
        run_tap(cfg, state=aged(second.state(), 86400))
    assert ("Contacts: sync from 2026-01-01T00:00:01+00:00: earlier runs read through query"
            in caplog.text)


# ------------------------------------------------------------------ fields added meanwhile


@pytest.mark.parametrize(("sync_works", "field"), [(True, "cf_900"), (False, "cf_901")],
                         ids=["sync", "query-fallback"])
def test_a_field_added_after_discovery_arrives_with_a_new_schema(sandbox, sync_works, field):
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    catalog = contacts_catalog(cfg)  # discovered before the field exists
    sandbox.add_field("Contacts", field, "Score", {"name": "integer"})  # (fields outlive reset)
    ids = contacts(sandbox, 2, fields={field: "7"})
    sandbox.configure(sync_http_500=not sync_works)
    run = run_tap(cfg, catalog=catalog)
    assert [r.get(field) for r in run.records("Contacts")] == [7, 7]
    assert sorted(run.ids("Contacts")) == sorted(ids)
    schemas = [m["schema"] for m in run.messages
               if m["type"] == "SCHEMA" and m["stream"] == "Contacts"]
    assert field in schemas[-1]["properties"]


# ------------------------------------------------------------------ errors that end a run


def test_an_authentication_failure_mid_run_fails_the_run(sandbox):
    contacts(sandbox, 25)
    sandbox.configure(sync_page_limit=10)

    def revoked(n, page, *args):
        if n >= 2:
            raise AuthenticationError("INVALID_AUTH_TOKEN", "access key revoked",
                                      operation="sync")
        return page

    with pytest.raises(AuthenticationError):
        run_tap(config(sandbox, modules=["Contacts"]), prepare=on_sync_calls(revoked))


def test_a_spent_api_budget_stops_the_run_with_one_warning_and_the_next_run_resumes(
        sandbox, caplog):
    ids = contacts(sandbox, 450)
    sandbox.configure(daily_limit=1000)
    cfg = config(sandbox, modules=["Contacts"], api_budget_percent=0.3)  # 3 calls
    catalog = contacts_catalog(cfg)
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg, catalog=catalog)
    assert caplog.text.count("Stopped early, state saved") == 1
    assert 0 < len(first.ids("Contacts")) < len(ids)
    second = run_tap(config(sandbox, modules=["Contacts"]), catalog=catalog,
                     state=first.state())
    assert set(first.ids("Contacts")) | set(second.ids("Contacts")) == set(ids)


# ------------------------------------------------------------------ self-hosted (webservice.php)


def test_self_hosted_sync_of_own_records_only_is_completed_through_query(sandbox):
    sandbox.configure(flavor="self-hosted")
    bob = sandbox.add_user("bob")["id"]
    mine = sandbox.bulk_create("Contacts", 3, modifiedtime=wire(BASE))
    theirs = sandbox.bulk_create("Contacts", 3, modifiedtime=wire(BASE + 10),
                                 assigned_user_id=bob)
    cfg = config(sandbox, modules=["Contacts"], api_style="webservice")
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(mine + theirs)
    sandbox.reset_stats()
    run_tap(cfg, state=first.state())
    assert not sandbox.stats().get("sync")  # the verdict holds for a day


def test_self_hosted_sync_listing_other_owners_is_trusted_without_a_count(sandbox):
    bob = sandbox.add_user("bob")["id"]  # cloud flavor: sync lists every owner
    theirs = sandbox.bulk_create("Contacts", 3, modifiedtime=wire(BASE), assigned_user_id=bob)
    cfg = config(sandbox, modules=["Contacts"], api_style="webservice")
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(theirs)
    assert SYNC_PROOF_KEY in first.state()  # one proof for every module of this server
    assert "vtiger_ids" not in contacts_state(first)  # sync lists every deletion: no id check
    catalog = contacts_catalog(cfg)
    sandbox.reset_stats()
    run_tap(cfg, state=first.state(), catalog=catalog)
    assert sandbox.stats() == {"getchallenge": 1, "login": 1, "sync": 1}


def test_an_incremental_run_with_a_catalog_spends_one_sync_call(sandbox):
    ids = contacts(sandbox, 3)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = contacts_catalog(cfg)
    first = run_tap(cfg, catalog=catalog)
    client_for(sandbox).revise({"id": ids[0], "title": "changed"})
    sandbox.reset_stats()
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert second.ids("Contacts") == [ids[0]]
    assert sandbox.stats() == {"sync": 1}


def test_a_plain_http_500_after_another_modules_crash_is_still_a_warning(sandbox, caplog):
    contacts(sandbox, 1)
    sandbox.touch(sandbox.bulk_create("Accounts", 1), wire(BASE))

    def crash_then_500(n, page, module, *args):
        code = "EMPTY_RESPONSE" if n == 1 else "HTTP_500"
        raise RetryableError(code, f"{module} failed", operation="sync")

    with caplog.at_level(logging.WARNING):
        run = run_tap(config(sandbox, modules=["Contacts", "Accounts"]),
                      prepare=on_sync_calls(crash_then_500))
    assert len(run.ids("Contacts")) == 1 and len(run.ids("Accounts")) == 1
    assert caplog.text.count("sync is not available") == 2


# ------------------------------------------------------------------ a custom query's own key


def test_a_custom_query_pages_and_bookmarks_on_its_own_replication_key(sandbox):
    created = [sandbox.bulk_create("Contacts", 1, modifiedtime=wire(BASE + min(i, 4)))[0]
               for i in range(6)]  # createdtime BASE .. BASE + 4, the last two alike
    sandbox.touch(created[:5], wire(BASE + 100))  # changed later, in another order
    sandbox.touch(created[5:], wire(BASE + 50))
    cfg = config(sandbox, modules=["Contacts"], custom_queries=[{
        "name": "new_contacts",
        "query": "select lastname, createdtime, modifiedtime from Contacts",
        "replication_key": "createdtime"}])
    catalog = select(discover(cfg), {"new_contacts"})
    first = run_tap(cfg, catalog=catalog)
    assert first.ids("new_contacts") == created
    state = first.state()["bookmarks"]["new_contacts"]
    assert state["replication_key_value"] == rfc3339(BASE + 4)
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert second.ids("new_contacts") == []  # nothing created since; the last one unchanged


def test_sync_type_user_reads_only_the_callers_records(sandbox):
    bob = sandbox.add_user("bob")["id"]
    mine = contacts(sandbox, 3)
    contacts(sandbox, 3, start=BASE + 10, assigned_user_id=bob)
    run = run_tap(config(sandbox, modules=["Contacts"], sync_type="user"))
    assert sorted(run.ids("Contacts")) == sorted(mine)


def test_a_bookmark_within_the_clock_slack_costs_no_call_to_ask_the_servers_time(sandbox,
                                                                                 caplog):
    contacts(sandbox, 3)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = contacts_catalog(cfg)
    first = run_tap(cfg, catalog=catalog)  # (discovery answers are cached from now on)
    local = int(time.time())
    state = first.state()
    state["bookmarks"]["Contacts"]["replication_key_value"] = rfc3339(local + 2)

    def clock_at_local(tap):
        tap.client._clock = lambda: float(local)

    sandbox.reset_stats()
    with caplog.at_level(logging.WARNING):
        run_tap(cfg, catalog=catalog, state=state, prepare=clock_at_local)
    assert sandbox.stats() == {"sync": 1}
    assert FUTURE not in caplog.text


def test_turning_include_deleted_on_while_sync_is_known_to_crash_still_brings_the_deletions(
        sandbox):
    ids = contacts(sandbox, 5)
    crashing_sync(sandbox)
    first = run_tap(config(sandbox, modules=["Contacts"], include_deleted=False,
                           max_retries=1))
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    vt = client_for(sandbox)
    vt.delete(ids[0])
    sandbox.touch([ids[0]], wire(BASE + 10))
    vt.revise({"id": ids[1], "title": "changed"})
    sandbox.touch([ids[1]], wire(BASE + 20))
    second = run_tap(cfg, state=first.state())  # query: the deletion cannot be seen
    assert second.ids("Contacts", deleted=None) == [ids[1]]
    sandbox.configure(crash_operations=[])
    third = run_tap(cfg, state=aged(second.state(), 86400))
    assert third.ids("Contacts", deleted=True) == [ids[0]]


def test_self_hosted_sync_showing_no_other_owner_keeps_the_ids_for_the_deletion_check(
        sandbox):
    sandbox.configure(flavor="self-hosted")
    mine = contacts(sandbox, 3)
    run = run_tap(config(sandbox, modules=["Contacts"], api_style="webservice"))
    assert sorted(run.ids("Contacts")) == sorted(mine)
    assert "vtiger_ids" in contacts_state(run)  # its sync may hide other owners' deletions


def test_a_plain_http_500_mid_run_goes_on_through_query(sandbox):
    ids = contacts(sandbox, 25)
    sandbox.configure(sync_page_limit=10)
    run = run_tap(config(sandbox, modules=["Contacts"]),
                  prepare=on_sync_calls(failing_sync("HTTP_500", from_call=2)))
    exactly_once(run)
    assert set(run.ids("Contacts")) == set(ids)


def test_re_reading_what_query_runs_read_never_moves_the_bookmark_back(sandbox):
    ids = contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1)
    first = run_tap(cfg)
    crashing_sync(sandbox)
    for i in range(3):
        client_for(sandbox).revise({"id": ids[i], "title": "changed"})
        sandbox.touch([ids[i]], wire(BASE + 10 * (i + 1)))
    second = run_tap(cfg, state=first.state())
    assert bookmark(second) == rfc3339(BASE + 30)
    sandbox.configure(crash_operations=[])
    third = run_tap(cfg, state=aged(second.state(), 86400))  # sync re-reads from BASE + 3
    assert set(third.ids("Contacts")) == {ids[4], ids[0], ids[1]}  # (ids[2]: emitted as is)
    assert all(s["bookmarks"]["Contacts"]["replication_key_value"] == rfc3339(BASE + 30)
               for s in third.states() if "Contacts" in s.get("bookmarks", {}))


def test_a_user_scoped_sync_on_webservice_needs_no_owner_check(sandbox, caplog):
    bob = sandbox.add_user("bob")["id"]
    mine = contacts(sandbox, 3)
    contacts(sandbox, 3, start=BASE + 10, assigned_user_id=bob)
    cfg = config(sandbox, modules=["Contacts"], api_style="webservice", sync_type="user")
    catalog = contacts_catalog(cfg)
    sandbox.reset_stats()
    with caplog.at_level(logging.WARNING):
        run = run_tap(cfg, catalog=catalog)
    assert sorted(run.ids("Contacts")) == sorted(mine)
    assert not sandbox.stats().get("query")  # the user's own records are what it asked for
    assert "reading through query" not in caplog.text


def test_a_module_that_turns_to_query_after_sync_runs_still_reports_older_deletions(sandbox):
    ids = contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"], max_retries=1, deletion_check_hours=0)
    first = run_tap(cfg)  # through sync
    crashing_sync(sandbox)
    second = run_tap(cfg, state=first.state())  # through query from now on
    client_for(sandbox).delete(ids[0])  # delivered by the sync run, before query took over
    third = run_tap(cfg, state=second.state())
    assert third.ids("Contacts", deleted=True) == [ids[0]]
