"""The benchmark suite (``make bench``): tap, target and API frugality against the sandbox.

    .venv/bin/python scripts/bench.py            # full: 100k records (CPU), 1M (memory)
    .venv/bin/python scripts/bench.py --quick    # the same table on smaller sizes (~1-2 minutes)
    .venv/bin/python scripts/bench.py --only cpu,calls --records 50000

Prints one table; each row has a target and PASS/FAIL (``info`` rows have none):

1. tap CPU throughput (Contacts, ``--records``, zero added latency). The tap runs in this process
   against a sandbox subprocess over HTTP; "CPU" figures are records per CPU second of this
   process (the tap and its prefetch thread; the sandbox is excluded), which is what the tap
   costs. Measured side by side, interleaved, median of ``--repeat``: a plain singer-sdk tap
   yielding the same typed records from memory with SDK defaults, and a bare json.dumps loop
   writing the same RECORD messages. Wall-clock figures are printed too: on 2 cores the sandbox
   shares the machine, so the wall-clock rate is capped by the sandbox, not by the tap.
2. API calls: full and incremental extraction vs the minimum ceil(N / page limit); discovery
   with a catalog spends no ``describe``.
3. Latency: 50 ms added per call; records/s vs page_size / latency (sync and query paging).
4. Memory: peak RSS of the tap and of the target over ``--memory-records`` (1,000,000 in full
   mode): tap -> a JSONL writer, tap -> target-vtiger (dry_run). Processes are real CLI
   subprocesses; peaks are the kernel's VmHWM (sampled every 0.1 s); "first 10%" is the peak
   while the first tenth of the records was read, to show that memory stays flat.
5. target-vtiger: records/s and calls per record for all-new, all-changed, all-unchanged;
   writes of a second run of a batch whose every record Vtiger stored altered (self-hosted).
6. Deletion check (self-hosted servers, modules read through query): query calls per 1,000
   records, deletions found, and the state's size at 1,000,000 record numbers.

Why the figures are ratios and counts: the machine is noisy; tests assert counts, never times.
Part benchmarks with more detail: scripts/bench_tap.py, scripts/bench_target.py,
scripts/bench_sandbox.py (this suite reuses their pieces).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import gc
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "scripts")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import bench_tap  # noqa: E402
import bench_target  # noqa: E402

from tap_vtiger import client as tap_client  # noqa: E402
from tap_vtiger.streams import modules as tap_modules  # noqa: E402
from tap_vtiger.tap import TapVtiger  # noqa: E402
from vtiger_sandbox.seed import DEMO_EPOCH  # noqa: E402
from vtiger_sandbox.testing import SandboxServer  # noqa: E402

BIN = Path(sys.executable).parent
LATENCY_MS = 50.0
PAGE = 100
MB = 1024 * 1024

Row = tuple[str, str, str, str]  # measure, value, target, result ("PASS"/"FAIL"/"info")
ROWS: list[Row] = []


def row(measure: str, value: str, target: str = "", ok: bool | None = None) -> None:
    ROWS.append((measure, value, target, "info" if ok is None else ("PASS" if ok else "FAIL")))
    print(f"  {measure}: {value}" + (f"  [{target}: {ROWS[-1][3]}]" if target else ""),
          file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def wire(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def tap_config(srv: SandboxServer, **extra: t.Any) -> dict:
    return {**srv.tap_config(), **bench_tap.QUIET, "modules": ["Contacts"], **extra}


def tap_run(cfg: dict, catalog: dict, state: dict | None = None) -> tuple[float, float, TapVtiger]:
    """One in-process tap run to /dev/null: (wall s, CPU s of this process, the tap)."""
    tap = TapVtiger(config=cfg, catalog=catalog, state=state, parse_env_config=False)
    wall, cpu = time.perf_counter(), time.process_time()
    with bench_tap.devnull_stdout():
        tap.sync_all()
    return time.perf_counter() - wall, time.process_time() - cpu, tap


def timed(fn: t.Callable[..., t.Any], *args: t.Any) -> tuple[float, float]:
    """(wall s, CPU s) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def query_state(module: str = "Contacts") -> dict:
    """A state that makes the tap read ``module`` through query paging (sync 'unusable')."""
    verdict = {"mode": "query", "reason": "benchmark", "checked_at": int(time.time())}
    return {"bookmarks": {module: {"vtiger_sync": verdict}}}


# ---------------------------------------------------------------- 1 + 2: CPU and API calls


def bench_cpu_and_calls(tmp: Path, n: int, changed: int, repeat: int, profile: str | None,
                        do_cpu: bool, do_calls: bool) -> None:
    with SandboxServer(tmp / "cpu.sqlite", seed=str(n), start_timeout=600) as srv:
        cfg = tap_config(srv)
        del cfg["modules"]  # discover every module; the catalog then selects Contacts alone
        srv.reset_stats()
        catalog = bench_tap.catalog_for(cfg)
        discovery = srv.stats()
        srv.reset_stats()
        _wall, sync_cpu, full = tap_run(cfg, catalog)
        full_calls = srv.stats()
        state = json.loads(json.dumps(full.state))

        if do_cpu:
            section_cpu(srv, cfg, catalog, n, repeat, profile)
        if not do_calls:
            return
        print("== 2. API calls", file=sys.stderr)
        limit = int(srv.admin("GET", "config").get("sync_page_limit") or PAGE)
        row("discovery without catalog (calls)", f"{sum(discovery.values())} "
            f"(listtypes {discovery.get('listtypes', 0)}, describe "
            f"{discovery.get('describe', 0)}: 1 + one per module)")
        describes = full_calls.get("describe", 0)
        row(f"run with that catalog, 1 of {len(catalog['streams'])} streams selected: describe "
            "calls", f"{describes}", "0 for unselected modules", describes == 0)
        minimum = math.ceil(n / limit)
        spent = sum(full_calls.values())
        row(f"full extraction, {n:,} records (calls)", f"{spent} {dict(full_calls)}; "
            f"min {minimum}", "<= min + 1", spent <= minimum + 1)

        # incremental: `changed` records get new modifiedtimes (10 per second, like the seed)
        ids = _first_ids(srv, changed)
        start = DEMO_EPOCH + n // 10 + 3600
        for k in range(0, len(ids), 10):
            srv.touch(ids[k:k + 10], wire(start + k // 10))
        srv.reset_stats()
        tap_run(cfg, catalog, state)
        inc = srv.stats()
        spent = sum(inc.values())
        minimum = math.ceil(changed / limit)
        row(f"incremental, {changed:,} changed (calls)", f"{spent} {inc}; min {minimum}",
            "<= min + 1", spent <= minimum + 1)

        srv.reset_stats()
        _wall, query_cpu, _tap = tap_run(cfg, catalog, query_state())
        q = srv.stats()
        spent = sum(q.values())
        minimum = math.ceil(n / PAGE)
        row(f"full extraction through query paging, {n:,} records (calls)",
            f"{spent} {q}; min {minimum}", "<= min + 1", spent <= minimum + 1)
        # query paging also keeps the ids the deletion check needs, saved with each STATE
        ratio = query_cpu / sync_cpu
        row("  its tap CPU over sync paging's (the deletion check's id set included)",
            f"{ratio:.2f}x ({query_cpu:.2f} s vs {sync_cpu:.2f} s)", "<= 1.5x", ratio <= 1.5)


def _first_ids(srv: SandboxServer, count: int) -> list[str]:
    """The first ``count`` Contacts ids (read before the call counter is reset)."""
    import itertools

    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    client = VtigerClient(ClientConfig.from_mapping(srv.tap_config()))
    return [r["id"] for r in itertools.islice(client.query_all("Contacts", ["id"]), count)]


def section_cpu(srv: SandboxServer, cfg: dict, catalog: dict, n: int, repeat: int,
                profile: str | None) -> None:
    print(f"== 1. tap CPU throughput ({n:,} Contacts)", file=sys.stderr)
    records, schema = bench_tap.capture_records(cfg, catalog)
    assert len(records) == n, (len(records), n)
    pages = bench_tap.record_pages(cfg)
    # The records and pages held for the comparisons would make every garbage collection of
    # every contender walk them (a real tap process holds one page); move them out of its way.
    gc.collect()
    gc.freeze()
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
        tap_run(cfg, catalog)
        profiler.stop()
        Path(profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False)[:8000], file=sys.stderr)
    reps = []
    for _ in range(repeat):  # interleaved: load hits all four alike; ratios are medians
        tap_w, tap_c, _tap = tap_run(cfg, catalog)
        floor_w, floor_c = timed(bench_tap.sdk_floor, records, schema)
        loop_w, loop_c = timed(bench_tap.json_loop, records)
        replay_w, replay_c = timed(bench_tap.run_replay, cfg, catalog, pages)
        reps.append((tap_w, tap_c, floor_w, floor_c, loop_w, loop_c, replay_w, replay_c))

    def rate(i: int) -> float:
        return n / median([r[i] for r in reps])

    vs_floor = median([r[3] / r[1] for r in reps])
    vs_loop = median([r[5] / r[1] for r in reps])
    row("tap-vtiger over HTTP, CPU (records per CPU s)", f"{rate(1):,.0f}/s "
        f"(wall {rate(0):,.0f}/s, sandbox on the same 2 cores)")
    row("plain singer-sdk tap from memory, SDK defaults", f"{rate(3):,.0f}/s")
    row("bare json.dumps loop", f"{rate(5):,.0f}/s")
    row("tap / SDK floor (CPU)", f"{vs_floor:.2f}x "
        f"(wall {median([r[2] / r[0] for r in reps]):.2f}x)", ">= 3x", vs_floor >= 3)
    row("tap / json.dumps loop (CPU)", f"{vs_loop:.2f}x "
        f"(wall {median([r[4] / r[0] for r in reps]):.2f}x)", ">= 0.5x", vs_loop >= 0.5)
    row("tap alone (recorded pages replayed, no HTTP)", f"{rate(6):,.0f}/s = "
        f"{median([r[2] / r[6] for r in reps]):.2f}x SDK floor, "
        f"{median([r[4] / r[6] for r in reps]):.2f}x json.dumps loop")


# ---------------------------------------------------------------- 3: latency


@contextlib.contextmanager
def no_prefetch() -> t.Iterator[None]:
    """Run the tap's 'next page' calls inline (for the before/after comparison)."""
    original = tap_client.VtigerStream._prefetch

    def inline(self: t.Any, fn: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    tap_client.VtigerStream._prefetch = inline  # type: ignore[method-assign]
    try:
        yield
    finally:
        tap_client.VtigerStream._prefetch = original  # type: ignore[method-assign]


def bench_latency(tmp: Path, n: int) -> None:
    print(f"== 3. latency ({LATENCY_MS:.0f} ms per call, {n:,} Contacts)", file=sys.stderr)
    with SandboxServer(tmp / "latency.sqlite", seed=str(n)) as srv:
        cfg = tap_config(srv)
        catalog = bench_tap.catalog_for(cfg)
        srv.configure(faults={"latency_ms": LATENCY_MS})
        ideal = PAGE / (LATENCY_MS / 1000)
        for label, state in (("sync", None), ("query", query_state())):
            wall, _cpu, _tap = tap_run(cfg, catalog, state)
            rps = n / wall
            row(f"{label} paging with {LATENCY_MS:.0f} ms/call", f"{rps:,.0f} records/s = "
                f"{rps / ideal:.0%} of page_size/latency ({ideal:,.0f}/s)", ">= 80%",
                rps >= 0.8 * ideal)
            with no_prefetch():
                wall, _cpu, _tap = tap_run(cfg, catalog, state)
            row(f"  {label} without prefetch (comparison)", f"{n / wall:,.0f} records/s = "
                f"{n / wall / ideal:.0%}")


# ---------------------------------------------------------------- 4: memory

JSONL_SINK = """
import sys, msgspec
dec, enc = msgspec.json.Decoder(), msgspec.json.Encoder()
out = open(sys.argv[1], "wb")
for line in sys.stdin.buffer:
    msg = dec.decode(line)
    if msg.get("type") == "RECORD":
        out.write(enc.encode(msg["record"]) + b"\\n")
"""


def _hwm(pid: int) -> float:
    """Peak RSS so far of a live process (VmHWM, bytes; reset at exec, unlike ru_maxrss,
    which would report the forking benchmark's own size)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    return 0.0


def run_pipeline(srv: SandboxServer, producer: list[str], consumer: list[str], total: int,
                 logs: Path) -> dict[str, float]:
    """tap | consumer as real processes: the peak RSS of each (VmHWM, sampled every 0.1 s
    until it exits) and the peak while the tap had read at most 10% of ``total`` (sync calls
    served x 100)."""
    with open(logs / "tap.err", "wb") as tap_err, open(logs / "sink.err", "wb") as sink_err:
        tap = subprocess.Popen(producer, stdout=subprocess.PIPE, stderr=tap_err)
        sink = subprocess.Popen(consumer, stdin=tap.stdout, stdout=subprocess.DEVNULL,
                                stderr=sink_err)
        assert tap.stdout is not None
        tap.stdout.close()
        procs = {"tap": tap, "sink": sink}
        peak = {"tap": 0.0, "sink": 0.0}
        early = dict(peak)
        srv.reset_stats()
        start = time.perf_counter()
        while any(p.poll() is None for p in procs.values()):
            for name, proc in procs.items():
                with contextlib.suppress(OSError):
                    peak[name] = max(peak[name], _hwm(proc.pid))
            with contextlib.suppress(Exception):
                if srv.stats().get("sync", 0) * PAGE <= total // 10:
                    early = dict(peak)
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
    for name, proc in procs.items():
        if proc.returncode:
            err = (logs / f"{name}.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited {proc.returncode}:\n{err}")
    return {"tap": peak["tap"], "sink": peak["sink"], "tap_early": early["tap"],
            "sink_early": early["sink"], "seconds": elapsed}


def bench_memory(tmp: Path, n: int) -> None:
    print(f"== 4. memory ({n:,} Contacts; seeding takes ~40 s per million)", file=sys.stderr)
    with SandboxServer(tmp / "memory.sqlite", seed=str(n), start_timeout=900) as srv:
        cfg = tap_config(srv)
        catalog = bench_tap.catalog_for(cfg)
        (tmp / "tap.json").write_text(json.dumps(cfg))
        (tmp / "catalog.json").write_text(json.dumps(catalog))
        target_cfg = {**srv.tap_config(), "dry_run": True,
                      "rejects_path": str(tmp / "rejects.jsonl")}
        (tmp / "target.json").write_text(json.dumps(target_cfg))
        tap_cmd = [str(BIN / "tap-vtiger"), "--config", str(tmp / "tap.json"),
                   "--catalog", str(tmp / "catalog.json")]
        limit = 150 * MB
        # the real target-jsonl plugin when Meltano installed it (make plugins), else a
        # minimal msgspec writer (same output, no SDK)
        out_dir = tmp / "jsonl"
        out_dir.mkdir()
        if TARGET_JSONL.exists():
            (tmp / "jsonl.json").write_text(json.dumps(
                {"destination_path": str(out_dir), "do_timestamp_file": False}))
            sink_name, sink_cmd = "target-jsonl", [str(TARGET_JSONL), "--config",
                                                   str(tmp / "jsonl.json")]
        else:
            sink_name, sink_cmd = "JSONL writer", [sys.executable, "-c", JSONL_SINK,
                                                   str(out_dir / "Contacts.jsonl")]
        jsonl = run_pipeline(srv, tap_cmd, sink_cmd, n, tmp)
        with open(out_dir / "Contacts.jsonl", "rb") as written:
            lines = sum(1 for _ in written)
        assert lines == n, (lines, n)
        (out_dir / "Contacts.jsonl").unlink()
        row(f"tap -> {sink_name}, {n:,} records", f"{n / jsonl['seconds']:,.0f} records/s "
            f"({jsonl['seconds']:.0f} s); {sink_name} peak {jsonl['sink'] / MB:.0f} MB "
            f"(first 10%: {jsonl['sink_early'] / MB:.0f} MB)")
        row(f"tap peak RSS at {n:,} records", f"{jsonl['tap'] / MB:.1f} MB (first 10%: "
            f"{jsonl['tap_early'] / MB:.1f} MB)", "<= 150 MB", jsonl['tap'] <= limit)
        flat_row("tap", jsonl["tap"], jsonl["tap_early"])
        dry = run_pipeline(srv, tap_cmd, [str(BIN / "target-vtiger"), "--config",
                                          str(tmp / "target.json")], n, tmp)
        row(f"tap -> target-vtiger (dry_run), {n:,} records",
            f"{n / dry['seconds']:,.0f} records/s ({dry['seconds']:.0f} s); "
            f"tap peak {dry['tap'] / MB:.0f} MB")
        row(f"target-vtiger peak RSS at {n:,} records", f"{dry['sink'] / MB:.1f} MB "
            f"(first 10%: {dry['sink_early'] / MB:.1f} MB)", "<= 150 MB", dry['sink'] <= limit)
        flat_row("target-vtiger", dry["sink"], dry["sink_early"])


#: Peak RSS may grow by at most this much between the first 10% of the records and the end:
#: memory constant in the number of records (allocator noise and lazy imports stay below it).
FLAT_GROWTH = 10 * MB
TARGET_JSONL = ROOT / ".meltano" / "loaders" / "target-jsonl" / "venv" / "bin" / "target-jsonl"


def flat_row(name: str, peak: float, early: float) -> None:
    growth = peak - early
    row(f"{name} RSS growth, first 10% -> all records", f"{growth / MB:+.1f} MB",
        f"<= {FLAT_GROWTH / MB:.0f} MB", growth <= FLAT_GROWTH)


# ---------------------------------------------------------------- 5: target


def bench_target_writes(tmp: Path, n: int) -> None:
    print(f"== 5. target-vtiger ({n:,} Contacts per batch kind)", file=sys.stderr)
    new = [{"lastname": f"Bench{i}", "firstname": "B", "email": f"bench{i}@example.com"}
           for i in range(n)]
    changed = [{**r, "phone": f"+1 555 {i:04d}"} for i, r in enumerate(new)]
    with SandboxServer(tmp / "target.sqlite") as srv:
        config = {**srv.tap_config(), "match_keys": {"Contacts": ["email"]},
                  "rejects_path": str(tmp / "rejects-target.jsonl")}
        for name, records, max_writes in (("all-new", new, 1.0), ("all-changed", changed, 1.0),
                                          ("all-unchanged", changed, 0.0)):
            elapsed, stats = bench_target.run(srv, config, bench_target.singer_input(records))
            writes = sum(stats.get(op, 0) for op in bench_target.WRITE_OPS) / n
            lookups = stats.get("query", 0) / n
            total = sum(stats.values()) / n
            ok = writes <= max_writes and lookups <= 0.01
            row(f"target {name}", f"{n / elapsed:,.0f} records/s; writes/rec {writes:.3f}, "
                f"lookups/rec {lookups:.3f}, calls/rec {total:.3f}",
                f"writes/rec <= {max_writes:g}, lookups/rec <= 0.01", ok)
    bench_target_altered(tmp, n)


def altered_input(n: int) -> str:
    """``n`` Potentials whose every record Vtiger stores altered on a fresh self-hosted
    install: emoji in the name (-> ``?``), currency rounded to 0 decimals, a probability
    rounded to its column's 3 decimals, trailing blanks.
    """
    props = {k: {} for k in ("potentialname", "amount", "probability", "closingdate",
                             "sales_stage", "nextstep")}
    lines = [{"type": "SCHEMA", "stream": "Potentials", "key_properties": [],
              "schema": {"type": "object", "properties": props}}]
    lines += [{"type": "RECORD", "stream": "Potentials", "record": {
        "potentialname": f"Deal {i} 🎯", "amount": f"{1000 + i}.50", "probability": "25.5555",
        "closingdate": "2026-12-31", "sales_stage": "Prospecting", "nextstep": "call  "}}
        for i in range(n)]
    return "".join(json.dumps(m) + "\n" for m in lines)


def bench_target_altered(tmp: Path, n: int) -> None:
    """Issue 19: input whose every value Vtiger stores altered, loaded twice."""
    with SandboxServer(tmp / "altered.sqlite", flavor="self-hosted") as srv:
        config = {**srv.tap_config(), "api_style": "webservice",
                  "match_keys": {"Potentials": ["potentialname"]},
                  "rejects_path": str(tmp / "rejects-altered.jsonl")}
        text = altered_input(n)
        _elapsed, first = bench_target.run(srv, config, text)
        _elapsed, second = bench_target.run(srv, config, text)
        creates = first.get("create", 0)
        writes = sum(second.get(op, 0) for op in bench_target.WRITE_OPS)
        row("target second run of an all-altered batch (writes)",
            f"{writes} ({n:,} Potentials; first run: {creates} creates)", "0", writes == 0)


# ---------------------------------------------------------------- main


def bench_run_cost(tmp: Path, n: int, repeat: int) -> None:
    """Issue 16: calls of a first and an unchanged run, CPU of default settings, throughput
    at each Vtiger Cloud edition's limit (scripts/bench_cost.py).
    """
    import bench_cost

    print("== 6. What a scheduled run costs", file=sys.stderr)
    bench_cost.calls_rows(row)
    bench_cost.cpu_rows(row, tmp, n, repeat)
    bench_cost.throughput_rows(row, tmp, ["one-growth", "one-professional", "one-enterprise"])


def print_table(args: argparse.Namespace, started: float) -> None:
    head = ("measure", "value", "target", "result")
    widths = [max(len(r[i]) for r in [head, *ROWS]) for i in range(4)]
    widths[1] = min(widths[1], 100)
    print(f"tap-vtiger / target-vtiger benchmark ({'quick' if args.quick else 'full'}; "
          f"{os.cpu_count()} CPUs; {time.time() - started:.0f} s; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    line = " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in ROWS:
        print(" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    failed = [r[0] for r in ROWS if r[3] == "FAIL"]
    print(f"\n{sum(r[3] == 'PASS' for r in ROWS)} passed, {len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else ""))


# ---------------------------------------------------------------- 6: deletion check


def bench_deletions(tmp: Path, n: int) -> None:
    """The id check of tap_vtiger/deletions.py: calls per 1,000 records (a module read through
    query, ``deletion_check_hours`` 0), and the size of its state at 1,000,000 record numbers
    for three ways a module's crmids can lie in Vtiger's shared sequence.
    """
    import random

    from tap_vtiger import idset
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    with SandboxServer(tmp / "deletions.sqlite") as srv:
        ids = srv.bulk_create("Contacts", n, modifiedtime=wire(DEMO_EPOCH))
        cfg = tap_config(srv, deletion_check_hours=0)
        catalog = bench_tap.catalog_for(cfg)
        _, _, first = tap_run(cfg, catalog, query_state())
        state = first.state
        vt = VtigerClient(ClientConfig.from_mapping(srv.tap_config()))
        gone = ids[:: max(1, n // 10)][:10]
        for rid in gone:
            vt.delete(rid)
        found: list[str] = []
        checks: list[str] = []
        original, query = tap_modules.DeletionTracker.check, VtigerClient.query

        def counting(self: t.Any) -> t.Iterator[dict]:
            for record in original(self):
                found.append(record["id"])
                yield record

        def noting(self: t.Any, text: str) -> t.Any:
            if text.startswith("select id from Contacts") or "count(*)" in text:
                checks.append(text)
            return query(self, text)

        tap_modules.DeletionTracker.check = counting  # type: ignore[method-assign]
        VtigerClient.query = noting  # type: ignore[method-assign]
        try:
            tap_run(cfg, catalog, json.loads(json.dumps(state)))
        finally:
            tap_modules.DeletionTracker.check = original  # type: ignore[method-assign]
            VtigerClient.query = query  # type: ignore[method-assign]
        calls = len(checks)
        live = n - len(gone)
        per_k = calls * 1000 / live
        row("deletion check: query calls per 1,000 records",
            f"{per_k:.2f} ({calls} calls, {live:,} records)", "<= ceil(N/100)",
            calls <= math.ceil(live / PAGE))
        row("deletion check: deletions found", f"{len(found)} of {len(gone)}",
            "all, none live", sorted(found) == sorted(gone))
        box = state["bookmarks"]["Contacts"]["vtiger_ids"]
        row(f"deletion check: state at {n:,} records", f"{len(box['known']):,} bytes")
    rng = random.Random(7)
    million = 1_000_000
    layouts = {
        "bulk import (contiguous)": range(1, million + 1),
        "bulk import, 1 in 100 deleted (random)": [
            i for i in range(1, million + million // 99 + 1) if rng.random() >= 0.01],
        "1 crmid in 2 (random)": [i for i in range(1, 2 * million + 1) if rng.random() < 0.5],
        "1 crmid in 10 (random)": sorted(rng.sample(range(1, 10 * million + 1), million)),
    }
    for name, numbers in layouts.items():
        cpu = time.process_time()
        size = len(idset.encode(numbers))
        spent = time.process_time() - cpu
        row(f"deletion check state, {len(numbers):,} ids, {name}",
            f"{size / MB:.3f} MB (encode {spent:.1f} s CPU)", "<= 1 MB", size <= MB)
    sparse = sorted(rng.sample(range(1, 100 * million + 1), million))
    # choosing 1,000,000 of 100,000,000 numbers carries 100M * H(0.01) bits; as base85 text
    # (6.41 bits a character) no encoding can be shorter than this bound, which exceeds 1 MB
    p = 0.01
    bound = 100 * million * -(p * math.log2(p) + (1 - p) * math.log2(1 - p)) / math.log2(85)
    size = len(idset.encode(sparse))
    row("deletion check state, 1,000,000 ids, 1 crmid in 100 (random)",
        f"{size / MB:.3f} MB (information bound {bound / MB:.3f} MB: 1 MB is out of reach)",
        "<= 1.01 x bound", size <= 1.01 * bound)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (20k CPU, 200k memory, 2k latency, 300 target)")
    parser.add_argument("--records", type=int, help="Contacts for CPU and calls (100,000)")
    parser.add_argument("--changed", type=int, help="changed records, incremental (1,000)")
    parser.add_argument("--memory-records", type=int, help="records for memory (1,000,000)")
    parser.add_argument("--latency-records", type=int, help="records at 50 ms/call (10,000)")
    parser.add_argument("--target-records", type=int, help="records per target batch (1,000)")
    parser.add_argument("--repeat", type=int, default=3, help="CPU repetitions (median)")
    parser.add_argument("--only", default="cpu,calls,latency,memory,target,deletions,cost",
                        help="comma-separated sections")
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of one tap run")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args()
    quick = args.quick
    n = args.records or (20_000 if quick else 100_000)
    changed = args.changed or (250 if quick else 1_000)
    mem = args.memory_records or (200_000 if quick else 1_000_000)
    lat = args.latency_records or (2_000 if quick else 10_000)
    tgt = args.target_records or (300 if quick else 1_000)
    only = set(args.only.split(","))
    logging.disable(logging.WARNING)  # the SDK's per-stream notices would drown the table
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="vtiger-bench-") as name:
        tmp = Path(name)
        if only & {"cpu", "calls"}:
            bench_cpu_and_calls(tmp, n, changed, args.repeat, args.profile,
                                "cpu" in only, "calls" in only)
        if "latency" in only:
            bench_latency(tmp, lat)
        if "memory" in only:
            bench_memory(tmp, mem)
        if "target" in only:
            bench_target_writes(tmp, tgt)
        if "deletions" in only:
            bench_deletions(tmp, 1_000 if quick else 10_000)
        if "cost" in only:
            bench_run_cost(tmp, 20_000 if quick else 100_000, 1 if quick else args.repeat)
    print_table(args, started)
    if args.json:
        keys = ("measure", "value", "target", "result")
        Path(args.json).write_text(json.dumps(
            [dict(zip(keys, r, strict=True)) for r in ROWS], indent=1))
    return 1 if any(r[3] == "FAIL" for r in ROWS) else 0


if __name__ == "__main__":
    sys.exit(main())
