"""meltano.yml as Meltano Hub would publish the plugins (fast: reads files, asks --about)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
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
    "number": {"decimal"},
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
    assert plugin["pip_url"] == "-e ${MELTANO_PROJECT_ROOT}"
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
        assert match.group(2).startswith("${"), match.group(0)


def test_every_plugin_installs_without_the_hub():
    for plugin in PLUGINS.values():
        assert plugin.get("namespace") and plugin.get("pip_url"), plugin["name"]


def test_jobs_and_schedules_name_what_exists():
    jobs = {job["name"]: job for job in PROJECT["jobs"]}
    assert {"vtiger-to-duckdb", "vtiger-to-postgres", "warehouse-to-vtiger"} <= set(jobs)
    for job in jobs.values():
        for task in job["tasks"]:
            assert set(task.split()) <= set(PLUGINS), task
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
