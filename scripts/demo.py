#!/usr/bin/env python3
"""`make demo`: Vtiger (the sandbox, demo data) -> Meltano -> DuckDB, twice, then dbt.

1. starts `vtiger-sandbox serve --seed demo` in a temporary directory on a free port;
2. installs the Meltano plugins if needed (scripts/meltano_plugins.py);
3. `meltano --environment dev run tap-vtiger target-duckdb` into output/warehouse.duckdb and
   prints the rows per module and the API calls the sandbox served, per operation;
4. creates, revises and deletes a few records through the Vtiger API;
5. runs again: Meltano's saved state makes it incremental, and the demo checks what arrived:
   every change with its new value, every deletion flagged in `_sdc_deleted_at`, and no other
   rows than those of the bookmark's second (which the tap re-reads on purpose);
6. stops the sandbox;
7. self-hosted: a small sync-capable self-hosted sandbox with three owners (admin, a user, a
   group), two runs into output/vtiger-selfhosted.duckdb with `api_style: webservice`; between
   them the user and the admin delete Contacts owned by the user and by the group, which
   self-hosted sync never lists: the tap's id-set check must flag both;
8. `meltano --environment dev run dbt-duckdb:build`: the dbt models of transform/ (staging,
   marts) and their tests on output/warehouse.duckdb, then prints the mart deal_pipeline.
Any failure exits non-zero with a one-line reason.

DEMO_OUTPUT_DIR (default output/) holds the DuckDB file, the Meltano log and dbt's artifacts
(dbt/); Meltano keeps
the state between the runs in .meltano/meltano.db unless MELTANO_DATABASE_URI says otherwise
(tests/e2e/pipeline/test_make_demo.py sets both, so a test run leaves the developer's files alone).
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
from dataclasses import dataclass
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vtiger_sandbox.testing import SandboxServer  # noqa: E402

OUTPUT = Path(os.environ.get("DEMO_OUTPUT_DIR") or ROOT / "output").resolve()
DUCKDB_FILE = OUTPUT / "warehouse.duckdb"
LOG_FILE = OUTPUT / "demo-meltano.log"
STATE_ID = "dev:tap-vtiger-to-target-duckdb"
MELTANO = str(Path(sys.executable).parent / "meltano")
T0 = time.monotonic()


def shown(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


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


def meltano(*args: str, env: dict[str, str], label: str, extracts: bool = True) -> None:
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
    extracted = f": {records['n']:,} records extracted" if extracts else ""
    step(f"{label} done in {time.monotonic() - started:.1f}s{extracted}")


def tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'vtiger' "
        "ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


def print_counts() -> None:
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as conn:
        print(f"  {'table':<14}{'rows':>8}{'live':>8}{'deleted':>9}")
        for name in tables(conn):
            total, deleted = conn.execute(
                f'SELECT count(*), count(_sdc_deleted_at) FROM vtiger.{name}'
            ).fetchone()
            print(f"  {name:<14}{total:>8,}{total - deleted:>8,}{deleted:>9,}")


@dataclass
class Change:
    """A record the demo changes between the runs, and what run 2 must bring for it."""

    table: str  # the DuckDB table: the module's name in lower case
    what: str  # e.g. "created Contact Ada Lovelace"
    values: dict[str, str] | None = None  # columns that must hold these values; None: deleted


def rows_since(since: dt.datetime) -> dict[str, dict[str, dict]]:
    """Rows the last run wrote, by table and id (target-duckdb stamps _sdc_batched_at in local
    time)."""
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as conn:
        out: dict[str, dict[str, dict]] = {}
        for name in tables(conn):
            cur = conn.execute(
                f'SELECT * FROM vtiger.{name} WHERE _sdc_batched_at >= ? ORDER BY id', [since]
            )
            columns = [c[0] for c in cur.description]
            rows = [dict(zip(columns, values, strict=True)) for values in cur.fetchall()]
            out[name] = {row["id"]: row for row in rows}
        return out


def bookmark_seconds() -> dict[str, set[str]]:
    """Per table, the ids of the rows in the newest second loaded so far.

    The tap's bookmark is the highest modifiedtime it emitted (deletions are stamped with their
    sync page's time), and the next run re-reads that second on purpose, so that a change later
    within it is never missed: these rows may come again unchanged, and no others may.
    """
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as conn:
        out: dict[str, set[str]] = {}
        for name in tables(conn):
            rows = conn.execute(
                f'SELECT id FROM vtiger.{name} WHERE modifiedtime >= '
                f"date_trunc('second', (SELECT max(modifiedtime) FROM vtiger.{name}))"
            ).fetchall()
            out[name] = {record_id for (record_id,) in rows}
        return out


def check_run2(
    changes: dict[str, Change],
    arrived: dict[str, dict[str, dict]],
    at_bookmark: dict[str, set[str]],
) -> tuple[list[str], dict[str, int]]:
    """What is wrong with the rows run 2 brought (nothing: an empty list), and per table how
    many unchanged rows of the bookmark's second came with the changes."""
    problems: list[str] = []
    for record_id, change in changes.items():
        row = arrived.get(change.table, {}).get(record_id)
        if row is None:
            problems.append(f"{record_id} ({change.what}) did not arrive")
        elif change.values is None:
            if row.get("_sdc_deleted_at") is None:
                problems.append(f"{record_id} ({change.what}) arrived without _sdc_deleted_at")
        elif row.get("_sdc_deleted_at") is not None:
            problems.append(f"{record_id} ({change.what}) arrived flagged as deleted")
        else:
            wrong = [
                f"{column}={row.get(column)!r} instead of {value!r}"
                for column, value in change.values.items()
                if row.get(column) != value
            ]
            if wrong:
                problems.append(f"{record_id} ({change.what}) arrived with {', '.join(wrong)}")
    rereads: dict[str, int] = {}
    for table, rows in sorted(arrived.items()):
        others = sorted(set(rows) - {rid for rid, c in changes.items() if c.table == table})
        unexpected = [rid for rid in others if rid not in at_bookmark.get(table, set())]
        if unexpected:
            problems.append(
                f"{table}: {len(unexpected)} rows arrived that neither changed nor share the "
                f"bookmark's second ({', '.join(unexpected[:5])}"
                + (", ..." if len(unexpected) > 5 else "")
                + ")"
            )
        if len(others) > len(unexpected):
            rereads[table] = len(others) - len(unexpected)
    return problems, rereads


def print_api_calls(sandbox: SandboxServer, label: str) -> dict[str, int]:
    """The API calls the sandbox served since its counters were last reset, per operation."""
    calls = sandbox.stats()
    detail = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
    print(f"  API calls, {label}: {sum(calls.values())} ({detail or 'none'})", flush=True)
    return calls


def change_records(api: Api) -> dict[str, Change]:
    """A few creates, revisions and deletions; returns id -> the change."""
    owner = api.call("GET", "me")["id"]
    changes: dict[str, Change] = {}
    for first, last in (("Ada", "Lovelace"), ("Alan", "Turing")):
        values = {"firstname": first, "lastname": last, "email": f"{first.lower()}@example.org"}
        rec = api.call(
            "POST", "create", elementType="Contacts",
            element=json.dumps({**values, "assigned_user_id": owner}),
        )  # fmt: skip
        changes[rec["id"]] = Change("contacts", f"created Contact {first} {last}", values)
    for acc in api.query("select id, accountname from Accounts limit 2;"):
        values = {"website": "https://example.org/new"}
        api.call("POST", "revise", element=json.dumps({"id": acc["id"], **values}))
        what = f"revised Account {acc['accountname']} (website)"
        changes[acc["id"]] = Change("accounts", what, values)
    for lead in api.query("select id, lastname from Leads limit 1;"):
        api.call("POST", "delete", id=lead["id"])
        changes[lead["id"]] = Change("leads", f"deleted Lead {lead['lastname']}")
    for contact in api.query("select id, lastname from Contacts limit 1;"):
        api.call("POST", "delete", id=contact["id"])
        changes[contact["id"]] = Change("contacts", f"deleted Contact {contact['lastname']}")
    return changes


MART = "marts.deal_pipeline"
MART_QUERY = (
    f"SELECT month, sales_stage, deals, amount, win_rate FROM {MART} "
    "WHERE month >= (SELECT max(month) FROM marts.deal_pipeline) - INTERVAL 2 MONTH "
    "ORDER BY month DESC, sales_stage"
)


def build_models() -> None:
    """dbt builds the models of transform/ and runs their tests on the DuckDB file."""
    step("dbt: meltano --environment dev run dbt-duckdb:build (staging models, marts, tests)")
    env = dict(
        os.environ, TARGET_DUCKDB_FILEPATH=str(DUCKDB_FILE), NO_COLOR="1",
        DBT_DUCKDB_TARGET_PATH=str(OUTPUT / "dbt"), DBT_DUCKDB_LOG_PATH=str(OUTPUT / "dbt"),
    )  # fmt: skip
    meltano("run", "dbt-duckdb:build", env=env, label="dbt build", extracts=False)
    results = json.loads((OUTPUT / "dbt" / "run_results.json").read_text())["results"]
    kinds = {"model": 0, "test": 0}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"  {kinds['model']} models built, {kinds['test']} dbt tests passed", flush=True)


def print_mart() -> None:
    """The deal pipeline mart, its three newest months."""
    with duckdb.connect(str(DUCKDB_FILE), read_only=True) as conn:
        (total,) = conn.execute(f"SELECT count(*) FROM {MART}").fetchone()
        rows = conn.execute(MART_QUERY).fetchall()
    print(f"\n{MART} ({total} rows: Potentials by close month and sales stage), "
          "the three newest months:")  # fmt: skip
    print(f"  {'month':<12}{'sales_stage':<26}{'deals':>6}{'amount':>14}{'win_rate':>10}")
    for month, stage, deals, amount, win_rate in rows:
        rate = "" if win_rate is None else f"{float(win_rate):.2f}"
        print(f"  {month!s:<12}{stage or '':<26}{deals:>6}{float(amount or 0):>14,.2f}{rate:>10}")
    print(f"  ({MART_QUERY})", flush=True)


SELF_HOSTED_DUCKDB = OUTPUT / "vtiger-selfhosted.duckdb"
SELF_HOSTED_SUFFIX = "selfhosted"


def deleted_rows(path: Path) -> dict[str, str]:
    """id -> lastname of the Contacts flagged deleted in a DuckDB file."""
    with duckdb.connect(str(path), read_only=True) as conn:
        schema, table = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE lower(table_name) = 'contacts'").fetchone()
        rows = conn.execute(
            f'SELECT id, lastname FROM "{schema}"."{table}" WHERE _sdc_deleted_at IS NOT NULL'
        ).fetchall()
    return dict(rows)


def self_hosted_part(tmp: str) -> list[str]:
    """A self-hosted Vtiger (webservice.php, sync-capable build) with three owners: the admin,
    the user maria and a group. Records that maria or the group own are deleted between two
    runs; self-hosted sync never lists those deletions, so the tap's id-set check finds them.
    Returns what went wrong (nothing: an empty list).
    """
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    step("self-hosted: starting vtiger-sandbox --flavor self-hosted-sync, three owners ...")
    with SandboxServer(Path(tmp) / "selfhosted.sqlite", flavor="self-hosted-sync") as crm:
        maria = crm.add_user("maria", "Maria", "Sales")
        for owner in ("19x1", maria["id"], "20x2"):
            crm.bulk_create("Contacts", 3, assigned_user_id=owner,
                            modifiedtime="2026-01-01 10:00:00")

        def client(username: str, key: str) -> VtigerClient:
            return VtigerClient(ClientConfig.from_mapping(
                {"api_url": crm.url, "username": username, "access_key": key,
                 "api_style": "webservice"}))

        admin, as_maria = client(crm.username, crm.access_key), client("maria", maria["access_key"])
        env = dict(
            os.environ, VTIGER_API_URL=crm.url, VTIGER_USERNAME=crm.username,
            VTIGER_ACCESS_KEY=crm.access_key, TAP_VTIGER_API_STYLE="webservice",
            TAP_VTIGER_DELETION_CHECK_HOURS="0", TAP_VTIGER_MODULES='["Contacts"]',
            TAP_VTIGER__SELECT_FILTER='["Contacts"]',
            TARGET_DUCKDB_FILEPATH=str(SELF_HOSTED_DUCKDB), NO_COLOR="1",
        )
        subprocess.run(
            [MELTANO, "--environment", "dev", "state", "clear", "--force",
             f"{STATE_ID}:{SELF_HOSTED_SUFFIX}"],
            cwd=ROOT, env=env, capture_output=True, check=False,
        )  # fmt: skip
        run = ("run", "--state-id-suffix", SELF_HOSTED_SUFFIX, "tap-vtiger", "target-duckdb")
        meltano(*run, env=env, label="self-hosted run 1")
        gone = {}
        for who, api, owner in (("maria", as_maria, maria["id"]), ("admin", admin, "20x2")):
            [victim] = api.query(f"select id, lastname from Contacts where assigned_user_id = "
                                 f"'{owner}' limit 1;")
            api.delete(victim["id"])
            gone[victim["id"]] = victim["lastname"]
            print(f"  {who} deleted Contact {victim['id']} (owner {owner}): sync never lists it")
        meltano(*run, env=env, label="self-hosted run 2")
        flagged = deleted_rows(SELF_HOSTED_DUCKDB)
        for rid in sorted(gone):
            print(f"  contacts   {rid:<10} {'deleted' if rid in flagged else 'MISSING':<9}"
                  f" flagged in {shown(SELF_HOSTED_DUCKDB)}")
    missing = sorted(set(gone) - set(flagged))
    extra = sorted(set(flagged) - set(gone))
    return ([f"self-hosted: deletion of {rid} did not arrive" for rid in missing]
            + [f"self-hosted: {rid} flagged deleted but it exists" for rid in extra])


def main() -> int:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    LOG_FILE.write_text("")
    for stale in (DUCKDB_FILE, Path(str(DUCKDB_FILE) + ".wal"), SELF_HOSTED_DUCKDB,
                  Path(str(SELF_HOSTED_DUCKDB) + ".wal")):
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
            # A fresh sandbox: start from no state (Meltano keeps it in .meltano/meltano.db,
            # or wherever MELTANO_DATABASE_URI points).
            subprocess.run(
                [MELTANO, "--environment", "dev", "state", "clear", "--force", STATE_ID],
                cwd=ROOT, env=env, capture_output=True, check=False,
            )  # fmt: skip

            step("run 1: meltano --environment dev run tap-vtiger target-duckdb")
            sandbox.reset_stats()
            meltano("run", "tap-vtiger", "target-duckdb", env=env, label="run 1 (full)")
            print_api_calls(sandbox, "run 1 (full)")
            print(f"\nRows per module in {shown(DUCKDB_FILE)}:")
            print_counts()
            at_bookmark = bookmark_seconds()

            step("changing records in Vtiger through the API ...")
            changes = change_records(api)
            for record_id, change in changes.items():
                print(f"  {record_id:<10} {change.what}")

            since = dt.datetime.now()
            step("run 2: the same command; Meltano's state makes it incremental")
            sandbox.reset_stats()
            meltano("run", "tap-vtiger", "target-duckdb", env=env, label="run 2 (incremental)")
            print_api_calls(sandbox, "run 2 (incremental)")

            arrived = rows_since(since)
            problems, rereads = check_run2(changes, arrived, at_bookmark)
            print("\nRows that arrived in run 2:")
            print(f"  {'table':<11}{'id':<10} {'how':<9} change")
            for record_id, change in changes.items():
                row = arrived.get(change.table, {}).get(record_id)
                how = (
                    "missing"
                    if row is None
                    else ("deleted" if row.get("_sdc_deleted_at") is not None else "upserted")
                )
                print(f"  {change.table:<11}{record_id:<10} {how:<9} {change.what}")
            if rereads:
                listed = ", ".join(f"{n} {t}" for t, n in sorted(rereads.items()))
                print(
                    f"  + unchanged rows re-read at the bookmark's second ({listed}):\n"
                    "    the tap re-reads that second, so a change later in it is never missed"
                )
            print(f"\nAfter run 2 in {shown(DUCKDB_FILE)}:")
            print_counts()
            step("stopping the sandbox")
        problems += self_hosted_part(tmp)
    if problems:
        raise SystemExit("run 2 check failed: " + "; ".join(problems))
    total = sum(len(rows) for rows in arrived.values())
    deleted = sum(1 for change in changes.values() if change.values is None)
    reread = sum(rereads.values())
    step(
        f"done: run 2 moved {total} rows: the {len(changes)} changes, verified (new values "
        f"landed, {deleted} deletions flagged in _sdc_deleted_at)"
        + (f", + {reread} unchanged rows of the bookmark's second" if reread else "")
        + f"; explore with: duckdb {shown(DUCKDB_FILE)}"
    )
    build_models()
    print_mart()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
