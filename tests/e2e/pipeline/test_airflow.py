"""The Airflow DAG (orchestrate/airflow/dags/vtiger_elt.py) in a real Airflow 3.

Airflow lives in its own virtualenv (orchestrate/airflow/.venv, made by setup_venv.sh and
cached between runs), never in the project's dependencies. The DagBag must load without import
errors, and `airflow dags test` must really extract: one task per module, each with its own
Meltano state, then dbt building the models of transform/ from what was loaded, then the reverse
job writing into Vtiger. (`dags test` runs the tasks one after
the other, so another test starts the DAG's own task commands all at once, as a parallel
executor would, and checks that they do not collide.)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time

import pytest
from helpers import PIPELINE, ROOT, Meltano, VtigerREST, sandbox_env

from vtiger_sandbox.testing import SandboxServer

pytestmark = PIPELINE

AIRFLOW_DIR = ROOT / "orchestrate" / "airflow"
AIRFLOW_PY = AIRFLOW_DIR / ".venv" / "bin" / "python"
AIRFLOW = AIRFLOW_DIR / ".venv" / "bin" / "airflow"
DAG_MODULES = ["Contacts", "Accounts"]
SCHEMA = "airflow_elt"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    started = time.monotonic()
    subprocess.run(["bash", str(AIRFLOW_DIR / "setup_venv.sh")], check=True, timeout=900)
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTEST"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(AIRFLOW_DIR / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "NO_COLOR": "1",
        }
    )
    for cmd in (
        [str(AIRFLOW), "db", "migrate"],
        [str(AIRFLOW), "pools", "set", "vtiger_api", "2", "Concurrent Vtiger API clients"],
    ):
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=300)
    env["_SETUP_SECONDS"] = f"{time.monotonic() - started:.1f}"
    return env


DAGBAG_PROBE = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%r)
dag = bag.dags.get("vtiger_elt")
print(json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "max_active_runs": dag.max_active_runs if dag else None,
    "tasks": {
        t.task_id: {"pool": t.pool, "retries": t.retries,
                    "downstream": sorted(t.downstream_task_ids),
                    "bash_command": t.bash_command, "env": t.env}
        for t in (dag.tasks if dag else [])
    },
}))
"""


def load_dagbag(env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [str(AIRFLOW_PY), "-c", DAGBAG_PROBE % str(AIRFLOW_DIR / "dags")],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def state_id(module: str) -> str:
    return f"dev:tap-vtiger-to-target-postgres:{module}"


def assert_extracts_only_its_module(tasks: dict[str, dict], modules: list[str]) -> None:
    """Each extract_<Module> runs `meltano run --state-id-suffix <Module>` with the tap's
    select filter and `modules` setting narrowed to that one module."""
    for module in modules:
        task = tasks[f"extract_{module}"]
        words = shlex.split(task["bash_command"])
        meltano_args = words[words.index("--") + 1 :]  # after scripts/meltano_isolated.py
        assert meltano_args.count("--state-id-suffix") == 1, task["bash_command"]
        suffix = meltano_args[meltano_args.index("--state-id-suffix") + 1]
        assert suffix == module, task["bash_command"]
        assert meltano_args[-2] == "tap-vtiger", task["bash_command"]
        env = task["env"] or {}
        assert json.loads(env["TAP_VTIGER__SELECT_FILTER"]) == [module], env
        assert json.loads(env["TAP_VTIGER_MODULES"]) == [module], env


def assert_each_state_holds_only_its_module(meltano: Meltano, modules: list[str]) -> None:
    """The state of `<env>:tap-vtiger-to-target-postgres:<Module>` bookmarks that module alone."""
    for module in modules:
        state = meltano.state(state_id(module))
        bookmarks = state["singer_state"]["bookmarks"]
        assert set(bookmarks) == {module}, (module, state)
        assert bookmarks[module].get("replication_key_value"), (module, state)


def test_dagbag_loads_with_zero_import_errors(airflow_env):
    bag = load_dagbag(dict(airflow_env, VTIGER_ELT_MODULES="Contacts,Accounts,Leads"))
    assert bag["errors"] == {}
    assert bag["dags"] == ["vtiger_elt"]
    assert bag["max_active_runs"] == 1
    extracts = {name: task for name, task in bag["tasks"].items() if name.startswith("extract_")}
    assert sorted(extracts) == ["extract_Accounts", "extract_Contacts", "extract_Leads"]
    for name, task in bag["tasks"].items():
        # every task calling Vtiger takes a slot of the API pool; dbt reads the warehouse only
        assert task["pool"] == ("default_pool" if name == "transform" else "vtiger_api"), name
        assert task["retries"] >= 1
    # every extraction feeds dbt, which feeds the reverse job
    assert all(task["downstream"] == ["transform"] for task in extracts.values())
    assert bag["tasks"]["transform"]["downstream"] == ["reverse_etl"]
    assert bag["tasks"]["transform"]["bash_command"].endswith(" run dbt-postgres:build")
    assert_extracts_only_its_module(bag["tasks"], ["Contacts", "Accounts", "Leads"])


def test_with_duckdb_the_extractions_follow_each_other(airflow_env):
    modules = "Contacts,Accounts,Leads"
    bag = load_dagbag(
        dict(airflow_env, VTIGER_ELT_MODULES=modules, VTIGER_ELT_LOADER="target-duckdb")
    )
    tasks = bag["tasks"]
    assert "extract_Accounts" in tasks["extract_Contacts"]["downstream"]
    assert "extract_Leads" in tasks["extract_Accounts"]["downstream"]
    assert tasks["extract_Leads"]["downstream"] == ["transform"]
    assert tasks["transform"]["bash_command"].endswith(" run dbt-duckdb:build")


def test_without_a_transform_the_loads_feed_the_reverse_job(airflow_env):
    bag = load_dagbag(dict(airflow_env, VTIGER_ELT_MODULES="Contacts", VTIGER_ELT_TRANSFORM=""))
    assert "transform" not in bag["tasks"]
    assert bag["tasks"]["extract_Contacts"]["downstream"] == ["reverse_etl"]


def demo_environment(sandbox, postgres, workdir) -> dict[str, str]:
    """What the tasks see: the sandbox, PostgreSQL, private Meltano state, the dev env."""
    env = Meltano(workdir=workdir).environ()
    env.update(sandbox_env(sandbox))
    env.update(postgres.env())
    env.update(
        {
            "VTIGER_ELT_MODULES": ",".join(DAG_MODULES),
            "VTIGER_ELT_ENVIRONMENT": "dev",
            "VTIGER_ELT_LOADER": "target-postgres",
            "VTIGER_ELT_RETRIES": "0",
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": SCHEMA,
        }
    )
    return env


def test_extract_tasks_started_at_once_do_not_collide(
    airflow_env, postgres, meltano_plugins, tmp_path
):
    modules = ["Contacts", "Accounts", "Leads"]
    with SandboxServer(tmp_path / "crm.sqlite", seed="demo") as sandbox:
        env = dict(airflow_env)
        env.update(demo_environment(sandbox, postgres, tmp_path))
        env.update(
            VTIGER_ELT_MODULES=",".join(modules),
            TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="parallel_elt",
        )
        Meltano(workdir=tmp_path).state_ids()  # the system database exists before the tasks
        tasks = load_dagbag(env)["tasks"]
        running = [
            subprocess.Popen(
                ["bash", "-c", tasks[f"extract_{module}"]["bash_command"]],
                env={**env, **tasks[f"extract_{module}"]["env"]},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for module in modules
        ]
        outputs = [proc.communicate(timeout=600)[0] for proc in running]
        for proc, output in zip(running, outputs, strict=True):
            assert proc.returncode == 0, output[-4000:]
        state_ids = Meltano(workdir=tmp_path).state_ids()
        assert {state_id(m) for m in modules} <= set(state_ids), state_ids
        assert_each_state_holds_only_its_module(Meltano(workdir=tmp_path), modules)
        api = VtigerREST(sandbox)
        with postgres.connect() as conn:
            for module in modules:
                [(landed,)] = conn.execute(
                    f"SELECT count(*) FROM parallel_elt.{module.lower()} "
                    "WHERE _sdc_deleted_at IS NULL"
                ).fetchall()
                assert landed == len(api.all_records(module)), module


def task_order(output: str) -> list[str]:
    """Task ids in the order `airflow dags test` started them."""
    return re.findall(r"\[DAG TEST\] starting task_id=(\S+)", output)


def test_dags_test_extracts_each_module_then_builds_the_models_then_runs_the_reverse_job(
    airflow_env, postgres, meltano_plugins, tmp_path
):
    database = "airflow_warehouse"  # of its own: the loaders' default schema vtiger, as dbt reads
    with postgres.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.execute(f"CREATE DATABASE {database}")
    with SandboxServer(tmp_path / "crm.sqlite", seed="demo") as sandbox:
        api = VtigerREST(sandbox)
        with postgres.connect(database) as conn:
            conn.execute("CREATE SCHEMA reverse_etl")
            conn.execute(
                "CREATE TABLE reverse_etl.contacts_to_vtiger (email text PRIMARY KEY, "
                "firstname text, lastname text NOT NULL, title text)"
            )
            conn.execute(
                "INSERT INTO reverse_etl.contacts_to_vtiger VALUES "
                "('airflow@example.org', 'Air', 'Flow', 'Scheduler')"
            )
        env = dict(airflow_env)
        env.update(demo_environment(sandbox, postgres, tmp_path))
        env.pop("TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA")
        env.update(TARGET_POSTGRES_DATABASE=database, TAP_POSTGRES_DATABASE=database,
                   DBT_POSTGRES_TARGET_PATH=str(tmp_path / "dbt-target"),
                   DBT_POSTGRES_LOG_PATH=str(tmp_path))  # fmt: skip
        # what Vtiger holds before the reverse job adds its contact
        live_before = {module: set(api.all_records(module)) for module in DAG_MODULES}
        started = time.monotonic()
        proc = subprocess.run(
            [str(AIRFLOW), "dags", "test", "vtiger_elt"],
            env=env, capture_output=True, text=True, timeout=1200, check=False,
        )  # fmt: skip
        seconds = time.monotonic() - started
        (tmp_path / "airflow.log").write_text(proc.stdout + proc.stderr)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-6000:]
        for task in [*(f"extract_{m}" for m in DAG_MODULES), "transform", "reverse_etl"]:
            assert f"[DAG TEST] end task task_id={task} " in output, task
        order = task_order(output)
        assert order[-2:] == ["transform", "reverse_etl"], order

        with postgres.connect(database) as conn:
            for module in DAG_MODULES:
                [(landed,)] = conn.execute(
                    f"SELECT count(*) FROM vtiger.{module.lower()} WHERE _sdc_deleted_at IS NULL"
                ).fetchall()
                assert landed == len(live_before[module]), module
                # dbt built the staging model from the loads, before the reverse job wrote
                staged = {r for (r,) in conn.execute(f"SELECT id FROM staging.{module.lower()}")}
                assert staged == live_before[module], module
        results = json.loads((tmp_path / "dbt-target" / "run_results.json").read_text())
        failed = [r["unique_id"] for r in results["results"]
                  if r["status"] not in ("success", "pass")]  # fmt: skip
        assert results["results"] and failed == [], failed
        meltano = Meltano(workdir=tmp_path, env=sandbox_env(sandbox))
        state_ids = meltano.state_ids()
        for module in DAG_MODULES:
            assert state_id(module) in state_ids
        assert_each_state_holds_only_its_module(meltano, DAG_MODULES)
        emails = {r["email"] for r in api.all_records("Contacts").values()}
        assert "airflow@example.org" in emails
        print(f"airflow set-up {airflow_env['_SETUP_SECONDS']}s, dags test {seconds:.1f}s")
