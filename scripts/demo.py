#!/usr/bin/env python3
"""`make demo`: Vtiger (the sandbox, demo data) -> Meltano -> DuckDB, twice.

1. starts `vtiger-sandbox serve --seed demo` in a temporary directory on a free port;
2. installs the Meltano plugins if needed (scripts/meltano_plugins.py);
3. `meltano --environment dev run tap-vtiger target-duckdb` into output/vtiger.duckdb and
   prints the rows per module;
4. creates, revises and deletes a few records through the Vtiger API;
5. runs again: Meltano's saved state makes it incremental, and the demo shows that only
   those records arrived, deletions included;
6. stops the sandbox. Any failure exits non-zero.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vtiger_sandbox.testing import SandboxServer  # noqa: E402

OUTPUT = ROOT / "output"
DUCKDB_FILE = OUTPUT / "vtiger.duckdb"
LOG_FILE = OUTPUT / "demo-meltano.log"
STATE_ID = "dev:tap-vtiger-to-target-duckdb"
MELTANO = str(Path(sys.executable).parent / "meltano")
T0 = time.monotonic()


def step(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


class Api:
    """The few Vtiger REST calls the demo makes."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.base = sandbox.rest_url
        self.http = requests.Session()
        self.http.auth = (sandbox.username, sandbox.access_key)

    def call(self, method: str, operation: str, **params: str) -> dict | list:
        kwargs = {"params": params} if method == "GET" else {"data": params}
        resp = self.http.request(method, f"{self.base}/{operation}", timeout=60, **kwargs)
        body = resp.json()
        if not body.get("success"):
            raise RuntimeError(f"{operation}: {body.get('error')}")
        return body["result"]

    def query(self, vtql: str) -> list[dict]:
        return self.call("GET", "query", query=vtql)


def meltano(*args: str, env: dict[str, str], label: str) -> None:
    """Run meltano; show a live line of progress, keep the full log in output/."""
    cmd = [MELTANO, "--environment", "dev", *args]
    started = time.monotonic()
    with LOG_FILE.open("a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        records = {"n": 0}
        phase = {"now": "starting meltano", "stream": ""}
        done = threading.Event()
        tty = sys.stdout.isatty()

        def ticker() -> None:
            while not done.wait(2.0 if tty else 5.0):
                line = f"  ... {label}: {time.monotonic() - started:5.1f}s, {phase['now']}"
                print("\r" + line.ljust(78) if tty else line, end="" if tty else "\n", flush=True)

        def say(text: str) -> None:
            print(("\r" + " " * 78 + "\r" if tty else "") + text, flush=True)

        threading.Thread(target=ticker, daemon=True).start()
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if "Running catalog discovery" in line:
                phase["now"] = "discovering modules (listtypes + describe)"
            elif "tap-vtiger" in line and "Beginning sync of '" in line:
                phase["stream"] = line.split("Beginning sync of '", 1)[1].split("'", 1)[0]
                phase["now"] = f"extracting {phase['stream']}"
            elif "tap-vtiger" in line and "metric_name=record_count metric_value=" in line:
                # e.g. "... tap-vtiger   METRIC   metric_name=record_count metric_value=500"
                value = line.rsplit("metric_value=", 1)[-1].split()[0]
                if value.isdigit():
                    records["n"] += int(value)
                    say(f"    {phase['stream'] or 'stream'}: {int(value):,} records extracted")
                    phase["now"] = "loading into DuckDB"
            elif "target-duckdb" in line and "Loading " in line and " rows into " in line:
                phase["now"] = "loading into DuckDB: " + line.split("Loading ", 1)[1].strip()[:50]
        code = proc.wait()
        done.set()
    if sys.stdout.isatty():
        print("\r" + " " * 78 + "\r", end="")
    if code != 0:
        tail = LOG_FILE.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {code}); full log: {LOG_FILE}")
    step(f"{label} done in {time.monotonic() - started:.1f}s: {records['n']:,} records extracted")


def tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm' "
        "ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


def print_counts() -> None:
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as conn:
        print(f"  {'table':<14}{'rows':>8}{'live':>8}{'deleted':>9}")
        for name in tables(conn):
            total, deleted = conn.execute(
                f'SELECT count(*), count(_sdc_deleted_at) FROM crm."{name}"'
            ).fetchone()
            print(f"  {name:<14}{total:>8,}{total - deleted:>8,}{deleted:>9,}")


def arrived_since(since: dt.datetime) -> dict[str, list[tuple]]:
    """Rows the last run wrote (target-duckdb stamps _sdc_batched_at in local time)."""
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as conn:
        out = {}
        for name in tables(conn):
            out[name] = conn.execute(
                f'SELECT id, _sdc_deleted_at IS NOT NULL FROM crm."{name}" '
                "WHERE _sdc_batched_at >= ? ORDER BY id",
                [since],
            ).fetchall()
        return out


def change_records(api: Api) -> dict[str, str]:
    """A few creates, revisions and deletions; returns id -> what happened."""
    owner = api.call("GET", "me")["id"]
    changed: dict[str, str] = {}
    for first, last in (("Ada", "Lovelace"), ("Alan", "Turing")):
        rec = api.call(
            "POST", "create", elementType="Contacts",
            element=json.dumps({"firstname": first, "lastname": last,
                                "email": f"{first.lower()}@example.org",
                                "assigned_user_id": owner}),
        )  # fmt: skip
        changed[rec["id"]] = f"created Contact {first} {last}"
    for acc in api.query("select id, accountname from Accounts limit 2;"):
        api.call(
            "POST", "revise",
            element=json.dumps({"id": acc["id"], "website": "https://example.org/new"}),
        )  # fmt: skip
        changed[acc["id"]] = f"revised Account {acc['accountname']} (website)"
    for lead in api.query("select id, lastname from Leads limit 1;"):
        api.call("POST", "delete", id=lead["id"])
        changed[lead["id"]] = f"deleted Lead {lead['lastname']}"
    for contact in api.query("select id, lastname from Contacts limit 1;"):
        api.call("POST", "delete", id=contact["id"])
        changed[contact["id"]] = f"deleted Contact {contact['lastname']}"
    return changed


def main() -> int:
    OUTPUT.mkdir(exist_ok=True)
    LOG_FILE.write_text("")
    for stale in (DUCKDB_FILE, Path(str(DUCKDB_FILE) + ".wal")):
        stale.unlink(missing_ok=True)

    step("installing Meltano plugins if needed (first time: about a minute) ...")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "meltano_plugins.py")], check=True)

    with tempfile.TemporaryDirectory(prefix="vtiger-demo-") as tmp:
        step("starting vtiger-sandbox with the demo data ...")
        with SandboxServer(Path(tmp) / "crm.sqlite", seed="demo") as sandbox:
            step(f"sandbox serving {sandbox.url} (user {sandbox.username})")
            api = Api(sandbox)
            env = dict(
                os.environ,
                VTIGER_API_URL=sandbox.url,
                VTIGER_USERNAME=sandbox.username,
                VTIGER_ACCESS_KEY=sandbox.access_key,
                TARGET_DUCKDB_FILEPATH=str(DUCKDB_FILE),
                NO_COLOR="1",
            )
            # A fresh sandbox: start from no state (Meltano keeps it in .meltano/meltano.db).
            subprocess.run(
                [MELTANO, "--environment", "dev", "state", "clear", "--force", STATE_ID],
                cwd=ROOT, env=env, capture_output=True, check=False,
            )  # fmt: skip

            step("run 1: meltano --environment dev run tap-vtiger target-duckdb")
            meltano("run", "tap-vtiger", "target-duckdb", env=env, label="run 1 (full)")
            print(f"\nRows per module in {DUCKDB_FILE.relative_to(ROOT)}:")
            print_counts()

            step("changing records in Vtiger through the API ...")
            changed = change_records(api)
            for record_id, what in changed.items():
                print(f"  {record_id:<10} {what}")

            since = dt.datetime.now()
            step("run 2: the same command; Meltano's state makes it incremental")
            meltano("run", "tap-vtiger", "target-duckdb", env=env, label="run 2 (incremental)")

            arrived = arrived_since(since)
            print("\nRows that arrived in run 2:")
            print(f"  {'table':<11}{'id':<10} {'how':<9} change")
            rereads: dict[str, int] = {}
            for name, rows in arrived.items():
                for record_id, deleted in rows:
                    what = changed.get(record_id)
                    if what is None:
                        rereads[name] = rereads.get(name, 0) + 1
                        continue
                    flag = "deleted" if deleted else "upserted"
                    print(f"  {name:<11}{record_id:<10} {flag:<9} {what}")
            if rereads:
                listed = ", ".join(f"{n} {t}" for t, n in sorted(rereads.items()))
                print(
                    f"  + unchanged rows re-read at the bookmark's second ({listed}):\n"
                    "    the tap re-reads that second, so a change later in it is never missed"
                )
            unexpected = sum(rereads.values())
            missing = set(changed) - {rid for rows in arrived.values() for rid, _ in rows}
            print(f"\nAfter run 2 in {DUCKDB_FILE.relative_to(ROOT)}:")
            print_counts()
            step("stopping the sandbox")
    if missing:
        raise SystemExit(f"changes that did not arrive: {sorted(missing)}")
    total = sum(len(rows) for rows in arrived.values())
    step(
        f"done: run 2 moved {total} rows for {len(changed)} changes"
        + (f" (+{unexpected} re-read at the bookmark)" if unexpected else "")
        + f"; explore with: duckdb {DUCKDB_FILE.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
