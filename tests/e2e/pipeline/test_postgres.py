"""`meltano run tap-vtiger target-postgres`: the sandbox lands in a real PostgreSQL server.

First run: every record of the selected modules, field by field, in natural column types.
Second run, after records were created, revised and deleted through the API: exactly those
arrive (deletions flagged in _sdc_deleted_at), from the state Meltano kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from helpers import (
    MODULES,
    PIPELINE,
    Changes,
    Meltano,
    VtigerREST,
    add_interests_field,
    boundary_ids,
    change_records,
    differences,
    field_types,
    sandbox_env,
    select_env,
)

from vtiger_sandbox.testing import SandboxServer

pytestmark = PIPELINE

SCHEMA = "vtiger"
STATE_ID = "dev:tap-vtiger-to-target-postgres"


def table_rows(conn, module: str) -> dict[str, dict]:
    cur = conn.execute(f"SELECT * FROM {SCHEMA}.{module.lower()}")
    names = [c.name for c in cur.description]
    return {row[names.index("id")]: dict(zip(names, row, strict=True)) for row in cur}


def column_types(conn, module: str) -> dict[str, str]:
    cur = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (SCHEMA, module.lower()),
    )
    return dict(cur.fetchall())


def live(rows: dict[str, dict]) -> dict[str, dict]:
    return {rid: row for rid, row in rows.items() if row.get("_sdc_deleted_at") is None}


@dataclass
class Load:
    sandbox: SandboxServer
    api: VtigerREST
    meltano: Meltano
    describes: dict[str, dict]
    truth: dict[str, dict[str, dict]]
    rows: dict[str, dict[str, dict]]
    types: dict[str, dict[str, str]]
    seconds: float


@pytest.fixture(scope="module")
def first_load(meltano_factory, postgres, tmp_path_factory):
    sandbox = SandboxServer(tmp_path_factory.mktemp("pg-sandbox") / "crm.sqlite", seed="demo")
    sandbox.start()
    try:
        meltano = meltano_factory("pg", **sandbox_env(sandbox), **select_env(MODULES))
        meltano.env.update(postgres.env())
        api = VtigerREST(sandbox)
        add_interests_field(sandbox, api)  # a custom multi-select picklist (an array)
        meltano("run", "tap-vtiger", "target-postgres")
        with postgres.connect() as conn:
            rows = {m: table_rows(conn, m) for m in MODULES}
            types = {m: column_types(conn, m) for m in MODULES}
        yield Load(
            sandbox=sandbox,
            api=api,
            meltano=meltano,
            describes={m: api.describe(m) for m in MODULES},
            truth={m: api.all_records(m) for m in MODULES},
            rows=rows,
            types=types,
            seconds=meltano.timings[-1][1],
        )
    finally:
        sandbox.stop()


@dataclass
class Incremental:
    changes: Changes
    started: dt.datetime
    before: dict[str, dict[str, dict]]
    before_rows: dict[str, dict[str, dict]]
    truth: dict[str, dict[str, dict]]
    rows: dict[str, dict[str, dict]]
    types: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def second_load(first_load: Load, postgres) -> Incremental:
    changes = change_records(first_load.api, first_load.truth)
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    first_load.meltano("run", "tap-vtiger", "target-postgres")
    with postgres.connect() as conn:
        rows = {m: table_rows(conn, m) for m in MODULES}
        types = {m: column_types(conn, m) for m in MODULES}
    return Incremental(
        changes=changes,
        started=started,
        before=first_load.truth,
        before_rows=first_load.rows,
        truth={m: first_load.api.all_records(m) for m in MODULES},
        rows=rows,
        types=types,
    )


def test_first_run_loads_every_record_field_by_field(first_load: Load):
    for module in MODULES:
        assert first_load.truth[module], f"the demo data has {module}"
        problems = differences(
            module, first_load.describes[module], first_load.truth[module],
            live(first_load.rows[module]),
        )  # fmt: skip
        assert problems == [], "\n".join(problems[:30])


def test_multi_select_picklists_land_as_text_arrays(first_load: Load):
    rows = first_load.rows["Contacts"]
    filled = {rid: row["cf_interests"] for rid, row in rows.items() if row["cf_interests"]}
    assert len(filled) == 3
    assert sorted(map(sorted, filled.values())) == [
        ["Chess", "Golf"], ["Chess", "Golf", "Sailing"], ["Sailing"],
    ]  # fmt: skip


def test_rows_flagged_deleted_are_not_live_in_vtiger(first_load: Load):
    for module in MODULES:
        flagged = set(first_load.rows[module]) - set(live(first_load.rows[module]))
        assert not flagged & set(first_load.truth[module])


def test_columns_have_natural_postgres_types(first_load: Load):
    expected_sql = {
        "integer": {"bigint", "integer"},
        "double": {"numeric"},
        "currency": {"numeric"},
        "boolean": {"boolean"},
        "date": {"date"},
        "datetime": {"timestamp with time zone"},  # instants keep their zone
        "multipicklist": {"ARRAY", "jsonb"},
    }
    seen = set()
    for module in MODULES:
        types = first_load.types[module]
        for name, vtiger_type in field_types(first_load.describes[module]).items():
            if vtiger_type in expected_sql and name in types:
                seen.add(vtiger_type)
                assert types[name] in expected_sql[vtiger_type], (
                    f"{module}.{name} ({vtiger_type}) landed as {types[name]}"
                )
        assert types["id"] == "text"
    # the selection really exercises the interesting types, a custom field included
    assert {"boolean", "datetime", "currency", "integer", "date", "multipicklist"} <= seen
    assert first_load.types["Contacts"]["cf_interests"] == "ARRAY"


def test_tables_are_the_modules_in_lower_case_in_schema_vtiger(first_load: Load, postgres):
    # the same names as in DuckDB (test_duckdb.py), no quoting needed
    with postgres.connect() as conn:
        names = {name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'vtiger'"
        )}  # fmt: skip
    assert {m.lower() for m in MODULES} <= names
    assert all(name == name.lower() for name in names), names


def test_meltano_keeps_the_bookmark_of_every_module(first_load: Load):
    assert STATE_ID in first_load.meltano.state_ids()
    bookmarks = first_load.meltano.state(STATE_ID)["singer_state"]["bookmarks"]
    assert set(MODULES) <= set(bookmarks)


def test_second_run_lands_exactly_the_changes_and_the_deletions(second_load: Incremental):
    for module in MODULES:
        landed = {
            rid for rid, row in second_load.rows[module].items()
            if row["_sdc_batched_at"] is not None
            and row["_sdc_batched_at"].replace(tzinfo=None) >= second_load.started
        }  # fmt: skip
        expected = second_load.changes.touched(module)
        assert expected <= landed, f"{module}: missing {expected - landed}"
        # Besides the changes, a tap may only re-read the boundary second of the last run.
        allowed = boundary_ids(second_load.before[module], second_load.before_rows[module])
        assert landed - expected <= allowed, module
        deleted = set(second_load.changes.deleted[module])
        assert {
            rid for rid in deleted if second_load.rows[module][rid]["_sdc_deleted_at"] is not None
        } == deleted


def test_after_the_second_run_tables_equal_vtiger_again(first_load: Load, second_load):
    for module in MODULES:
        problems = differences(
            module, first_load.describes[module], second_load.truth[module],
            live(second_load.rows[module]),
        )  # fmt: skip
        assert problems == [], "\n".join(problems[:30])


def test_timestamptz_columns_keep_their_type_across_loads(first_load: Load,
                                                          second_load: Incremental):
    for module in MODULES:
        datetimes = [name for name, vtiger_type in field_types(first_load.describes[module])
                     .items() if vtiger_type == "datetime" and name in second_load.types[module]]
        assert "modifiedtime" in datetimes
        assert {second_load.types[module][n] for n in datetimes} == {"timestamp with time zone"}
        assert second_load.types[module]["_sdc_batched_at"] == "timestamp with time zone"


RACE = """
import sys, threading
from target_postgres.connector import PostgresConnector
from loader_patches.target_postgres import concurrent_schema_creation

config = {"sqlalchemy_url":
          f"postgresql+psycopg://{sys.argv[3]}@{sys.argv[1]}:{sys.argv[2]}/{sys.argv[4]}"}
schema, patched = sys.argv[5], sys.argv[6]
if patched == "patched":
    concurrent_schema_creation(PostgresConnector)
connectors = [PostgresConnector(config=config) for _ in range(8)]
for c in connectors:
    c.schema_exists(schema)  # connect first: the threads then race on the DDL alone
barrier, errors = threading.Barrier(len(connectors)), []

def load(connector):
    barrier.wait()
    try:
        connector.prepare_schema(schema)
    except Exception as exc:
        errors.append(type(exc).__name__)

threads = [threading.Thread(target=load, args=(c,)) for c in connectors]
for th in threads:
    th.start()
for th in threads:
    th.join()
print(len(errors))
"""


def test_parallel_loads_may_create_the_target_schema_at_the_same_moment(postgres):
    # One Airflow task per module: on the first run every task creates the schema. The SDK
    # checks, then creates, so plain target-postgres lost all but one of them.
    import subprocess
    from pathlib import Path

    venv = Path(__file__).resolve().parents[3] / ".meltano/loaders/target-postgres/venv"
    args = [postgres.host, str(postgres.port), postgres.user, postgres.database]
    failures = {}
    for n, mode in enumerate(("plain", "patched", "plain", "patched")):
        proc = subprocess.run([str(venv / "bin/python"), "-c", RACE, *args, f"race_{n}", mode],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        failures.setdefault(mode, []).append(int(proc.stdout.strip()))
    assert failures["patched"] == [0, 0]
    assert max(failures["plain"]) > 0  # the race is real (and this test can see it)
