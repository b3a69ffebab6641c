"""target-vtiger on self-hosted Vtiger 8.2: plain writes work with only the connection settings;
features that need an operation the server lacks (tags: Cloud only; convertlead: crashes on
stock 8.2 on PHP 8) are refused with one line and exit 1 before anything is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from target_helpers import record_message, schema_message, singer_lines

EXE = str(Path(sys.executable).with_name("target-vtiger"))
TAG_SCHEMA = {"record_id": {"type": "string"}, "tag": {"type": "string"}}
LEAD_SCHEMA = {"id": {"type": "string"}}


def run_cli(config: dict, text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    return subprocess.run([EXE, "--config", str(cfg)], input=text, capture_output=True,
                          text=True, timeout=120, check=False)


def default_config(server, tmp_path: Path, **extra) -> dict:
    return {**server.tap_config(), "api_style": "webservice",
            "rejects_path": str(tmp_path / "rejects.jsonl"), **extra}


def contact_then(stream: str, schema: dict, record: dict) -> str:
    """A Contact first (a write the refusal must prevent), then the feature's stream."""
    return singer_lines([schema_message(), record_message({"lastname": "Early"}),
                         schema_message(stream, schema), record_message(record, stream)])


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "Traceback" in line]


@pytest.mark.parametrize("flavor", ["self-hosted-sync", "self-hosted-stock"])
def test_a_default_run_writes_records(sandbox_factory, tmp_path, flavor):
    server = sandbox_factory(flavor=flavor)
    proc = run_cli(default_config(server, tmp_path),
                   singer_lines([schema_message(), record_message({"lastname": "Plain"})]),
                   tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert server.stats().get("create") == 1
    assert server.stats().get("me", 0) <= 1  # the owner comes from the login user


@pytest.mark.parametrize("flavor", ["self-hosted-sync", "self-hosted-stock"])
def test_configured_tag_streams_are_refused_before_anything_is_written(
        sandbox_factory, tmp_path, flavor):
    server = sandbox_factory(flavor=flavor)
    text = contact_then("tags", TAG_SCHEMA, {"record_id": "12x1", "tag": "vip"})
    proc = run_cli(default_config(server, tmp_path, tag_streams=["tags"]), text, tmp_path)
    assert proc.returncode == 1
    [line] = error_lines(proc.stderr)
    assert "tag_streams needs the tags_retrieve operation" in line
    assert "create" not in server.stats()


def test_a_tag_stream_recognised_by_its_schema_is_refused_before_its_records(
        sandbox_factory, tmp_path):
    server = sandbox_factory(flavor="self-hosted-sync")
    text = singer_lines([schema_message("tags", TAG_SCHEMA),
                         record_message({"record_id": "12x1", "tag": "vip"}, "tags")])
    proc = run_cli(default_config(server, tmp_path), text, tmp_path)
    assert proc.returncode == 1
    [line] = error_lines(proc.stderr)
    assert "stream 'tags': tag_streams needs the tags_retrieve operation" in line
    assert "tags_add" not in server.stats()


def test_convertlead_is_refused_on_the_stock_build_only(sandbox_factory, tmp_path):
    stock = sandbox_factory(flavor="self-hosted-stock")
    conf = {"convertlead_streams": {"leads_to_convert": {}}}
    text = contact_then("leads_to_convert", LEAD_SCHEMA, {"id": "10x1"})
    proc = run_cli(default_config(stock, tmp_path, **conf), text, tmp_path)
    assert proc.returncode == 1
    [line] = error_lines(proc.stderr)
    assert "convertlead_streams needs the convertlead operation" in line
    assert "create" not in stock.stats()

    sync_capable = sandbox_factory(flavor="self-hosted-sync")
    client_conf = default_config(sync_capable, tmp_path, **conf)
    proc = run_cli(client_conf, singer_lines([schema_message(),
                                              record_message({"lastname": "Ok"})]), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sync_capable.stats().get("convertlead") == 1  # the probe, which changes nothing


@pytest.mark.parametrize(("api_style", "probes"), [("webservice", 1), ("rest", 0)])
def test_tags_are_still_written_on_vtiger_cloud(sandbox_factory, tmp_path, api_style, probes):
    server = sandbox_factory(flavor="cloud")
    text = singer_lines([schema_message(), record_message({"lastname": "Tagged"})])
    conf = default_config(server, tmp_path, tag_streams=["tags"], api_style=api_style)
    proc = run_cli(conf, text, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # webservice.php may be self-hosted: one probe; REST is Vtiger Cloud, which has tags
    assert server.stats().get("tags_retrieve", 0) == probes
