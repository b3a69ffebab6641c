"""Exact API call counts of the tap's extraction paths (counts, never times: see scripts/bench.py
for speed).

Not repeated here because tests/tap and tests/target already pin them: incremental sync runs
(test_tap_sync.py), discovery with a catalog costing no describe (test_tap_discovery.py), the
target's new/changed/unchanged batches and dry runs (test_target_sandbox.py). What this file
adds: full extractions through sync and through query paging cost the minimum ceil(N / 100)
(+1 empty page when N is a multiple of 100 for query), ties included, and query pages fetched
ahead stay exact (each record once) when calls fail and are retried.
"""

from __future__ import annotations

import collections
import math
import time

import pytest
from tap_helpers import config, discover, run_tap, select

BASE = 1_767_225_600  # 2026-01-01 00:00:00 UTC


def wire(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def ten_per_second(sandbox, n: int, start: int = BASE) -> list[str]:
    """N Contacts, ten per modifiedtime second (like bulk imports, and the benchmark seed)."""
    ids = sandbox.bulk_create("Contacts", n)
    for k in range(0, n, 10):
        sandbox.touch(ids[k:k + 10], wire(start + k // 10))
    return ids


def query_mode() -> dict:
    """State that sends Contacts straight to query paging (sync judged unusable today)."""
    verdict = {"mode": "query", "reason": "test", "checked_at": int(time.time())}
    return {"bookmarks": {"Contacts": {"vtiger_sync": verdict}}}


def setup(sandbox) -> tuple[dict, dict]:
    cfg = config(sandbox, modules=["Contacts"])
    return cfg, select(discover(cfg), {"Contacts"})


@pytest.mark.parametrize("n", [250, 300])
def test_full_sync_extraction_costs_ceil_n_over_100(sandbox, n):
    ids = ten_per_second(sandbox, n)
    cfg, catalog = setup(sandbox)
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog)
    assert sandbox.stats() == {"sync": math.ceil(n / 100)}
    assert sorted(run.ids("Contacts")) == sorted(ids)


@pytest.mark.parametrize(("n", "calls"), [(250, 3), (300, 4)])
def test_full_query_extraction_costs_ceil_n_over_100(sandbox, n, calls):
    """(modifiedtime, id) keyset: 100 new rows per call; a full last page needs one more
    (empty) call to know it was the last."""
    ids = ten_per_second(sandbox, n)
    cfg, catalog = setup(sandbox)
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog, state=query_mode())
    assert sandbox.stats() == {"query": calls}
    assert calls <= math.ceil(n / 100) + 1
    assert sorted(run.ids("Contacts")) == sorted(ids)


def test_query_paging_through_a_250_row_tie_second_costs_no_extra_call(sandbox):
    tie = sandbox.bulk_create("Contacts", 250, modifiedtime=wire(BASE))
    rest = ten_per_second(sandbox, 60, BASE + 10)
    cfg, catalog = setup(sandbox)
    sandbox.reset_stats()
    run = run_tap(cfg, catalog=catalog, state=query_mode())
    assert sandbox.stats() == {"query": 4}  # ceil(310 / 100)
    seen = collections.Counter(run.ids("Contacts"))
    assert set(seen) == set(tie) | set(rest) and max(seen.values()) == 1


def test_incremental_query_extraction_costs_ceil_changed_over_100(sandbox):
    ids = ten_per_second(sandbox, 300)
    cfg, catalog = setup(sandbox)
    first = run_tap(cfg, catalog=catalog, state=query_mode())
    state = first.state()
    for k in range(0, 150, 10):
        sandbox.touch(ids[k:k + 10], wire(BASE + 1000 + k // 10))
    sandbox.reset_stats()
    second = run_tap(cfg, catalog=catalog, state=state)
    # the bookmark second (10 records) is re-read: 160 rows, 2 calls = ceil(150 / 100)
    assert sandbox.stats() == {"query": 2}
    assert set(ids[:150]) <= set(second.ids("Contacts"))


def test_prefetched_query_pages_survive_faults_each_record_once(sandbox):
    ids = ten_per_second(sandbox, 450)
    cfg, catalog = setup(sandbox)
    cfg = {**cfg, "backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 10}
    sandbox.configure(faults={"seed": 5, "error_rate": 0.2, "drop_rate": 0.1,
                              "truncate_rate": 0.1, "operations": ["query"]})
    run = run_tap(cfg, catalog=catalog, state=query_mode())
    seen = collections.Counter(run.ids("Contacts"))
    assert set(seen) == set(ids) and max(seen.values()) == 1
    assert sum(sandbox.stats().values()) > 5  # faults happened and were retried
