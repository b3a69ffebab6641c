"""meltano.yml as Meltano Hub would publish the plugins (fast: reads files, asks --about)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())
PLUGINS = {
    plugin["name"]: plugin
    for plugins in PROJECT["plugins"].values()
    for plugin in plugins
}
SECRET = re.compile(r"(access_key|token|password|sqlalchemy_url)$")
KINDS = {
    "string": {"string", "password", "options", "date_iso8601", "file", "email"},
    "integer": {"integer"},
    "number": {"string"},  # never decimal: Meltano 4.4 cannot serialise it from an env var
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}


def about(executable: str) -> dict:
    path = Path(sys.executable).parent / executable
    out = subprocess.run(
        [str(path), "--about", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def json_type(schema: dict) -> str:
    types = schema.get("type", "string")
    if isinstance(types, list):
        types = next(t for t in types if t != "null")
    return types


@pytest.mark.parametrize("name", ["tap-vtiger", "target-vtiger"])
def test_every_connector_setting_is_defined_with_kind_and_description(name):
    defined = {s["name"]: s for s in PLUGINS[name]["settings"]}
    properties = about(name)["settings"]["properties"]
    missing = sorted(set(properties) - set(defined))
    assert missing == [], (
        f"{name}: settings missing from meltano.yml: {missing}; "
        "run `python scripts/meltano_settings.py` (and scripts/readme_settings.py)"
    )
    for setting, schema in properties.items():
        spec = defined[setting]
        assert spec.get("description"), f"{name}.{setting} has no description"
        assert spec["kind"] in KINDS[json_type(schema)], f"{name}.{setting}: kind {spec['kind']}"


@pytest.mark.parametrize("name", ["tap-vtiger", "target-vtiger"])
def test_connector_plugins_carry_hub_metadata(name):
    plugin = PLUGINS[name]
    assert plugin["namespace"] == name.replace("-", "_")
    # the extractor as a package: Meltano caches the catalog of non-editable plugins only
    assert plugin["pip_url"] == {"tap-vtiger": "${MELTANO_PROJECT_ROOT}",
                                 "target-vtiger": "-e ${MELTANO_PROJECT_ROOT}"}[name]
    assert plugin["executable"] == name
    assert {"about", "stream-maps"} <= set(plugin["capabilities"])
    assert ["api_url", "username", "access_key"] in plugin["settings_group_validation"]


def test_tap_capabilities_cover_catalog_discovery_and_state():
    assert {"catalog", "discover", "state"} <= set(PLUGINS["tap-vtiger"]["capabilities"])


def test_secrets_are_sensitive_and_never_written_in_the_file():
    for plugin in PLUGINS.values():
        for setting in plugin.get("settings", []):
            if SECRET.search(setting["name"]):
                assert setting.get("sensitive") is True, f"{plugin['name']}.{setting['name']}"
    text = (ROOT / "meltano.yml").read_text()
    for match in re.finditer(r"^\s*(access_key|webhook_token|password):\s*(\S+)", text, re.M):
        # from the environment, or empty (the dev PostgreSQL's trust authentication)
        assert match.group(2).startswith("${") or match.group(2) == "''", match.group(0)


def test_every_plugin_installs_without_the_hub():
    for plugin in PLUGINS.values():
        assert plugin.get("namespace") and plugin.get("pip_url"), plugin["name"]


def test_jobs_and_schedules_name_what_exists():
    jobs = {job["name"]: job for job in PROJECT["jobs"]}
    assert {"vtiger-to-duckdb", "vtiger-to-postgres", "warehouse-to-vtiger"} <= set(jobs)
    for job in jobs.values():
        for task in job["tasks"]:
            # a utility's command is named plugin:command (dbt-duckdb:build)
            assert {name.split(":")[0] for name in task.split()} <= set(PLUGINS), task
    assert jobs["warehouse-to-vtiger"]["tasks"][0].split()[-1] == "target-vtiger"
    for schedule in PROJECT["schedules"]:
        assert schedule["job"] in jobs


def test_environments_dev_reads_the_sandbox_from_the_environment_and_prod_has_no_secrets():
    envs = {env["name"]: env for env in PROJECT["environments"]}
    dev_tap = envs["dev"]["config"]["plugins"]["extractors"][0]
    assert dev_tap["config"] == {
        "api_url": "${VTIGER_API_URL}",
        "username": "${VTIGER_USERNAME}",
        "access_key": "${VTIGER_ACCESS_KEY}",
    }
    assert "access_key" not in json.dumps(envs["prod"])


def test_plugins_install_with_uv_and_state_stays_in_the_system_database():
    assert PROJECT["venv"]["backend"] == "uv"
    assert PROJECT["state_backend"]["uri"] == "systemdb"


# The generated settings text (README.md's settings section, meltano.yml's connector settings)
# must match what the connectors' `--about` reports today. Each script's `--check` regenerates in
# memory and exits 1 when the file differs, 0 when it is up to date (< 1 s each).
GENERATORS = {
    "readme_settings.py": "README.md",
    "meltano_settings.py": "meltano.yml",
}


def run_generator(script: Path, *args: str) -> subprocess.CompletedProcess:
    # sys.executable: both scripts find tap-vtiger/target-vtiger next to the interpreter
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("script", sorted(GENERATORS))
def test_generated_settings_text_is_up_to_date(script):
    proc = run_generator(ROOT / "scripts" / script, "--check")
    assert proc.returncode == 0, (
        f"{GENERATORS[script]} drifted from --about: run `python scripts/{script}`\n"
        f"{proc.stdout}{proc.stderr}"
    )


@pytest.mark.parametrize("script", sorted(GENERATORS))
def test_the_settings_check_notices_a_stale_file(script, tmp_path):
    """--check fails on a copy whose generated part was edited by hand (the guard has teeth)."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / script).write_text((ROOT / "scripts" / script).read_text())
    target = GENERATORS[script]
    text = (ROOT / target).read_text()
    if target == "README.md":
        stale = text.replace("<!-- settings:begin -->", "<!-- settings:begin -->\n| stale |", 1)
    else:  # the first generated description of tap-vtiger's settings
        first = next(s for s in PLUGINS["tap-vtiger"]["settings"] if s.get("description"))
        word = first["description"].split()[0]
        stale = text.replace(f"description: {word}", "description: Stale", 1)
    assert stale != text
    (tmp_path / target).write_text(stale)
    proc = run_generator(tmp_path / "scripts" / script, "--check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "out of date" in proc.stdout
    assert (tmp_path / target).read_text() == stale  # --check never writes
