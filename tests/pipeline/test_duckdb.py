"""`meltano run tap-vtiger target-duckdb`: the embedded default warehouse.

The same story as PostgreSQL: a full first run field by field, then an incremental run that
lands exactly the changed and deleted records. Plus the reason target-duckdb's own venv pins
duckdb 1.0.0: with newer DuckDB its CSV loading can silently drop the first record of a batch.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass

import duckdb
import pytest
from helpers import (
    MODULES,
    PIPELINE,
    ROOT,
    Changes,
    Meltano,
    VtigerREST,
    add_interests_field,
    boundary_ids,
    change_records,
    differences,
    sandbox_env,
    select_env,
)

from vtiger_sandbox.testing import SandboxServer

pytestmark = PIPELINE

STATE_ID = "dev:tap-vtiger-to-target-duckdb"


def read_tables(path) -> dict[str, dict[str, dict]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = {}
        for module in MODULES:
            cur = conn.execute(f'SELECT * FROM crm."{module.lower()}"')
            names = [c[0] for c in cur.description]
            tables[module] = {
                row[names.index("id")]: dict(zip(names, row, strict=True)) for row in cur.fetchall()
            }
        return tables


def live(rows: dict[str, dict]) -> dict[str, dict]:
    return {rid: row for rid, row in rows.items() if row.get("_sdc_deleted_at") is None}


@dataclass
class Runs:
    meltano: Meltano
    describes: dict[str, dict]
    first_truth: dict[str, dict[str, dict]]
    first_rows: dict[str, dict[str, dict]]
    changes: Changes
    second_started: dt.datetime
    second_truth: dict[str, dict[str, dict]]
    second_rows: dict[str, dict[str, dict]]


@pytest.fixture(scope="module")
def runs(meltano_factory, tmp_path_factory) -> Runs:
    db = tmp_path_factory.mktemp("duck-sandbox") / "crm.sqlite"
    with SandboxServer(db, seed="demo") as sandbox:
        api = VtigerREST(sandbox)
        meltano = meltano_factory("duck", **sandbox_env(sandbox), **select_env(MODULES))
        duckdb_file = meltano.workdir / "vtiger.duckdb"
        add_interests_field(sandbox, api)  # a custom multi-select picklist (an array)
        meltano("run", "vtiger-to-duckdb")
        first_truth = {m: api.all_records(m) for m in MODULES}
        first_rows = read_tables(duckdb_file)
        changes = change_records(api, first_truth)
        started = dt.datetime.now()  # target-duckdb stamps _sdc_batched_at in local time
        meltano("run", "vtiger-to-duckdb")
        return Runs(
            meltano=meltano,
            describes={m: api.describe(m) for m in MODULES},
            first_truth=first_truth,
            first_rows=first_rows,
            changes=changes,
            second_started=started,
            second_truth={m: api.all_records(m) for m in MODULES},
            second_rows=read_tables(duckdb_file),
        )


def test_first_run_loads_every_record_field_by_field(runs: Runs):
    for module in MODULES:
        assert runs.first_truth[module]
        problems = differences(
            module, runs.describes[module], runs.first_truth[module],
            live(runs.first_rows[module]),
        )  # fmt: skip
        assert problems == [], "\n".join(problems[:30])


def test_second_run_lands_exactly_the_changes_and_the_deletions(runs: Runs):
    for module in MODULES:
        landed = {
            rid for rid, row in runs.second_rows[module].items()
            if row["_sdc_batched_at"] is not None and row["_sdc_batched_at"] >= runs.second_started
        }  # fmt: skip
        expected = runs.changes.touched(module)
        assert expected <= landed, f"{module}: missing {expected - landed}"
        allowed = boundary_ids(runs.first_truth[module], runs.first_rows[module])
        assert landed - expected <= allowed, module
        for rid in runs.changes.deleted[module]:
            assert runs.second_rows[module][rid]["_sdc_deleted_at"] is not None


def test_after_the_second_run_tables_equal_vtiger_again(runs: Runs):
    for module in MODULES:
        problems = differences(
            module, runs.describes[module], runs.second_truth[module],
            live(runs.second_rows[module]),
        )  # fmt: skip
        assert problems == [], "\n".join(problems[:30])


def test_the_job_keeps_its_state_in_meltano(runs: Runs):
    assert STATE_ID in runs.meltano.state_ids()


def test_target_duckdb_keeps_the_first_record_of_every_batch(meltano_plugins, tmp_path):
    """A one-record batch: DuckDB >= 1.1 would take that record for a CSV header."""
    messages = [
        {
            "type": "SCHEMA",
            "stream": "Contacts",
            "key_properties": ["id"],
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "lastname": {"type": ["string", "null"]},
                    "modifiedtime": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
        {
            "type": "RECORD",
            "stream": "Contacts",
            "record": {
                "id": "12x1",
                "lastname": "Only",
                "modifiedtime": "2026-01-01T10:00:00+00:00",
            },
        },
    ]
    config = tmp_path / "config.json"
    settings = {"filepath": str(tmp_path / "t.duckdb"), "default_target_schema": "s"}
    config.write_text(json.dumps(settings))
    executable = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "target-duckdb"
    subprocess.run(
        [str(executable), "--config", str(config)],
        input="\n".join(json.dumps(m) for m in messages) + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT id, lastname FROM s.contacts").fetchall() == [("12x1", "Only")]
