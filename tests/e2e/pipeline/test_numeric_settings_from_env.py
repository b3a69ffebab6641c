"""Every numeric setting of tap-vtiger and target-vtiger works when it comes from an
environment variable, through real `meltano` commands (environment variables are strings;
Meltano 4.4 crashed on `kind: decimal` ones with "Decimal is not JSON serializable")."""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import MELTANO, PIPELINE, ROOT, VtigerREST, sandbox_env, select_env
from test_meltano_project import about, json_type

pytestmark = PIPELINE

#: A value for every numeric setting, as a user would export it; fractions where allowed.
ENV_VALUES = {
    "tap-vtiger": {
        "request_timeout": "30",
        "max_retries": "2",
        "backoff_base": "0.5",
        "backoff_max": "7.5",
        "deletion_check_hours": "12",
        "api_budget_percent": "50",
        "discovery_cache_ttl": "3600",
        "flattening_max_depth": "1",
        "flattening_max_key_length": "64",
    },
    "target-vtiger": {
        "request_timeout": "30.5",
        "max_retries": "2",
        "backoff_base": "0.25",
        "backoff_max": "10",
        "api_budget_percent": "99.5",
        "write_concurrency": "1",
        "webhook_batch_size": "1",
        "batch_size_rows": "50",
    },
}


def numeric_settings(name: str) -> set[str]:
    properties = about(name)["settings"]["properties"]
    return {key for key, schema in properties.items()
            if json_type(schema) in {"integer", "number"}}


def env_of(name: str) -> dict[str, str]:
    prefix = name.upper().replace("-", "_") + "_"
    return {prefix + key.upper(): value for key, value in ENV_VALUES[name].items()}


@pytest.mark.parametrize("name", sorted(ENV_VALUES))
def test_the_env_values_here_cover_every_numeric_setting(name):
    assert set(ENV_VALUES[name]) == numeric_settings(name)


@pytest.mark.parametrize("name", sorted(ENV_VALUES))
def test_meltano_config_prints_every_numeric_setting_from_env(name, meltano_factory):
    meltano = meltano_factory("config", **env_of(name))

    config = json.loads(meltano("config", "print", name).stdout)

    for key, value in ENV_VALUES[name].items():
        assert float(config[key]) == float(value), key


def test_meltano_run_extracts_with_every_numeric_tap_setting_from_env(
        sandbox_factory, meltano_factory):
    sandbox = sandbox_factory(seed="demo")
    meltano = meltano_factory("numeric-tap", **sandbox_env(sandbox), **select_env(["Leads"]),
                              **env_of("tap-vtiger"))

    meltano("run", "vtiger-to-jsonl")

    [path] = (meltano.workdir / "jsonl").glob("Leads*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    live = {rec["id"] for rec in lines if not rec.get("_sdc_deleted_at")}
    assert live == set(VtigerREST(sandbox).all_records("Leads"))


def test_meltano_invoke_loads_with_every_numeric_target_setting_from_env(
        sandbox, meltano_factory):
    meltano = meltano_factory("numeric-target", **sandbox_env(sandbox), **env_of("target-vtiger"))
    schema = {"type": "SCHEMA", "stream": "Contacts", "key_properties": [],
              "schema": {"type": "object", "properties": {"lastname": {"type": "string"},
                                                          "email": {"type": "string"}}}}
    record = {"type": "RECORD", "stream": "Contacts",
              "record": {"lastname": "Env", "email": "env@example.org"}}

    proc = subprocess.run(
        [MELTANO, "--environment", "dev", "invoke", "target-vtiger"],
        input="\n".join(json.dumps(m) for m in (schema, record)) + "\n",
        cwd=ROOT, env=meltano.environ(), capture_output=True, text=True, timeout=300,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr[-3000:]
    emails = [c["email"] for c in VtigerREST(sandbox).all_records("Contacts").values()]
    assert emails == ["env@example.org"]
