"""What a scheduled run costs (issue 16): the `make bench` rows for API calls of a first and an
unchanged run on the demo data, the CPU of default settings against modules alone, and the share
of Vtiger Cloud's per-minute limit the tap and the target reach (sandbox editions, time scaled).

Called by scripts/bench.py (section ``cost``); rows go through ``bench.row``.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_tap  # noqa: E402
import bench_target  # noqa: E402
import run_cost  # noqa: E402

from tap_vtiger.tap import TapVtiger  # noqa: E402
from vtiger_sandbox.ratelimit import EDITIONS  # noqa: E402
from vtiger_sandbox.testing import SandboxServer  # noqa: E402

Row = t.Callable[..., None]
#: The rate limiter's clock runs this much faster: one real second is a limiter minute.
TIME_SCALE = 60.0
#: Windows (limiter minutes) each throughput run spans.
WINDOWS = 4


def calls_rows(row: Row) -> None:
    """First and unchanged run on the demo data, REST, default settings (scripts/run_cost.py)."""
    result = run_cost.measure("rest", {})
    first, second = result["first"], result["second"]
    modules = first["calls"].get("describe", 0)
    row("demo, first run (REST, defaults): calls", f"{first['total_calls']} "
        f"{first['calls']} (was 561: 456 get_account_hierarchy)")
    minimum = first["calls"].get("sync", 0) + first["calls"].get("query", 0)
    discovery = 1 + modules
    row("demo, first run: calls over paging + discovery", f"{first['total_calls']} = "
        f"{minimum} pages + {discovery} discovery",
        "<= pages + discovery", first["total_calls"] <= minimum + discovery)
    row("demo, unchanged run: calls", f"{second['total_calls']} {second['calls']} "
        f"for {modules} modules (was 72)", "<= modules + 1",
        second["total_calls"] <= modules + 1)
    describes = second["calls"].get("describe", 0) + second["calls"].get("listtypes", 0)
    row("demo, unchanged run: discovery calls", str(describes), "0", describes == 0)
    row("demo, unchanged run: module records emitted", f"{second['module_records']} (was 162)",
        "0", second["module_records"] == 0)


def cpu_rows(row: Row, tmp: Path, n: int, repeat: int) -> None:
    """Default settings (tags, picklist values...) against the modules alone, untagged data."""
    with SandboxServer(tmp / "cost-cpu.sqlite", seed=str(n), start_timeout=600) as srv:
        base = {**srv.tap_config(), "modules": ["Contacts"]}
        alone = {**base, **bench_tap.QUIET}

        def cpu(cfg: dict) -> float:
            tap = TapVtiger(config=cfg, parse_env_config=False)
            _ = tap.streams  # discovery before the clock starts
            started = time.process_time()
            with bench_tap.devnull_stdout():
                tap.sync_all()
            return time.process_time() - started

        cpu(base)  # warm the discovery cache and the sandbox
        ratios, seconds = [], []
        for _ in range(repeat):
            a, d = cpu(alone), cpu(base)
            ratios.append(d / a)
            seconds.append((a, d))
        ratio = sorted(ratios)[len(ratios) // 2]
        a, d = sorted(seconds)[len(seconds) // 2]
    row(f"CPU, {n:,} untagged Contacts: default settings / modules alone",
        f"{ratio:.2f}x ({d:.2f} s vs {a:.2f} s; was 5.2 s vs 2.5 s per 100,000)", "<= 1.10",
        ratio <= 1.10)


def throughput_rows(row: Row, tmp: Path, editions: t.Iterable[str]) -> None:
    """Tap and target against each edition's per-minute limit (time scaled): share of the calls
    the limit allows that they make, and 429 answers received.
    """
    for edition in editions:
        per_minute = EDITIONS[edition][0]
        calls = per_minute * WINDOWS
        with SandboxServer(tmp / f"rate-{edition}.sqlite", config={
                "edition": edition, "time_scale": TIME_SCALE, "sync_page_limit": 10}) as srv:
            for page in range(calls):  # `calls` sync pages of 10 (one second each)
                srv.bulk_create("Contacts", 10, modifiedtime=time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(1_767_225_600 + page)))
            cfg = {**srv.tap_config(), **bench_tap.QUIET, "modules": ["Contacts"],
                   "discovery_cache": "off"}
            tap = TapVtiger(config=cfg, parse_env_config=False)
            _ = tap.streams
            srv.reset_stats()
            started = time.perf_counter()
            with bench_tap.devnull_stdout():
                tap.sync_all()
            share, rejected, made = _share(srv, tap.client, started, per_minute)
            row(f"tap at {edition} ({per_minute}/min, time x{TIME_SCALE:g})",
                f"{share:.0%} of allowed calls ({made} calls in {needed_minutes(made, per_minute)} "
                f"limiter minutes), {rejected} HTTP 429",
                ">= 95%, 0 429", share >= 0.95 and rejected == 0)

            records = [{"lastname": f"Rate{i}", "email": f"rate{i}@example.com"}
                       for i in range(calls)]
            config = {**srv.tap_config(), "match_keys": {"Contacts": ["email"]},
                      "rejects_path": str(tmp / f"rejects-{edition}")}
            srv.reset_stats()
            from target_vtiger.target import TargetVtiger

            target = TargetVtiger(config=config)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                target.listen(io.StringIO(bench_target.singer_input(records)))
            share, rejected, made = _share(srv, target.run.client, started, per_minute)
            row(f"target at {edition} ({per_minute}/min, time x{TIME_SCALE:g})",
                f"{share:.0%} of allowed calls ({made} calls in {needed_minutes(made, per_minute)} "
                f"limiter minutes), {rejected} HTTP 429",
                ">= 95%, 0 429", share >= 0.95 and rejected == 0)


def needed_minutes(made: int, per_minute: int) -> int:
    """The limiter minutes ``made`` calls need at least."""
    return max(1, math.ceil(made / per_minute))


def _share(srv: SandboxServer, client: t.Any, started: float,
           per_minute: int) -> tuple[float, int, int]:
    """(share of the allowed calls used, 429s, calls made).

    Fixed windows: ``made`` calls need at least ceil(made / limit) limiter minutes; a run that
    took no more minutes than that used every call the limit allowed it (share 1.0); each
    minute more wastes a minute's calls.
    """
    elapsed = (time.perf_counter() - started) * TIME_SCALE / 60
    rejected = sum(getattr(client, "rejected", {}).values()) if client is not None else 0
    made = sum(srv.stats().values()) - rejected  # the sandbox counts refused calls too
    needed = max(1, math.ceil(made / per_minute))
    return min(1.0, needed / max(1, math.ceil(elapsed))), rejected, made
