"""Benchmark the sandbox: records/s served through sync pages and query pages.

    .venv/bin/python scripts/bench_sandbox.py [--contacts 20000] [--api rest|webservice]

Not a test: prints numbers. Aim: > 5,000 records/s on a 2-core machine, so that the sandbox
is never the bottleneck of a tap run.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vtiger_sandbox.testing import SandboxServer


class Caller:
    """Minimal client for either API style."""

    def __init__(self, server: SandboxServer, api: str) -> None:
        self.server, self.api = server, api
        self.http = requests.Session()
        self.session = None
        if api == "rest":
            self.http.auth = (server.username, server.access_key)
        else:
            url = f"{server.url}/webservice.php"
            token = self.http.get(url, params={"operation": "getchallenge",
                                               "username": server.username}).json()
            key = hashlib.md5((token["result"]["token"] + server.access_key).encode()).hexdigest()
            self.session = self.http.post(url, data={
                "operation": "login", "username": server.username, "accessKey": key,
            }).json()["result"]["sessionName"]

    def get(self, op: str, **params) -> dict:
        if self.api == "rest":
            resp = self.http.get(f"{self.server.rest_url}/{op}", params=params, timeout=60)
        else:
            resp = self.http.get(f"{self.server.url}/webservice.php", timeout=60,
                                 params={"operation": op, "sessionName": self.session, **params})
        try:
            body = resp.json()
        except ValueError:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]!r}") from None
        if not body.get("success"):
            raise RuntimeError(body)
        return body["result"]


def bench_sync(c: Caller) -> tuple[int, int, float]:
    since, records, pages = 1, 0, 0
    t0 = time.perf_counter()
    while True:
        page = c.get("sync", modifiedTime=since, elementType="Contacts")
        records += len(page["updated"]) + len(page["deleted"])
        pages += 1
        since = page["lastModifiedTime"]
        if not page["more"]:
            break
    return records, pages, time.perf_counter() - t0


def bench_query(c: Caller, total: int) -> tuple[int, int, float]:
    records, pages = 0, 0
    t0 = time.perf_counter()
    for offset in range(0, total, 100):
        rows = c.get("query", query=f"select * from Contacts limit {offset}, 100;")
        records += len(rows)
        pages += 1
        if not rows:
            break
    return records, pages, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--contacts", type=int, default=20000)
    ap.add_argument("--api", choices=["rest", "webservice"], default="rest")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        server = SandboxServer(Path(tmp) / "bench.sqlite", seed=str(args.contacts)).start()
        print(f"start + seed {args.contacts} Contacts: {time.perf_counter() - t0:.2f} s")
        try:
            c = Caller(server, args.api)
            n, pages, dt = bench_sync(c)
            print(f"sync  ({args.api}): {n} records in {pages} pages, {dt:.2f} s "
                  f"-> {n / dt:,.0f} records/s")
            try:
                n, pages, dt = bench_query(c, args.contacts)
            except ImportError:
                print("query: vtiger_sandbox.vtql not available")
            except RuntimeError as exc:
                print(f"query: failed: {exc}")
            else:
                print(f"query ({args.api}): {n} records in {pages} pages, {dt:.2f} s "
                      f"-> {n / dt:,.0f} records/s")
            print(f"calls served: {server.total_calls()}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
