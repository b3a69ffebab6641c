"""vtiger_elt: Vtiger CRM -> warehouse, one extraction task per module, the dbt models, then
reverse ETL.

    extract_Contacts ─┐
    extract_Accounts ─┤
    extract_Leads ────┼─> transform ─> reverse_etl (warehouse-to-vtiger: warehouse table -> Vtiger)
    extract_...    ───┘   (dbt build: models of transform/ and their tests)

Each extraction task runs

    meltano --environment $ENV run --state-id-suffix <Module> tap-vtiger <loader>

with the tap's select filter and `modules` setting narrowed to that one module, so every module
keeps its own Meltano state (`<env>:tap-vtiger-to-<loader>:<Module>`), retries on its own, and
a failure in one module neither blocks nor re-extracts the others. Once every module is loaded,
`transform` runs `meltano run dbt-postgres:build` (`dbt-duckdb:build` with target-duckdb): the
models of transform/ and their tests, so a failed dbt test stops the reverse job from sending
data it built.

Rate limits: Vtiger Cloud allows a number of API calls per minute per user. All tasks that call
Vtiger run in the Airflow pool `vtiger_api`; its slot count caps how many talk to Vtiger at once.
Create it once (2 slots suit the standard editions; the tap also paces itself on the
X-FloodControl-Remaining header):

    airflow pools set vtiger_api 2 "Concurrent Vtiger API clients (per-minute API limit)"

Configuration (environment of the scheduler and workers; nothing secret in this file):
    VTIGER_MELTANO_PROJECT   Meltano project directory (default: this repository)
    VTIGER_MELTANO_BIN       meltano executable in a virtualenv whose python also runs
                             scripts/meltano_isolated.py (default: <project>/.venv/bin/meltano)
    VTIGER_ELT_ENVIRONMENT   Meltano environment (default: prod)
    VTIGER_ELT_MODULES       comma-separated modules, one task each
                             (default: Contacts,Accounts,Leads,Potentials,HelpDesk)
    VTIGER_ELT_LOADER        loader (default: target-postgres; a DuckDB file takes one writer
                             at a time, so with target-duckdb the extractions run in a chain)
    VTIGER_ELT_TRANSFORM     dbt command run after the loads (default: dbt-postgres:build, or
                             dbt-duckdb:build with target-duckdb; empty: no transform task)
    VTIGER_ELT_REVERSE_JOB   reverse job (default: warehouse-to-vtiger; empty: no reverse task)
    VTIGER_ELT_POOL          pool name (default: vtiger_api)
    VTIGER_ELT_SCHEDULE      cron or preset (default: @hourly)
    VTIGER_ELT_RETRIES       retries per task (default: 3)
    plus the Meltano settings' variables: TAP_VTIGER_API_URL, TAP_VTIGER_USERNAME,
    TAP_VTIGER_ACCESS_KEY, TARGET_POSTGRES_SQLALCHEMY_URL, ... (from Airflow connections or a
    secrets backend).

Scaling out: the tasks are plain shell commands against a Meltano project, so they run on any
executor. CeleryExecutor: install this project (make venv, meltano install) on every worker
image, point the workers at a shared state backend (MELTANO_STATE_BACKEND_URI=s3://... or a
PostgreSQL MELTANO_DATABASE_URI) and a broker; the pool still caps Vtiger concurrency across
all workers. KubernetesExecutor: one pod per task from an image that contains the project; the
same shared state backend, secrets as pod environment variables. See README "Airflow".
"""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

PROJECT = Path(os.environ.get("VTIGER_MELTANO_PROJECT", Path(__file__).resolve().parents[3]))
MELTANO = os.environ.get("VTIGER_MELTANO_BIN", str(PROJECT / ".venv" / "bin" / "meltano"))
ENVIRONMENT = os.environ.get("VTIGER_ELT_ENVIRONMENT", "prod")
MODULES = [
    m.strip()
    for m in os.environ.get(
        "VTIGER_ELT_MODULES", "Contacts,Accounts,Leads,Potentials,HelpDesk"
    ).split(",")
    if m.strip()
]
LOADER = os.environ.get("VTIGER_ELT_LOADER", "target-postgres")
TRANSFORM = os.environ.get(
    "VTIGER_ELT_TRANSFORM",
    "dbt-duckdb:build" if LOADER.startswith("target-duckdb") else "dbt-postgres:build",
)
REVERSE_JOB = os.environ.get("VTIGER_ELT_REVERSE_JOB", "warehouse-to-vtiger")
POOL = os.environ.get("VTIGER_ELT_POOL", "vtiger_api")
SCHEDULE = os.environ.get("VTIGER_ELT_SCHEDULE", "@hourly")
RETRIES = int(os.environ.get("VTIGER_ELT_RETRIES", "3"))

# scripts/meltano_isolated.py installs the plugins if needed (free when they are) and gives
# each task its own Meltano run directory: Meltano 4.4 shares .meltano/run/<plugin>/ between
# concurrent runs of one plugin, so parallel tap-vtiger tasks would overwrite each other's
# catalog. State stays in the project's one system database.
MELTANO_TASK = (
    f"cd {shlex.quote(str(PROJECT))} && "
    f"{shlex.quote(str(Path(MELTANO).parent / 'python'))} "
    f"{shlex.quote(str(PROJECT / 'scripts' / 'meltano_isolated.py'))}"
)


def extract_command(module: str) -> str:
    """Shell command of one module's extraction task."""
    return (
        f"{MELTANO_TASK} {shlex.quote(module)} -- "
        f"--environment {shlex.quote(ENVIRONMENT)} run "
        f"--state-id-suffix {shlex.quote(module)} tap-vtiger {shlex.quote(LOADER)}"
    )


def extract_env(module: str) -> dict[str, str]:
    """Environment narrowing the tap to one module."""
    return {
        # Meltano's select filter: only this module's stream is selected.
        "TAP_VTIGER__SELECT_FILTER": json.dumps([module]),
        # ...and discovery describes only this module (2 API calls instead of 1 + all).
        "TAP_VTIGER_MODULES": json.dumps([module]),
    }


with DAG(
    dag_id="vtiger_elt",
    description="Vtiger CRM -> warehouse per module (Meltano), then warehouse -> Vtiger",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": RETRIES,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(hours=2),
        "pool": POOL,
    },
    tags=["vtiger", "meltano", "elt"],
    doc_md=__doc__,
) as dag:
    extracts = [
        BashOperator(
            task_id=f"extract_{module}",
            bash_command=extract_command(module),
            env=extract_env(module),
            append_env=True,
        )
        for module in MODULES
    ]
    if LOADER.startswith("target-duckdb"):
        # one writer at a time for a DuckDB file: the modules follow each other
        chain(*extracts)
    loaded = extracts
    if TRANSFORM:
        transform = BashOperator(
            task_id="transform",
            bash_command=(
                f"{MELTANO_TASK} transform -- --environment {shlex.quote(ENVIRONMENT)} "
                f"run {shlex.quote(TRANSFORM)}"
            ),
            append_env=True,
            pool="default_pool",  # dbt reads the warehouse only: no Vtiger API slot
        )
        extracts >> transform
        loaded = [transform]
    if REVERSE_JOB:
        reverse = BashOperator(
            task_id="reverse_etl",
            bash_command=(
                f"{MELTANO_TASK} reverse_etl -- --environment {shlex.quote(ENVIRONMENT)} "
                f"run {shlex.quote(REVERSE_JOB)}"
            ),
            append_env=True,
        )
        loaded >> reverse
