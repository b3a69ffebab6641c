"""Helpers for the reliability tests: fault settings, the server's truth read with faults off,
Singer output loaded the way a target would (upsert on id), and the figures each test reports.

The tap and target helpers of their own rooms are reused (``tests/tap/tap_helpers.py``,
``tests/target/target_helpers.py``); this file only adds what fault and crash tests need.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processes import BIN, clean_env
from tap_helpers import QUIET, Run, client_for

#: The issue's fault mix: 10% 500/502/503, 5% dropped connections, HTML pages, truncated JSON,
#: and 429 bursts (2 calls in a row) with Retry-After 1 s (the sandbox's smallest).
FAULTS: dict[str, Any] = {
    "seed": 6,
    "error_rate": 0.10,
    "drop_rate": 0.05,
    "html_rate": 0.03,
    "truncate_rate": 0.03,
    "burst_429": {"every": 60, "length": 2, "retry_after": 1},
}
#: Client settings that keep retries fast (the waits are jittered in [0, base * 2**n]) and
#: give up late enough that 8 faults in a row on one call (p ~ 1e-8 here) would be needed.
FAST_RETRIES: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 8}


# ------------------------------------------------------------------ figures


@dataclass
class Figures:
    """What one test did, for the report: calls served, faults injected by kind, records
    compared, runs, kill points. Written (one JSON line per test) to the file named by the
    environment variable ``RELIABILITY_FIGURES`` when it is set; silent otherwise.
    """

    test: str
    calls: int = 0
    calls_under_faults: int = 0
    faults: collections.Counter = field(default_factory=collections.Counter)
    records_compared: int = 0
    runs: int = 0
    kill_points: list[int] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def add_server(self, server) -> dict[str, Any]:
        """Add the server's call and fault counters (then reset them) to these figures."""
        stats = server.admin("GET", "stats")
        self.calls += int(stats.get("total", 0))
        self.faults.update(stats.get("faults") or {})
        server.reset_stats()
        return stats

    def dump(self) -> None:
        path = os.environ.get("RELIABILITY_FIGURES")
        if not path:
            return
        line = {"test": self.test, "calls": self.calls,
                "calls_under_faults": self.calls_under_faults, "faults": dict(self.faults),
                "faults_total": sum(self.faults.values()),
                "records_compared": self.records_compared, "runs": self.runs,
                "kill_points": self.kill_points, **self.notes}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


@contextlib.contextmanager
def faults_on(server, figures: Figures, **overrides: Any) -> Iterator[dict[str, Any]]:
    """Inject faults for the duration of the block; count what was injected; turn them off
    again (even when the block fails) so that the truth is read without faults.
    """
    settings = {**FAULTS, **overrides}
    figures.add_server(server)  # calls before the block are not "under faults"
    server.configure(faults=settings)
    try:
        yield settings
    finally:
        stats = server.admin("GET", "stats")  # read before turning faults off (that resets)
        server.configure(faults={})
        figures.calls += int(stats.get("total", 0))
        figures.calls_under_faults += int(stats.get("total", 0))
        figures.faults.update(stats.get("faults") or {})
        server.reset_stats()


# ------------------------------------------------------------------ the server's truth


def _encode_like_the_tap(record: dict[str, Any]) -> dict[str, Any]:
    """A typed record as it looks after the tap's writer and a JSON reader (Decimal as JSON
    numbers, datetimes ISO 8601): the form tap output is compared in.
    """
    from tap_vtiger.writer import _encoder

    return json.loads(_encoder.encode(record))


def server_truth(server, streams: dict[str, dict], **client_settings: Any
                 ) -> dict[str, dict[str, dict]]:
    """Every live record of each stream as the server holds it, typed like the tap types it,
    limited to the stream's schema properties; read with a fresh client (faults must be off).

    ``streams``: stream name -> the schema the tap sent for it. A module the API cannot query
    holds no records here (the tap skips those too).
    """
    from vtiger_client import types as vtypes
    from vtiger_client.errors import VtigerError

    client = client_for(server, **client_settings)
    truth: dict[str, dict[str, dict]] = {}
    for stream, schema in streams.items():
        props = set(schema.get("properties", {})) - {"_sdc_deleted_at"}
        try:
            describe = client.describe(stream)
            rows = list(client.query_all(stream))
        except VtigerError:
            truth[stream] = {}
            continue
        parse = vtypes.record_parser(describe)
        truth[stream] = {
            row["id"]: {k: v for k, v in _encode_like_the_tap(parse(row)).items() if k in props}
            for row in rows
        }
    return truth


def server_deleted_ids(server, module: str) -> set[str]:
    """Ids ``sync`` reports deleted since the beginning (read with faults off)."""
    client = client_for(server)
    deleted: set[str] = set()
    since = 1
    while True:
        page = client.sync(module, since)
        deleted.update(page.get("deleted") or [])
        if not page.get("more"):
            return deleted
        since = int(page["lastModifiedTime"])


# ------------------------------------------------------------------ reading tap output


def parse_lines(lines: Iterable[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.strip()]


def schemas(messages: list[dict]) -> dict[str, dict]:
    """Stream -> the last schema the tap sent for it."""
    return {m["stream"]: m["schema"] for m in messages if m["type"] == "SCHEMA"}


def upsert(*runs: list[dict]) -> dict[str, dict[str, dict]]:
    """Load runs' RECORD messages in order into {stream: {id: record}} the way a target
    upserting on ``id`` would: a later version replaces an earlier one, a deletion marker
    (``_sdc_deleted_at``) removes the record.
    """
    loaded: dict[str, dict[str, dict]] = collections.defaultdict(dict)
    for messages in runs:
        for m in messages:
            if m["type"] != "RECORD":
                continue
            record = m["record"]
            table = loaded[m["stream"]]
            if record.get("_sdc_deleted_at"):
                table.pop(record["id"], None)
            else:
                table[record["id"]] = {k: v for k, v in record.items()
                                       if k != "_sdc_deleted_at"}
    return dict(loaded)


def live_ids_once(messages: list[dict]) -> dict[str, list[str]]:
    """Stream -> ids delivered more than once within one run (live records only)."""
    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for m in messages:
        if m["type"] == "RECORD" and not m["record"].get("_sdc_deleted_at"):
            seen[m["stream"]][m["record"]["id"]] += 1
    return {s: [i for i, n in c.items() if n > 1] for s, c in seen.items()
            if any(n > 1 for n in c.values())}


def assert_equal_to_truth(loaded: dict[str, dict[str, dict]],
                          truth: dict[str, dict[str, dict]]) -> int:
    """Same streams, same ids, same field values; returns the number of records compared.
    The message names the first differences instead of dumping thousands of records.
    """
    problems = []
    compared = 0
    for stream in sorted(set(truth) | set(loaded)):
        want, got = truth.get(stream, {}), loaded.get(stream, {})
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        if missing:
            problems.append(f"{stream}: {len(missing)} missing, e.g. {missing[:5]}")
        if extra:
            problems.append(f"{stream}: {len(extra)} not on the server, e.g. {extra[:5]}")
        for rid in sorted(set(want) & set(got)):
            compared += 1
            if want[rid] != got[rid]:
                diff = {k: (want[rid].get(k), got[rid].get(k))
                        for k in set(want[rid]) | set(got[rid])
                        if want[rid].get(k) != got[rid].get(k)}
                problems.append(f"{stream} {rid}: server vs delivered {diff}")
                if len(problems) > 20:
                    break
    assert not problems, "\n".join(problems[:20])
    return compared


def assert_resumed_from(state: dict, messages: list[dict], *, changed: set[str] = frozenset()
                        ) -> None:
    """A run started from ``state`` resumed instead of starting over: in every module with a
    bookmark it delivered only records from the bookmark's second on (that second is re-read
    on purpose), besides the ids in ``changed`` (records edited since).
    """
    bookmarks = state.get("bookmarks", {})
    for m in messages:
        if m["type"] != "RECORD" or m["record"]["id"] in changed:
            continue
        mark = bookmarks.get(m["stream"], {}).get("replication_key_value")
        if mark:
            assert m["record"]["modifiedtime"] >= mark, (m["stream"], m["record"]["id"], mark)


# ------------------------------------------------------------------ processes


def tap_command(cfg_path: Path, catalog_path: Path, state_path: Path | None = None) -> list[str]:
    cmd = [str(BIN / "tap-vtiger"), "--config", str(cfg_path), "--catalog", str(catalog_path)]
    if state_path is not None:
        cmd += ["--state", str(state_path)]
    return cmd


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0,
               what: str = "condition") -> None:
    """Block until ``predicate()`` holds (polled every 20 ms), or fail after ``timeout``:
    the event here lives in another process (the sandbox's call counter), so it is polled.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def run_process(cmd: list[str], *, stdin: str | None = None, timeout: float = 300,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=clean_env(), cwd=cwd, check=False)


__all__ = ["FAST_RETRIES", "FAULTS", "QUIET", "Run", "client_for"]
