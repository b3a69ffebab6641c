"""`meltano run tap-vtiger <loader> dbt-<warehouse>:build`: the dbt models on both warehouses.

The demo data goes through a real `meltano run` into DuckDB and into PostgreSQL, then dbt
builds every model of transform/ and runs its tests (unique/not_null ids, references,
accepted picklist values). Between two runs a record is revised and records are deleted in
Vtiger; after the second run the staging models show the new value, leave the deleted
records out, and deleted_records holds them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import (
    PIPELINE,
    ROOT,
    Meltano,
    VtigerREST,
    add_interests_field,
    sandbox_env,
    select_env,
)

from vtiger_sandbox.testing import SandboxServer

pytestmark = PIPELINE

# meltano.yml's default selection: the modules the marts and the reference tests are about
MODULES = ["Contacts", "Accounts", "Leads", "Potentials", "HelpDesk"]
MARTS = ["deal_pipeline", "ticket_backlog", "lead_conversion", "account_hierarchy"]


@dataclass
class Warehouse:
    """One warehouse after two `meltano run ... dbt-<warehouse>:build`."""

    name: str
    query: object  # sql -> list of tuples
    meltano: Meltano
    truth_before: dict[str, dict[str, dict]]
    truth_after: dict[str, dict[str, dict]]
    revised: dict[str, tuple[str, str, str]]  # module -> (id, column, new value)
    deleted: dict[str, str]  # module -> id
    run_results: dict

    def ids(self, model: str) -> set[str]:
        return {rid for (rid,) in self.query(f"SELECT id FROM {model}")}


def change_between_runs(api: VtigerREST, truth: dict[str, dict[str, dict]]):
    """Revise one Contact and one Potential, delete one Contact (not one of the three with
    interests) and one ticket."""
    contacts, deals = sorted(truth["Contacts"]), sorted(truth["Potentials"])
    revised = {
        "Contacts": (contacts[1], "title", "Chief Data Officer"),
        "Potentials": (deals[1], "sales_stage", "Closed Won"),
    }
    for record_id, column, value in revised.values():
        api.revise({"id": record_id, column: value})
    deleted = {"Contacts": contacts[3], "HelpDesk": sorted(truth["HelpDesk"])[0]}
    for record_id in deleted.values():
        api.delete(record_id)
    return revised, deleted


def two_runs(meltano: Meltano, sandbox: SandboxServer, loader: str, dbt: str, query) -> dict:
    api = VtigerREST(sandbox)
    add_interests_field(sandbox, api)  # a custom multi-select picklist: an array in staging
    meltano("run", "tap-vtiger", loader, f"{dbt}:build")
    before = {m: api.all_records(m) for m in MODULES}
    revised, deleted = change_between_runs(api, before)
    meltano("run", "tap-vtiger", loader, f"{dbt}:build")
    results = json.loads((meltano.workdir / "dbt-target" / "run_results.json").read_text())
    return dict(
        meltano=meltano, query=query, truth_before=before,
        truth_after={m: api.all_records(m) for m in MODULES},
        revised=revised, deleted=deleted, run_results=results,
    )  # fmt: skip


def dbt_env(workdir: Path) -> dict[str, str]:
    """dbt's artifacts and log in the test's own directory."""
    env = {}
    for plugin in ("DBT_DUCKDB", "DBT_POSTGRES"):  # the utilities' target_path, log_path
        env |= {
            f"{plugin}_TARGET_PATH": str(workdir / "dbt-target"),
            f"{plugin}_LOG_PATH": str(workdir),
        }
    return env


@pytest.fixture(scope="module")
def on_duckdb(meltano_factory, tmp_path_factory) -> Warehouse:
    with SandboxServer(tmp_path_factory.mktemp("dbt-duck") / "crm.sqlite", seed="demo") as sb:
        meltano = meltano_factory("dbt-duck", **sandbox_env(sb), **select_env(MODULES))
        meltano.env.update(dbt_env(meltano.workdir))

        def query(sql: str) -> list[tuple]:
            path = meltano.workdir / "warehouse.duckdb"
            with duckdb.connect(str(path), read_only=True) as conn:
                return conn.execute(sql).fetchall()

        return Warehouse("duckdb", **two_runs(meltano, sb, "target-duckdb", "dbt-duckdb", query))


@pytest.fixture(scope="module")
def on_postgres(meltano_factory, postgres, tmp_path_factory) -> Warehouse:
    database = "dbt_warehouse"  # a database of its own: other tests load vtiger.* too
    with postgres.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.execute(f"CREATE DATABASE {database}")
    env = {**postgres.env(), "TARGET_POSTGRES_DATABASE": database}
    with SandboxServer(tmp_path_factory.mktemp("dbt-pg") / "crm.sqlite", seed="demo") as sb:
        meltano = meltano_factory("dbt-pg", **sandbox_env(sb), **select_env(MODULES), **env)
        meltano.env.update(dbt_env(meltano.workdir))
        import psycopg

        def query(sql: str) -> list[tuple]:
            dsn = f"postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{database}"
            with psycopg.connect(dsn) as conn:
                return conn.execute(sql).fetchall()

        return Warehouse(
            "postgres", **two_runs(meltano, sb, "target-postgres", "dbt-postgres", query)
        )


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request) -> Warehouse:
    return request.getfixturevalue(f"on_{request.param}")


def test_dbt_builds_every_model_and_every_test_passes(warehouse: Warehouse):
    results = warehouse.run_results["results"]
    failed = [
        (r["unique_id"], r["status"]) for r in results if r["status"] not in ("success", "pass")
    ]
    assert failed == []
    kinds = {}
    for result in results:
        kinds.setdefault(result["unique_id"].split(".")[0], []).append(result["unique_id"])
    entity_modules = [
        path.stem.lower() for path in (ROOT / "schemas").glob("[A-Z]*.json")
        if json.loads(path.read_text()).get("isEntity")
    ]  # fmt: skip
    models = {uid.rsplit(".", 1)[1] for uid in kinds["model"]}
    assert models == {*entity_modules, "deleted_records", *MARTS}
    tests = " ".join(kinds["test"])
    for kind in ("unique_", "not_null_", "reference_resolves_", "accepted_values_"):
        assert kind in tests


def test_staging_models_hold_exactly_the_live_records(warehouse: Warehouse):
    for module in MODULES:
        assert warehouse.ids(f"staging.{module.lower()}") == set(warehouse.truth_after[module])


def test_staging_columns_have_proper_types(warehouse: Warehouse):
    [(amount, closing, created, converted)] = warehouse.query(
        "SELECT amount, closingdate, createdtime, isconvertedfromlead FROM staging.potentials "
        "WHERE amount IS NOT NULL AND closingdate IS NOT NULL LIMIT 1"
    )
    assert isinstance(amount, Decimal)
    assert type(closing) is dt.date
    assert isinstance(created, dt.datetime)
    assert isinstance(converted, bool)
    interests = [row[0] for row in warehouse.query(
        "SELECT cf_interests FROM staging.contacts WHERE cf_interests IS NOT NULL"
    )]  # fmt: skip
    assert sorted(sorted(values) for values in interests) == [
        ["Chess", "Golf"], ["Chess", "Golf", "Sailing"], ["Sailing"],
    ]  # fmt: skip


def test_references_are_resolved_to_keys(warehouse: Warehouse):
    truth = warehouse.truth_after
    for rid, account, owner in warehouse.query(
        "SELECT id, account_id, owner_user_id FROM staging.contacts"
    ):
        wire = truth["Contacts"][rid]
        assert account == (wire["account_id"] or None)
        assert owner == (wire["assigned_user_id"] if wire["assigned_user_id"].startswith("19x")
                         else None)  # fmt: skip
    related = dict(warehouse.query("SELECT id, account_id FROM staging.potentials"))
    assert related == {rid: r["related_to"] or None for rid, r in truth["Potentials"].items()}


def test_a_revised_record_shows_its_new_value_after_the_second_run(warehouse: Warehouse):
    for module, (record_id, column, value) in warehouse.revised.items():
        rows = warehouse.query(
            f"SELECT {column} FROM staging.{module.lower()} WHERE id = '{record_id}'"
        )
        assert rows == [(value,)], module


def test_a_deleted_record_leaves_staging_and_enters_deleted_records(warehouse: Warehouse):
    for module, record_id in warehouse.deleted.items():
        assert record_id in warehouse.truth_before[module]
        assert record_id not in warehouse.ids(f"staging.{module.lower()}")
        history = warehouse.query(
            f"SELECT module, deleted_at FROM staging.deleted_records WHERE id = '{record_id}'"
        )
        assert [module for module, _ in history] == [module]
        assert history[0][1] is not None


def test_marts_add_up_to_the_live_records(warehouse: Warehouse):
    truth = warehouse.truth_after
    [(deals, won)] = warehouse.query(
        "SELECT sum(deals), sum(CASE WHEN sales_stage = 'Closed Won' THEN deals END) "
        "FROM marts.deal_pipeline"
    )
    assert deals == len(truth["Potentials"])
    assert won == sum(r["sales_stage"] == "Closed Won" for r in truth["Potentials"].values())
    [(tickets, open_tickets)] = warehouse.query(
        "SELECT sum(tickets), sum(open_tickets) FROM marts.ticket_backlog"
    )
    assert tickets == len(truth["HelpDesk"])
    assert open_tickets == sum(r["ticketstatus"] != "Closed" for r in truth["HelpDesk"].values())
    [(leads,)] = warehouse.query("SELECT sum(open_leads) FROM marts.lead_conversion")
    assert leads == len(truth["Leads"])
    tree = {rid: (top, depth) for rid, top, depth in warehouse.query(
        "SELECT account_id, top_account_id, depth FROM marts.account_hierarchy"
    )}  # fmt: skip
    assert set(tree) == set(truth["Accounts"])
    for rid, (top, depth) in tree.items():
        parent = truth["Accounts"][rid]["account_id"] or None
        if depth == 0:
            assert top == rid
        else:
            assert tree[parent] == (top, depth - 1)
