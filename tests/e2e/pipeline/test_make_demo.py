"""`make demo` (scripts/demo.py) end to end, away from the developer's files.

The demo runs as `make demo` runs it (the project venv's python, a subprocess), with its
DuckDB file and log in a temporary directory (DEMO_OUTPUT_DIR) and Meltano's state in a
temporary system database (MELTANO_DATABASE_URI, from the `meltano_factory` fixture), so
output/warehouse.duckdb and .meltano/meltano.db are left alone. Its run-2 check is also tested
on made-up rows: each way a change can go wrong makes it fail with a one-line reason.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from helpers import PIPELINE, ROOT

pytestmark = PIPELINE

DEMO = ROOT / "scripts" / "demo.py"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else sys.executable)
STATE_ID = "dev:tap-vtiger-to-target-duckdb"
MODULES = ["accounts", "contacts", "helpdesk", "leads", "potentials"]
DEVELOPER_FILES = [ROOT / "output" / "warehouse.duckdb", ROOT / "output" / "demo-meltano.log"]


def fingerprint(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


@dataclass
class DemoRun:
    proc: subprocess.CompletedProcess
    seconds: float
    workdir: Path
    output: Path
    developer_before: list
    developer_after: list

    @property
    def lines(self) -> list[str]:
        return self.proc.stdout.splitlines()

    def table_after(self, heading: str) -> dict[str, tuple[int, int, int]]:
        """The rows-per-module table printed under the line starting with `heading`."""
        start = next(i for i, ln in enumerate(self.lines) if ln.startswith(heading))
        assert self.lines[start + 1].split() == ["table", "rows", "live", "deleted"]
        table = {}
        for line in self.lines[start + 2 :]:
            parts = line.split()
            if len(parts) != 4 or not parts[1].replace(",", "").isdigit():
                break
            table[parts[0]] = tuple(int(p.replace(",", "")) for p in parts[1:])
        return table

    def api_calls(self, label: str) -> dict[str, int]:
        pattern = re.compile(rf"^  API calls, {re.escape(label)}: (\d+) \((.*)\)$")
        found = [m for m in map(pattern.match, self.lines) if m]
        assert len(found) == 1, f"no API call line for {label}:\n{self.proc.stdout}"
        total, detail = int(found[0][1]), found[0][2]
        calls = {op: int(n) for op, n in (part.rsplit(" ", 1) for part in detail.split(", "))}
        assert sum(calls.values()) == total
        return calls


@pytest.fixture(scope="module")
def demo(meltano_factory) -> DemoRun:
    """One `scripts/demo.py` run (the plugins are installed first, by the fixture)."""
    meltano = meltano_factory("demo")
    output = meltano.workdir / "output"
    before = [fingerprint(p) for p in DEVELOPER_FILES]
    started = time.monotonic()
    proc = subprocess.run(
        [PYTHON, "-u", str(DEMO)],
        cwd=ROOT,
        env=meltano.environ({"DEMO_OUTPUT_DIR": str(output)}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - started
    after = [fingerprint(p) for p in DEVELOPER_FILES]
    return DemoRun(proc, seconds, meltano.workdir, output, before, after)


def test_the_demo_exits_0_and_reports_each_step(demo: DemoRun):
    assert demo.proc.returncode == 0, f"{demo.proc.stdout[-4000:]}\n{demo.proc.stderr[-4000:]}"
    steps = [re.sub(r"^\[\s*\d+\.\d+s\] ", "", ln) for ln in demo.lines if ln.startswith("[")]
    expected = [
        "installing Meltano plugins if needed",
        "starting vtiger-sandbox with the demo data",
        "sandbox serving http://127.0.0.1:",
        "run 1: meltano --environment dev run tap-vtiger target-duckdb",
        "run 1 (full) done in ",
        "changing records in Vtiger through the API",
        "run 2: the same command; Meltano's state makes it incremental",
        "run 2 (incremental) done in ",
        "stopping the sandbox",
        "self-hosted: starting vtiger-sandbox --flavor self-hosted-sync, three owners",
        "self-hosted run 1 done in ",
        "self-hosted run 2 done in ",
        "done: run 2 moved ",
        "dbt: meltano --environment dev run dbt-duckdb:build",
        "dbt build done in ",
    ]
    assert len(steps) == len(expected), steps
    for line, start in zip(steps, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "run 1 (full) done in" in demo.proc.stdout
    assert re.search(r"run 1 \(full\) done in [\d.]+s: 4,000 records extracted", demo.proc.stdout)


def test_a_deletion_arrives_from_a_multi_owner_self_hosted_server(demo: DemoRun):
    """Contacts of another user and of a group, deleted: self-hosted sync never lists them."""
    flagged = [ln for ln in demo.lines if ln.startswith("  contacts ") and "flagged in" in ln]
    assert len(flagged) == 2, demo.proc.stdout[-3000:]
    assert all(" deleted " in ln for ln in flagged), flagged
    assert sum("sync never lists it" in ln for ln in demo.lines) == 2


def test_rows_per_module_before_and_after_the_changes(demo: DemoRun):
    first = demo.table_after("Rows per module in ")
    second = demo.table_after("After run 2 in ")
    assert sorted(first) == sorted(second) == MODULES
    for table in (first, second):
        for rows, live, deleted in table.values():
            assert rows == live + deleted
    assert sum(rows for rows, _, _ in first.values()) == 4000  # the demo data, all of it
    # 2 Contacts created and 1 deleted, 1 Lead deleted, 2 Accounts revised (rows updated)
    delta = {t: tuple(b - a for a, b in zip(first[t], second[t], strict=True)) for t in first}
    assert delta == {
        "accounts": (0, 0, 0),
        "contacts": (2, 1, 1),
        "helpdesk": (0, 0, 0),
        "leads": (0, -1, 1),
        "potentials": (0, 0, 0),
    }


def test_the_api_calls_of_each_run_are_printed(demo: DemoRun):
    full = demo.api_calls("run 1 (full)")
    incremental = demo.api_calls("run 2 (incremental)")
    # discovery (listtypes + one describe per module) at most once, in run 1 unless Meltano
    # already had the catalog: run 2 reuses Meltano's cached catalog
    assert full.get("listtypes", 0) <= 1
    if "listtypes" in full:
        assert full["describe"] >= len(MODULES)
    else:
        assert "describe" not in full
    assert "listtypes" not in incremental and "describe" not in incremental, incremental
    # 100 records a sync page, except that a second is never split: Contacts' 150 records
    # sharing one second come in one page
    assert full["sync"] >= (4000 - 150) // 100
    # one sync page per module, + 1 for Contacts' 150 records sharing the bookmark's second
    assert incremental["sync"] <= len(MODULES) + 1


def test_the_second_run_brought_only_the_verified_changes(demo: DemoRun):
    out = demo.proc.stdout
    done = next(ln for ln in demo.lines if "done: run 2 moved" in ln)
    match = re.search(
        r"done: run 2 moved (\d+) rows: the 6 changes, verified \(new values landed, "
        r"2 deletions flagged in _sdc_deleted_at\)(?:, \+ (\d+) unchanged rows of the "
        r"bookmark's second)?; explore with: duckdb ",
        done,
    )
    assert match, done
    moved, reread = int(match[1]), int(match[2] or 0)
    assert moved == 6 + reread
    assert reread <= 150 + len(MODULES)  # the demo's tie second in Contacts, ~1 elsewhere
    table = out.split("Rows that arrived in run 2:\n", 1)[1].split("\n\n", 1)[0]
    changes = re.findall(r"^  (\w+)\s+(\d+x\d+)\s+(upserted|deleted)\s+(.+)$", table, re.M)
    assert sorted(how for _, _, how, _ in changes) == ["deleted"] * 2 + ["upserted"] * 4
    # and the warehouse agrees
    with duckdb.connect(str(demo.output / "warehouse.duckdb"), read_only=True) as conn:
        for table, record_id, how, _what in changes:
            (flag,) = conn.execute(
                f'SELECT _sdc_deleted_at FROM vtiger.{table} WHERE id = ?', [record_id]
            ).fetchone()
            assert (flag is not None) == (how == "deleted"), (table, record_id)
        created = conn.execute(
            "SELECT firstname, lastname FROM vtiger.contacts WHERE email LIKE '%@example.org' "
            "AND firstname IN ('Ada', 'Alan') ORDER BY firstname"
        ).fetchall()
        assert created == [("Ada", "Lovelace"), ("Alan", "Turing")]


def test_the_demo_kept_to_its_temporary_files(demo: DemoRun):
    assert (demo.output / "warehouse.duckdb").exists()
    assert "$ " in (demo.output / "demo-meltano.log").read_text()
    with sqlite3.connect(demo.workdir / "meltano.db") as conn:
        (state,) = conn.execute(
            "SELECT completed_state FROM state WHERE state_id = ?", [STATE_ID]
        ).fetchone()
    bookmarks = json.loads(state)["singer_state"]["bookmarks"]
    assert {name.lower() for name in bookmarks} >= set(MODULES)
    assert demo.developer_after == demo.developer_before, "output/ of the checkout was written"
    assert str(demo.output) in demo.proc.stdout


def test_the_demo_ends_by_printing_the_deal_pipeline_mart_dbt_built(demo: DemoRun):
    """dbt builds every model and passes every test; the last lines are the mart's newest
    months, exactly as marts.deal_pipeline holds them."""
    built = next(ln for ln in demo.lines if "models built" in ln)
    match = re.fullmatch(r"  (\d+) models built, (\d+) dbt tests passed", built)
    assert match and int(match[1]) > 0 and int(match[2]) > 0, built
    results = json.loads((demo.output / "dbt" / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results} <= {"success", "pass"}
    heading = next(i for i, ln in enumerate(demo.lines) if ln.startswith("marts.deal_pipeline ("))
    assert demo.lines[heading + 1].split() == ["month", "sales_stage", "deals", "amount",
                                               "win_rate"]  # fmt: skip
    printed = demo.lines[heading + 2 : -1]
    assert demo.lines[-1].startswith("  (SELECT month, sales_stage")  # the query, last
    with duckdb.connect(str(demo.output / "warehouse.duckdb"), read_only=True) as conn:
        newest = conn.execute(
            "SELECT month, sales_stage, deals FROM marts.deal_pipeline WHERE month >= "
            "(SELECT max(month) FROM marts.deal_pipeline) - INTERVAL 2 MONTH "
            "ORDER BY month DESC, sales_stage"
        ).fetchall()
        # every live deal is in the mart, once
        (deals,) = conn.execute("SELECT sum(deals) FROM marts.deal_pipeline").fetchone()
        (live,) = conn.execute(
            "SELECT count(*) FROM vtiger.potentials WHERE _sdc_deleted_at IS NULL"
        ).fetchone()
    assert deals == live > 0
    assert len(printed) == len(newest) > 0
    for line, row in zip(printed, newest, strict=True):
        # fixed columns: month 12, sales_stage 26, deals 6
        shown = (line[2:14].strip(), line[14:40].strip(), int(line[40:46]))
        assert shown == (str(row[0]), row[1] or "", row[2]), line


# ------------------------------------------------------------------ the run-2 check itself
def load_demo():
    spec = importlib.util.spec_from_file_location("vtiger_demo_script", DEMO)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def check():
    demo = load_demo()
    changes = {
        "12x9001": demo.Change("contacts", "created Contact Ada", {"lastname": "Lovelace"}),
        "11x1": demo.Change("accounts", "revised Account A (website)", {"website": "https://n"}),
        "12x5": demo.Change("contacts", "deleted Contact Smith"),
    }
    stamp = dt.datetime(2026, 1, 1, 12, 0, 0).isoformat()
    good = {
        "contacts": {
            "12x9001": {"id": "12x9001", "lastname": "Lovelace", "_sdc_deleted_at": None},
            "12x5": {"id": "12x5", "lastname": "Smith", "_sdc_deleted_at": stamp},
            "12x77": {"id": "12x77", "lastname": "Tie", "_sdc_deleted_at": None},
        },
        "accounts": {"11x1": {"id": "11x1", "website": "https://n", "_sdc_deleted_at": None}},
    }
    at_bookmark = {"contacts": {"12x77"}, "accounts": set()}

    def run(mutate=None):
        arrived = json.loads(json.dumps(good))
        if mutate:
            mutate(arrived)
        return demo.check_run2(changes, arrived, at_bookmark)

    return run


def test_check_passes_the_changes_and_the_bookmark_second(check):
    assert check() == ([], {"contacts": 1})


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda a: a["contacts"]["12x5"].update(_sdc_deleted_at=None),
         "12x5 (deleted Contact Smith) arrived without _sdc_deleted_at"),
        (lambda a: a["accounts"]["11x1"].update(website="https://old"),
         "11x1 (revised Account A (website)) arrived with website='https://old' instead of "
         "'https://n'"),
        (lambda a: a["contacts"].pop("12x9001"),
         "12x9001 (created Contact Ada) did not arrive"),
        (lambda a: a["contacts"]["12x9001"].update(_sdc_deleted_at="2026-01-01"),
         "12x9001 (created Contact Ada) arrived flagged as deleted"),
        (lambda a: a["accounts"].update({"11x8": {"id": "11x8", "_sdc_deleted_at": None}}),
         "accounts: 1 rows arrived that neither changed nor share the bookmark's second (11x8)"),
    ],
    ids=["deletion-not-flagged", "value-not-landed", "missing", "flagged", "extra-row"],
)  # fmt: skip
def test_check_names_what_went_wrong_in_one_line(check, mutate, reason):
    problems, _ = check(mutate)
    assert problems == [reason]
    assert "\n" not in reason
