"""Benchmark tap-vtiger against the sandbox (not a timed test: prints a table).

    .venv/bin/python scripts/bench_tap.py [--seed 20000] [--api rest|webservice] [--repeat 5]
                                          [--profile out.html]

Measures, for one Contacts stream of ``--seed`` records (created 100 per second, so sync pages
hold 100 records like on a real instance):

- tap-vtiger: records/s of a full sync against the sandbox over HTTP (catalog given, output to
  /dev/null), and API calls per 1,000 records;
- SDK floor: a plain singer-sdk tap yielding the same typed records from memory with default
  settings (type conformance, default writer): what every SDK tap pays per record;
- json.dumps: a bare loop writing the same RECORD messages with json.dumps (the floor of any
  Python tap).

Ratios: tap / SDK floor (aim >= 2x, later 3x), tap / json.dumps loop (aim >= 0.5x).
"tap alone" replays the recorded sync pages from memory (decoded per call like the client
does), i.e. the tap's own ceiling when the server is not the bottleneck.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

from tap_vtiger.tap import TapVtiger
from vtiger_sandbox.testing import SandboxServer

QUIET = {"include_relations": False, "include_tags": False, "include_metadata_streams": False}


@contextlib.contextmanager
def devnull_stdout() -> t.Iterator[None]:
    """stdout -> /dev/null with a binary buffer (like a real pipe)."""
    with open(os.devnull, "wb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)
        with contextlib.redirect_stdout(text):
            yield
        text.flush()


def seed(server: SandboxServer, n: int) -> None:
    base = 1_767_225_600  # 2026-01-01
    left, i = n, 0
    while left > 0:
        chunk = min(100, left)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(base + i))
        server.bulk_create("Contacts", chunk, modifiedtime=stamp,
                           fields={"lastname": f"Bench{i}", "email": f"b{i}@example.com",
                                   "mailingcity": "Berlin", "title": "Engineer"})
        left -= chunk
        i += 1


def catalog_for(cfg: dict) -> dict:
    catalog = TapVtiger(config=cfg, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "Contacts"
    return catalog


def run_tap(cfg: dict, catalog: dict) -> tuple[float, int, dict]:
    tap = TapVtiger(config=cfg, catalog=catalog, parse_env_config=False)
    start = time.perf_counter()
    with devnull_stdout():
        tap.sync_all()
    elapsed = time.perf_counter() - start
    return elapsed, int(tap.client.total_calls), dict(tap.client.calls)


class ReplayClient:
    """Serves recorded sync pages (JSON bytes, decoded per call like the real client does):
    the tap's own cost without the server's."""

    def __init__(self, real: t.Any, pages: dict[int, bytes]) -> None:
        self.config, self.user_id, self.pages = real.config, None, pages
        self.calls: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.total_calls = 0

    def sync(self, module: str, since: int, sync_type: str | None = None) -> dict:
        return msgspec.json.decode(self.pages[max(1, since)])

    def server_now(self, *, ask: bool = False) -> float:
        """The recording's server ran on this machine's clock."""
        return time.time()


def record_pages(cfg: dict) -> dict[int, bytes]:
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    client = VtigerClient(ClientConfig.from_mapping(cfg))
    pages, since = {}, 1
    while True:
        page = client.sync("Contacts", since, "application")
        pages[since] = msgspec.json.encode(page)
        if not page["more"]:
            return pages
        since = int(page["lastModifiedTime"])


def run_replay(cfg: dict, catalog: dict, pages: dict[int, bytes]) -> float:
    tap = TapVtiger(config=cfg, catalog=catalog, parse_env_config=False)
    tap._client = ReplayClient(tap.client, pages)
    start = time.perf_counter()
    with devnull_stdout():
        tap.sync_all()
    return time.perf_counter() - start


def capture_records(cfg: dict, catalog: dict) -> tuple[list[dict], dict]:
    tap = TapVtiger(config=cfg, catalog=catalog, parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    records, schema = [], {}
    for line in out.getvalue().splitlines():
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            records.append(msg["record"])
        elif msg["type"] == "SCHEMA":
            schema = msg["schema"]
    return records, schema


def sdk_floor(records: list[dict], schema: dict) -> float:
    """A plain singer-sdk tap with default settings yielding ``records`` from memory."""

    class MemoryStream(Stream):
        name = "Contacts"
        primary_keys: t.ClassVar[list[str]] = ["id"]
        replication_key = "modifiedtime"

        def get_records(self, context: t.Any) -> t.Iterable[dict]:
            for record in records:
                yield dict(record)

    class MemoryTap(Tap):
        name = "tap-memory"
        config_jsonschema = th.PropertiesList().to_dict()

        def discover_streams(self) -> list[Stream]:
            return [MemoryStream(self, schema=schema)]

    tap = MemoryTap(config={}, parse_env_config=False)
    start = time.perf_counter()
    with devnull_stdout():
        tap.sync_all()
    return time.perf_counter() - start


def json_loop(records: list[dict]) -> float:
    start = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps({"type": "RECORD", "stream": "Contacts", "record": record,
                                  "time_extracted": "2026-11-22T00:00:00+00:00"}) + "\n")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20000, help="Contacts to create")
    parser.add_argument("--api", choices=["rest", "webservice"], default="rest")
    parser.add_argument("--repeat", type=int, default=5, help="median of N runs")
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of one tap run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SandboxServer(Path(tmp) / "bench.sqlite") as srv:
        t0 = time.perf_counter()
        seed(srv, args.seed)
        print(f"seeded {args.seed} Contacts in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        cfg = {**srv.tap_config(), **QUIET, "modules": ["Contacts"], "api_style": args.api}
        catalog = catalog_for(cfg)
        records, schema = capture_records(cfg, catalog)
        n = len(records)
        assert n == args.seed, (n, args.seed)

        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
            run_tap(cfg, catalog)
            profiler.stop()
            Path(args.profile).write_text(profiler.output_html())
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000],
                  file=sys.stderr)

        # interleaved: each repetition measures all four back to back, so machine load
        # (other processes) hits numerator and denominator alike; ratios are medians
        pages = record_pages(cfg)
        reps: list[tuple[float, float, float, float]] = []
        calls: dict = {}
        server_calls = 0
        for _ in range(args.repeat):
            srv.reset_stats()
            elapsed, _total, calls = run_tap(cfg, catalog)
            server_calls = srv.total_calls()
            reps.append((elapsed, sdk_floor(records, schema), json_loop(records),
                         run_replay(cfg, catalog, pages)))

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    tap_rps = n / median([r[0] for r in reps])
    floor_rps = n / median([r[1] for r in reps])
    loop_rps = n / median([r[2] for r in reps])
    replay_rps = n / median([r[3] for r in reps])
    vs_floor = median([r[1] / r[0] for r in reps])
    vs_loop = median([r[2] / r[0] for r in reps])
    per_k = server_calls / n * 1000
    rows = [
        ("records", f"{n}"),
        ("api style", args.api),
        ("tap-vtiger (sandbox, HTTP)", f"{tap_rps:,.0f} records/s"),
        ("plain SDK tap from memory", f"{floor_rps:,.0f} records/s"),
        ("bare json.dumps loop", f"{loop_rps:,.0f} records/s"),
        ("tap / SDK floor", f"{vs_floor:.2f}x"),
        ("tap / json.dumps loop", f"{vs_loop:.2f}x"),
        ("tap alone (pages replayed, no HTTP)", f"{replay_rps:,.0f} records/s"),
        ("  / SDK floor, / json.dumps loop",
         f"{median([r[1] / r[3] for r in reps]):.2f}x, "
         f"{median([r[2] / r[3] for r in reps]):.2f}x"),
        ("API calls per 1,000 records", f"{per_k:.2f} ({dict(calls)})"),
        ("repetitions (median)", f"{len(reps)}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 30}")
    for key, value in rows:
        print(f"{key:<{width}} | {value}")


if __name__ == "__main__":
    main()
