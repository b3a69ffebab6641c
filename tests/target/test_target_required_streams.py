"""required_streams: a reverse job whose source is missing or empty fails instead of going green.

tap-postgres discovers nothing when the warehouse table is missing (the target then gets no
SCHEMA at all) and emits a SCHEMA without records when it is empty; in both cases nothing is
written, and only a non-zero exit makes the scheduler show it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from target_helpers import contacts_input, schema_message, singer_lines, target_config

__all__ = ["target_config"]  # fixture used by name

EXE = str(Path(sys.executable).with_name("target-vtiger"))


def run_cli(config: dict, text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    return subprocess.run(
        [EXE, "--config", str(cfg)], input=text, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def stopped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "target-vtiger stopped" in line]


def test_a_required_stream_that_never_arrived_fails_with_one_line(sandbox, target_config, tmp_path):
    proc = run_cli({**target_config, "required_streams": ["Contacts"]}, "", tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    [line] = stopped_lines(proc.stderr)
    assert "'Contacts' delivered no records" in line and "required_streams" in line
    assert sandbox.stats().get("create", 0) == 0


def test_a_required_stream_without_records_fails_with_one_line(sandbox, target_config, tmp_path):
    text = singer_lines([schema_message()])
    proc = run_cli({**target_config, "required_streams": ["Contacts"]}, text, tmp_path)
    assert proc.returncode == 1
    [line] = stopped_lines(proc.stderr)
    assert "'Contacts' delivered no records" in line


def test_a_required_stream_with_records_succeeds(sandbox, target_config, tmp_path):
    text = contacts_input([{"lastname": "Present"}])
    proc = run_cli({**target_config, "required_streams": ["Contacts"]}, text, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "created=1" in proc.stderr


def test_without_required_streams_an_empty_run_exits_0(sandbox, target_config, tmp_path):
    proc = run_cli({**target_config, "required_streams": []}, singer_lines([schema_message()]),
                   tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
