"""What a scheduled run costs (issue 16): an unchanged run, the bookmark second, the discovery
cache and a schema that changes under a cached discovery. Call counts are exact (the sandbox's
own accounting); speed lives in `make bench`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from tap_helpers import client_for, discover, run_tap, select

BASE = 1_767_225_600  # 2026-01-01 00:00:00 UTC
NON_MODULE = {"tags", "picklist_values", "picklist_dependencies", "account_hierarchy"}


def wire(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def defaults(sandbox, **extra) -> dict:
    """Default settings: every module, tags and metadata streams on, nothing else set."""
    return {**sandbox.tap_config(), "backoff_base": 0.01, **extra}


def last_schema(run, stream: str) -> dict:
    return [m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream][-1][
        "schema"]


def module_records(run) -> int:
    return sum(1 for m in run.messages if m["type"] == "RECORD" and m["stream"] not in NON_MODULE)


# --------------------------------------------------------------------------- the unchanged run

def test_unchanged_rest_run_costs_one_call_per_module_and_emits_no_module_record(demo_sandbox):
    cfg = defaults(demo_sandbox)
    demo_sandbox.reset_stats()
    first = run_tap(cfg)
    assert demo_sandbox.stats() == {"listtypes": 1, "describe": 35, "sync": 60, "query": 9}
    demo_sandbox.reset_stats()
    second = run_tap(cfg, state=first.state())
    # 35 modules: 26 read through sync (1 call each: nothing changed), 9 full tables (Users,
    # Groups, Currency...: 1 query each); no listtypes, no describe (discovery cache)
    assert demo_sandbox.stats() == {"sync": 26, "query": 9}
    assert module_records(second) == 0
    # nor tags, nor picklist values: nothing at all is emitted again
    assert [m for m in second.messages if m["type"] == "RECORD"] == []


def test_unchanged_webservice_run_costs_one_call_per_module_plus_the_login(demo_sandbox):
    cfg = defaults(demo_sandbox, api_style="webservice")
    demo_sandbox.reset_stats()
    first = run_tap(cfg)
    # the first sync page holding another owner's record proves this server's sync lists
    # every owner's records: no module after it spends a count(*) owner check
    assert demo_sandbox.stats() == {"getchallenge": 1, "login": 1, "listtypes": 1,
                                    "describe": 35, "sync": 60, "query": 9}
    demo_sandbox.reset_stats()
    second = run_tap(cfg, state=first.state())
    # 37 = the REST run's 35 + getchallenge + login (was 56: + 19 count(*) owner checks)
    assert demo_sandbox.stats() == {"getchallenge": 1, "login": 1, "sync": 26, "query": 9}
    assert module_records(second) == 0
    assert [m for m in second.messages if m["type"] == "RECORD"] == []


def test_account_hierarchy_is_not_read_by_default(demo_sandbox):
    demo_sandbox.reset_stats()
    run = run_tap(defaults(demo_sandbox, modules=["Accounts"]))
    assert "get_account_hierarchy" not in demo_sandbox.stats()
    assert not run.records("account_hierarchy")
    assert any(r.get("account_id") for r in run.records("Accounts"))  # parents, for free


# --------------------------------------------------------------------------- the bookmark second

def test_bookmark_second_records_are_not_emitted_again(sandbox):
    ids = sandbox.bulk_create("Contacts", 5, modifiedtime=wire(BASE))
    cfg = defaults(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts") == []
    assert second.records("tags") == []
    third = run_tap(cfg, state=second.state())
    assert third.ids("Contacts") == []


def test_a_record_changed_again_within_the_bookmark_second_is_emitted(sandbox):
    """The previous run read the second, then the record changed within that same second:
    same id, same modifiedtime, new values. It must come (an id set alone would lose it)."""
    ids = sandbox.bulk_create("Contacts", 5, modifiedtime=wire(BASE))
    cfg = defaults(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    client_for(sandbox).revise({"id": ids[2], "lastname": "Changed-Within-The-Second"})
    sandbox.touch([ids[2]], wire(BASE))
    second = run_tap(cfg, state=first.state())
    assert [(r["id"], r["lastname"]) for r in second.records("Contacts")] == [
        (ids[2], "Changed-Within-The-Second")]
    third = run_tap(cfg, state=second.state())
    assert third.ids("Contacts") == []


def test_a_new_record_in_the_bookmark_second_is_emitted(sandbox):
    ids = sandbox.bulk_create("Contacts", 3, modifiedtime=wire(BASE))
    cfg = defaults(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    late = sandbox.bulk_create("Contacts", 1, modifiedtime=wire(BASE))
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts") == late
    assert set(ids).isdisjoint(second.ids("Contacts"))


def test_a_deletion_is_emitted_once(sandbox):
    ids = sandbox.bulk_create("Contacts", 3, modifiedtime=wire(BASE))
    cfg = defaults(sandbox, modules=["Contacts"])
    first = run_tap(cfg)
    client_for(sandbox).delete(ids[0])
    second = run_tap(cfg, state=first.state())
    assert second.ids("Contacts", deleted=True) == [ids[0]]
    third = run_tap(cfg, state=second.state())
    assert third.ids("Contacts", deleted=None) == []


def test_query_paging_skips_the_bookmark_second_too(sandbox):
    ids = sandbox.bulk_create("Contacts", 4, modifiedtime=wire(BASE))
    cfg = defaults(sandbox, modules=["Contacts"])
    verdict = {"mode": "query", "reason": "test", "checked_at": int(time.time())}
    first = run_tap(cfg, state={"bookmarks": {"Contacts": {"vtiger_sync": verdict}}})
    assert sorted(first.ids("Contacts")) == sorted(ids)
    client_for(sandbox).revise({"id": ids[1], "lastname": "Again"})
    sandbox.touch([ids[1]], wire(BASE))
    second = run_tap(cfg, state=first.state())
    assert [r["lastname"] for r in second.records("Contacts")] == ["Again"]


def test_full_tables_emit_only_new_or_changed_rows(sandbox):
    cfg = defaults(sandbox, modules=["Users", "Groups"])
    first = run_tap(cfg)
    assert first.ids("Users") and first.ids("Groups")
    second = run_tap(cfg, state=first.state())
    assert second.ids("Users") == [] and second.ids("Groups") == []
    added = sandbox.add_user("second.user", "Second", "User")
    third = run_tap(cfg, state=second.state())
    assert third.ids("Users") == [added["id"]]


def test_full_tables_are_whole_when_activate_version_is_on(sandbox):
    cfg = defaults(sandbox, modules=["Users"], emit_activate_version_messages=True)
    first = run_tap(cfg)
    second = run_tap(cfg, state=first.state())
    assert second.ids("Users") == first.ids("Users") != []


# --------------------------------------------------------------------------- discovery cache

def test_discovery_is_cached_between_runs(sandbox):
    cfg = defaults(sandbox, modules=["Contacts", "Accounts"])
    sandbox.reset_stats()
    run_tap(cfg)
    assert sandbox.stats()["describe"] == 2 and sandbox.stats()["listtypes"] == 1
    sandbox.reset_stats()
    run_tap(cfg)
    assert "describe" not in sandbox.stats() and "listtypes" not in sandbox.stats()


def test_discovery_cache_off_discovers_every_run(sandbox):
    cfg = defaults(sandbox, modules=["Contacts"], discovery_cache="off")
    run_tap(cfg)
    sandbox.reset_stats()
    run_tap(cfg)
    assert sandbox.stats()["describe"] == 1


def test_discovery_cache_expires_after_its_ttl(sandbox):
    cfg = defaults(sandbox, modules=["Contacts"], discovery_cache_ttl=0)
    run_tap(cfg)
    sandbox.reset_stats()
    run_tap(cfg)
    assert sandbox.stats()["describe"] == 1


def test_a_new_field_costs_one_describe_and_reaches_the_records(sandbox):
    cfg = defaults(sandbox, modules=["Contacts"])
    ids = sandbox.bulk_create("Contacts", 2, modifiedtime=wire(BASE))
    first = run_tap(cfg)
    sandbox.add_field("Contacts", "cf_loyalty", "Loyalty")
    client_for(sandbox).revise({"id": ids[0], "cf_loyalty": "gold"})
    sandbox.reset_stats()
    second = run_tap(cfg, state=first.state())
    assert sandbox.stats().get("describe") == 1
    assert "cf_loyalty" in last_schema(second, "Contacts")["properties"]
    # the other record of the bookmark second comes again: it now carries the field (empty)
    assert {r["id"]: r.get("cf_loyalty") for r in second.records("Contacts")} == {
        ids[0]: "gold", ids[1]: ""}
    client_for(sandbox).revise({"id": ids[1], "cf_loyalty": "silver"})
    sandbox.reset_stats()
    third = run_tap(cfg, state=second.state())
    assert "describe" not in sandbox.stats()  # the cache learned the field
    assert [r.get("cf_loyalty") for r in third.records("Contacts")] == ["silver"]


def test_an_older_catalog_takes_new_fields_from_the_cache_without_a_call(sandbox):
    cfg = defaults(sandbox, modules=["Contacts"])
    catalog = select(discover(cfg), {"Contacts"})  # the catalog Meltano keeps
    rid = sandbox.bulk_create("Contacts", 1)[0]
    sandbox.add_field("Contacts", "cf_region", "Region")
    client_for(sandbox).revise({"id": rid, "cf_region": "north"})
    first = run_tap(cfg, catalog=catalog)
    assert [r.get("cf_region") for r in first.records("Contacts")] == ["north"]
    client_for(sandbox).revise({"id": rid, "cf_region": "south"})
    sandbox.reset_stats()
    second = run_tap(cfg, catalog=catalog, state=first.state())
    assert "describe" not in sandbox.stats()
    assert [r.get("cf_region") for r in second.records("Contacts")] == ["south"]


@pytest.mark.parametrize("fields", [["cf_undeclared"]])
def test_a_field_describe_does_not_declare_costs_one_describe_per_run_at_most(sandbox, fields):
    cfg = defaults(sandbox, modules=["Contacts"])
    sandbox.bulk_create("Contacts", 250, modifiedtime=wire(BASE))
    run_tap(cfg)  # fills the cache
    tap_run = run_tap(cfg, prepare=lambda tap: _inject_field(tap, fields[0]))
    assert tap_run.tap.client.calls.get("describe", 0) == 1
    assert fields[0] not in last_schema(tap_run, "Contacts")["properties"]


def _inject_field(tap, name: str) -> None:
    """Make every sync page carry a field no describe declares."""
    client = tap.client
    original = client.sync

    def sync(*args, **kwargs):
        page = original(*args, **kwargs)
        for record in page.get("updated") or []:
            record[name] = "x"
        return page

    client.sync = sync


def test_the_documented_measurement_script_reports_the_unchanged_run():
    """docs/performance.md's command: `.venv/bin/python scripts/run_cost.py`."""
    import json
    import subprocess

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, str(root / "scripts" / "run_cost.py"), "--api-style",
                          "rest", "--json"], capture_output=True, text=True, check=True,
                         cwd=root, timeout=600).stdout
    [result] = json.loads(out)
    assert result["second"]["calls"] == {"query": 9, "sync": 26}
    assert result["second"]["module_records"] == 0
    assert "get_account_hierarchy" not in result["first"]["calls"]
