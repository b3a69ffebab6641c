"""tap-vtiger extraction against a running sandbox over HTTP: completeness, incremental runs,
ties, resumption, deletions, both API styles, fallbacks, faults and exact API call counts."""

from __future__ import annotations

import calendar
import collections
import logging
import math
import time

import pytest
from tap_helpers import client_for, config, discover, run_tap, select, server_ids

from tap_vtiger.streams.modules import SYNC_PROOF_KEY

BASE = calendar.timegm((2026, 1, 1, 0, 0, 0))


def wire(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def spread(sandbox, ids: list[str], start: int = BASE) -> None:
    """Give each record its own modifiedtime second, in order, from ``start``."""
    for i, rid in enumerate(ids):
        sandbox.touch([rid], wire(start + i))


def contacts(sandbox, n: int, start: int | None = BASE, **kw) -> list[str]:
    ids = sandbox.bulk_create("Contacts", n, **kw)
    if start is not None:
        spread(sandbox, ids, start)
    return ids


def catalog_for(cfg: dict, *streams: str) -> dict:
    return select(discover(cfg), set(streams))


def dupes(ids: list[str]) -> dict[str, int]:
    return {k: v for k, v in collections.Counter(ids).items() if v > 1}


# ------------------------------------------------------------------ completeness


@pytest.mark.slow
@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_full_extraction_equals_the_server_for_every_demo_module(demo_sandbox, api_style):
    cfg = config(demo_sandbox, api_style=api_style)
    run = run_tap(cfg)
    client = client_for(demo_sandbox)
    checked = 0
    for module in client.listtypes()["types"]:
        try:
            expected = server_ids(client, module)
        except Exception:  # modules the API cannot query are skipped by the tap
            assert run.records(module) == [], module
            continue
        got = run.ids(module)
        assert not dupes(got), module
        assert set(got) == expected, module
        checked += 1
    assert checked >= 25
    assert run.ids("Contacts", deleted=True), "the demo has deleted contacts: reported"


def test_records_are_typed(sandbox):
    vt = client_for(sandbox)
    created = vt.create("Potentials", {"potentialname": "Deal", "amount": "1000.5",
                                       "closingdate": "2026-12-01", "probability": "12.5",
                                       "sales_stage": "Prospecting",
                                       "assigned_user_id": "19x1"})
    record = run_tap(config(sandbox, modules=["Potentials"])).records("Potentials")[0]
    assert record["id"] == created["id"]
    assert record["amount"] == 1000.5
    assert record["probability"] == 12.5
    assert record["closingdate"] == "2026-12-01"
    assert record["modifiedtime"] == created["modifiedtime"].replace(" ", "T") + "+00:00"
    assert record["assigned_user_id"] == "19x1"
    assert record["related_to"] is None  # empty reference
    assert "_sdc_deleted_at" not in record


# ------------------------------------------------------------------ incremental


def test_second_run_extracts_only_changes_and_deletions(sandbox):
    ids = contacts(sandbox, 30)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    vt = client_for(sandbox)
    vt.revise({"id": ids[3], "title": "changed"})
    vt.revise({"id": ids[7], "title": "changed"})
    vt.delete(ids[11])
    new = vt.create("Contacts", {"lastname": "New", "assigned_user_id": "19x1"})["id"]

    second = run_tap(cfg, state=first.state())
    live = set(second.ids("Contacts"))
    boundary = {ids[-1]}  # the bookmark second is re-read: its record may come again
    assert {ids[3], ids[7], new} <= live <= {ids[3], ids[7], new} | boundary
    assert second.ids("Contacts", deleted=True) == [ids[11]]
    deleted = second.records("Contacts")[-1]
    assert set(deleted) == {"id", "modifiedtime", "_sdc_deleted_at"}


def test_a_change_later_in_the_bookmark_second_is_not_missed(sandbox):
    """Vtiger's sync asks for strictly newer records: the tap re-reads the last second."""
    contacts(sandbox, 5)
    cfg = config(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    late = sandbox.bulk_create("Contacts", 1, modifiedtime=wire(BASE + 4))  # same second
    second = run_tap(cfg, state=first.state())
    assert late[0] in second.ids("Contacts")
    # the bookmark second is re-read, but its record the first run emitted is not repeated
    assert second.ids("Contacts") == [late[0]]


def test_include_deleted_false_and_start_date(sandbox):
    ids = contacts(sandbox, 10)
    vt = client_for(sandbox)
    vt.delete(ids[0])
    cfg = config(sandbox, modules=["Contacts"], include_deleted=False,
                 start_date="2026-01-01T00:00:05+00:00")
    run = run_tap(cfg)
    assert run.ids("Contacts", deleted=True) == []
    assert set(run.ids("Contacts")) == set(ids[5:])


# ------------------------------------------------------------------ ties


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "query"])
def test_1000_records_sharing_one_modifiedtime_each_arrive_exactly_once(sandbox, mode):
    before = contacts(sandbox, 5, BASE)
    tie = sandbox.bulk_create("Contacts", 1000, modifiedtime=wire(BASE + 100))
    after = contacts(sandbox, 5, BASE + 200)
    if mode == "query":
        sandbox.configure(sync_http_500=True)
    run = run_tap(config(sandbox, modules=["Contacts"]))
    got = run.ids("Contacts")
    assert not dupes(got)
    assert set(got) == set(before + tie + after)
    stamps = [r["modifiedtime"] for r in run.records("Contacts")]
    assert stamps == sorted(stamps)


# ------------------------------------------------------------------ resumption


def test_an_interrupted_run_resumes_from_its_last_state(sandbox):
    ids = contacts(sandbox, 450)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = catalog_for(cfg, "Contacts")
    partial = run_tap(cfg, catalog=catalog, interrupt_after_states=3)
    state = partial.state()
    assert state, "a STATE message is written after every page"
    done = partial.ids("Contacts")
    assert 0 < len(done) < len(ids)
    rest = run_tap(cfg, catalog=catalog, state=state)
    again = set(done) & set(rest.ids("Contacts"))
    assert set(done) | set(rest.ids("Contacts")) == set(ids)
    assert len(again) <= 1  # only the bookmark second is read twice


def test_state_never_passes_an_undelivered_record(sandbox):
    contacts(sandbox, 250)
    run = run_tap(config(sandbox, modules=["Contacts"]))
    delivered: list[str] = []
    for m in run.messages:
        if m["type"] == "RECORD":
            delivered.append(m["record"]["modifiedtime"])
        elif m["type"] == "STATE":
            mark = m["value"]["bookmarks"].get("Contacts", {}).get("replication_key_value")
            if mark:
                assert delivered and mark <= max(delivered)
    assert len(run.states()) >= 3  # one per page (3 pages) at least


# ------------------------------------------------------------------ API styles and flavors


def test_webservice_style_equals_rest(sandbox):
    ids = contacts(sandbox, 120)
    rest = run_tap(config(sandbox, modules=["Contacts"]))
    ws = run_tap(config(sandbox, modules=["Contacts"], api_style="webservice"))
    assert sorted(rest.ids("Contacts")) == sorted(ws.ids("Contacts")) == sorted(ids)
    assert rest.records("Contacts") == ws.records("Contacts")


def test_self_hosted_sync_with_only_own_records_is_completed_through_query(
    sandbox_factory, caplog
):
    server = sandbox_factory(flavor="self-hosted")
    bob = server.add_user("bob")["id"]
    mine = server.bulk_create("Contacts", 20, modifiedtime=wire(BASE))
    theirs = server.bulk_create("Contacts", 20, modifiedtime=wire(BASE + 10),
                                assigned_user_id=bob)
    cfg = config(server, modules=["Contacts"], api_style="webservice")
    with caplog.at_level(logging.WARNING):
        first = run_tap(cfg)
    assert set(first.ids("Contacts")) == set(mine + theirs)
    assert "only records of the calling user" in caplog.text
    # the verdict is remembered: the next run goes straight to query
    catalog = catalog_for(cfg, "Contacts")
    server.reset_stats()
    later = server.bulk_create("Contacts", 3, modifiedtime=wire(BASE + 20),
                               assigned_user_id=bob)
    second = run_tap(cfg, state=first.state(), catalog=catalog)
    assert set(later) <= set(second.ids("Contacts"))
    assert server.stats().get("sync", 0) == 0
    # a record of another owner read through query proves nothing about sync
    assert SYNC_PROOF_KEY not in first.state() and SYNC_PROOF_KEY not in second.state()


def test_self_hosted_sync_is_trusted_when_it_returns_other_owners(sandbox_factory):
    server = sandbox_factory()  # cloud flavor: sync sees everyone
    bob = server.add_user("bob")["id"]
    server.bulk_create("Contacts", 5, modifiedtime=wire(BASE), assigned_user_id=bob)
    cfg = config(server, modules=["Contacts"], api_style="webservice")
    first = run_tap(cfg)
    assert first.state()["bookmarks"]["Contacts"]["vtiger_sync"] == {"complete": True}
    catalog = catalog_for(cfg, "Contacts")
    server.reset_stats()
    run_tap(cfg, state=first.state(), catalog=catalog)
    assert server.stats() == {"getchallenge": 1, "login": 1, "sync": 1}


def two_modules_one_with_another_owner(server) -> tuple[str, list[str]]:
    """Contacts: one of bob's; Leads: only the caller's. Returns bob's id and the Leads."""
    bob = server.add_user("bob")["id"]
    server.bulk_create("Contacts", 3, modifiedtime=wire(BASE), assigned_user_id=bob)
    leads = server.bulk_create("Leads", 3, modifiedtime=wire(BASE))
    return bob, leads


def test_one_modules_proof_spares_every_module_the_owner_check_and_the_id_check(
        sandbox_factory):
    server = sandbox_factory()  # cloud flavor: sync sees everyone
    two_modules_one_with_another_owner(server)
    cfg = config(server, modules=["Contacts", "Leads"], api_style="webservice")
    catalog = catalog_for(cfg, "Contacts", "Leads")
    first = run_tap(cfg, catalog=catalog)
    assert first.state()[SYNC_PROOF_KEY]["module"] == "Contacts"
    assert "vtiger_ids" not in first.state()["bookmarks"]["Leads"]
    server.reset_stats()
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert server.stats() == {"getchallenge": 1, "login": 1, "sync": 2}
    assert second.ids("Leads") == [] and second.ids("Contacts") == []


def test_after_the_proof_other_owners_changes_and_deletions_still_arrive(sandbox_factory):
    server = sandbox_factory()
    bob, leads = two_modules_one_with_another_owner(server)
    cfg = config(server, modules=["Contacts", "Leads"], api_style="webservice")
    catalog = catalog_for(cfg, "Contacts", "Leads")
    first = run_tap(cfg, catalog=catalog)
    vt = client_for(server)
    bobs = server.bulk_create("Leads", 1, assigned_user_id=bob)  # now, by another owner
    vt.revise({"id": leads[1], "lastname": "Changed", "assigned_user_id": bob})
    vt.delete(leads[0])
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert sorted(second.ids("Leads")) == sorted([*bobs, leads[1]])
    assert second.ids("Leads", deleted=True) == [leads[0]]


def test_a_proof_kept_by_a_module_before_it_was_server_wide_counts_for_every_module(
        sandbox_factory):
    server = sandbox_factory()
    two_modules_one_with_another_owner(server)
    cfg = config(server, modules=["Contacts", "Leads"], api_style="webservice")
    catalog = catalog_for(cfg, "Contacts", "Leads")
    state = run_tap(cfg, catalog=catalog).state()
    del state[SYNC_PROOF_KEY]  # as a run before this change wrote it
    assert state["bookmarks"]["Contacts"]["vtiger_sync"] == {"complete": True}
    server.reset_stats()
    again = run_tap(cfg, catalog=catalog, state=state)
    assert server.stats() == {"getchallenge": 1, "login": 1, "sync": 2}
    assert again.state()[SYNC_PROOF_KEY]["module"] == "Contacts"


def test_without_a_proof_each_module_checks_its_other_owners(sandbox_factory):
    server = sandbox_factory()
    server.bulk_create("Contacts", 3, modifiedtime=wire(BASE))
    server.bulk_create("Leads", 3, modifiedtime=wire(BASE))
    cfg = config(server, modules=["Contacts", "Leads"], api_style="webservice")
    catalog = catalog_for(cfg, "Contacts", "Leads")
    first = run_tap(cfg, catalog=catalog)
    assert SYNC_PROOF_KEY not in first.state()
    server.reset_stats()
    run_tap(cfg, catalog=catalog, state=first.state())
    assert server.stats() == {"getchallenge": 1, "login": 1, "sync": 2, "query": 2}


@pytest.mark.parametrize("sync_type", ["user", "userandgroup"])
def test_sync_type_scopes_the_records_alike_through_sync_and_through_the_query_fallback(
    sandbox, sync_type
):
    bob = sandbox.add_user("bob")["id"]
    mine = contacts(sandbox, 4)
    contacts(sandbox, 4, start=BASE + 10, assigned_user_id=bob)
    grouped = contacts(sandbox, 4, start=BASE + 20, assigned_user_id="20x2")
    expected = sorted(mine + grouped) if sync_type == "userandgroup" else sorted(mine)
    cfg = config(sandbox, modules=["Contacts"], sync_type=sync_type)
    catalog = catalog_for(cfg, "Contacts")

    through_sync = run_tap(cfg, catalog=catalog)
    sandbox.configure(sync_http_500=True)
    sandbox.reset_stats()
    through_query = run_tap(cfg, catalog=catalog)

    assert sorted(through_sync.ids("Contacts")) == expected
    assert sorted(through_query.ids("Contacts")) == expected
    stats = sandbox.stats()
    assert stats.get("me") == 1  # the owner scope is asked once per run
    assert stats.get("query") == 1 + (sync_type == "userandgroup")  # + the groups


def test_sync_http_500_falls_back_to_query(sandbox, caplog):
    ids = contacts(sandbox, 150)
    sandbox.configure(sync_http_500=True)
    cfg = config(sandbox, modules=["Contacts"])
    sandbox.reset_stats()
    with caplog.at_level(logging.WARNING):
        run = run_tap(cfg, catalog=catalog_for(cfg, "Contacts"))
    assert sorted(run.ids("Contacts")) == sorted(ids)
    assert "reading through query instead" in caplog.text
    stats = sandbox.stats()
    assert stats["sync"] == 2  # the crash is retried once, then never again this run
    # 150 rows: (modifiedtime, id) keyset pages of 100 -> 2 queries
    assert stats["query"] == 2


# ------------------------------------------------------------------ faults


@pytest.mark.slow
def test_5xx_drops_html_truncation_and_429_are_survived(sandbox):
    ids = contacts(sandbox, 300)
    sandbox.configure(faults={"seed": 7, "error_rate": 0.15, "drop_rate": 0.05,
                              "html_rate": 0.05, "truncate_rate": 0.05,
                              "burst_429": {"every": 4, "length": 1, "retry_after": 0}})
    run = run_tap(config(sandbox, modules=["Contacts"], max_retries=10))
    assert sorted(run.ids("Contacts")) == sorted(ids)
    assert run.tap.client.rejected["sync"] >= 1


def test_api_budget_stops_cleanly_with_state_saved(sandbox):
    ids = contacts(sandbox, 450)
    sandbox.configure(daily_limit=1000)
    cfg = config(sandbox, modules=["Contacts"], api_budget_percent=0.3)  # 3 calls
    catalog = catalog_for(cfg, "Contacts")
    sandbox.reset_stats()
    first = run_tap(cfg, catalog=catalog)
    assert first.tap.budget_exhausted
    assert sandbox.total_calls() == 3
    assert 0 < len(first.ids("Contacts")) < len(ids)
    second = run_tap(config(sandbox, modules=["Contacts"]), catalog=catalog,
                     state=first.state())
    assert set(first.ids("Contacts")) | set(second.ids("Contacts")) == set(ids)


# ------------------------------------------------------------------ exact call counts


@pytest.mark.parametrize("n", [1, 99, 250])
def test_incremental_run_costs_ceil_n_over_100_sync_calls(sandbox, n):
    """Constant (REST, catalog given): 0 - the run is the sync pages alone. The bookmark
    second is re-read, so the first page holds N changed records + 1 boundary record:
    ceil((N + 1) / 100) pages = ceil(N / 100) unless N is a multiple of 100."""
    ids = contacts(sandbox, 300)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = catalog_for(cfg, "Contacts")
    first = run_tap(cfg, catalog=catalog)
    spread(sandbox, ids[:n], BASE + 1000)
    sandbox.reset_stats()
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert sandbox.stats() == {"sync": math.ceil((n + 1) / 100)}
    assert math.ceil((n + 1) / 100) == math.ceil(n / 100)
    # the boundary record is read again but not emitted again (unchanged since the first run)
    assert sorted(second.ids("Contacts")) == sorted(ids[:n])


def test_incremental_webservice_constant_is_login_plus_one_ownership_check(sandbox):
    """webservice.php: + getchallenge + login, + 1 count query per module while sync's
    completeness is unproven (all records owned by the caller)."""
    ids = contacts(sandbox, 300)
    cfg = config(sandbox, modules=["Contacts"], api_style="webservice")
    catalog = catalog_for(cfg, "Contacts")
    first = run_tap(cfg, catalog=catalog)
    spread(sandbox, ids[:150], BASE + 1000)
    sandbox.reset_stats()
    run_tap(cfg, catalog=catalog, state=first.state())
    assert sandbox.stats() == {"getchallenge": 1, "login": 1, "query": 1, "sync": 2}


def test_connection_test_costs_one_me_call(sandbox, tmp_path):
    from tap_helpers import run_cli

    sandbox.reset_stats()
    proc = run_cli(config(sandbox), "--test", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sandbox.stats() == {"me": 1}


# ------------------------------------------------------------------ non-entity modules


def test_users_groups_currency_are_full_tables_paged_past_100_rows(sandbox):
    for i in range(105):
        sandbox.add_user(f"user{i:03d}")
    cfg = config(sandbox, modules=["Users", "Groups", "Currency"])
    catalog = catalog_for(cfg, "Users", "Groups", "Currency")
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    users = run.ids("Users")
    assert len(users) == len(set(users)) == 106
    assert len(run.ids("Groups")) == 3 and run.ids("Currency") == ["21x1"]
    # one plain call each; Users' full first page continues with 2 ordered pages
    assert sandbox.stats() == {"query": 5}
    assert "accesskey" not in run.records("Users")[0]
    # full tables carry no bookmark: the next run reads them again
    assert not run.state()["bookmarks"].get("Users", {}).get("replication_key_value")


# ------------------------------------------------------------------ rate limits


@pytest.mark.slow
def test_the_tap_slows_down_before_the_minute_limit_instead_of_hitting_429(sandbox):
    """With 12 calls a minute and 15 pages to read, the client spreads its last calls until
    the minute resets: no call is refused. (Takes up to a minute.)"""
    ids = sandbox.bulk_create("Contacts", 15 * 100 - 1)
    for page in range(15):
        sandbox.touch(ids[page * 100:(page + 1) * 100], wire(BASE + page))
    sandbox.configure(minute_limit=12)
    cfg = config(sandbox, modules=["Contacts"])
    catalog = catalog_for(cfg, "Contacts")
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    assert sorted(run.ids("Contacts")) == sorted(ids)
    assert run.tap.client.rejected["sync"] == 0
    assert sandbox.stats() == {"sync": 15}


def test_stream_maps_and_flattening_still_apply(sandbox):
    """The fast path steps aside when the SDK's mapper has work to do."""
    contacts(sandbox, 3)
    cfg = config(sandbox, modules=["Contacts"],
                 stream_maps={"Contacts": {"__alias__": "people", "email": "__NULL__",
                                           "shout": "lastname.upper()"}})
    run = run_tap(cfg)
    assert run.records("Contacts") == []
    people = run.records("people")
    assert len(people) == 3
    assert all("email" not in r and r["shout"] == r["lastname"].upper() for r in people)
    assert run.state()["bookmarks"]["Contacts"]["replication_key_value"]
