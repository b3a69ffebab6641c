"""target-vtiger's version line and a misspelled module in module_map."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from target_helpers import contacts_input, target_config

__all__ = ["target_config"]  # fixture used by name

EXE = str(Path(sys.executable).with_name("target-vtiger"))


def test_version_is_the_package_version():
    proc = subprocess.run([EXE, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith(f"target-vtiger v{version('tap-vtiger')},")


def test_a_misspelled_module_in_module_map_is_one_line_naming_the_setting(
    sandbox, target_config, tmp_path
):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**target_config, "module_map": {"Contacts": "Contcts"}}))
    proc = subprocess.run([EXE, "--config", str(config)], input=contacts_input([{"lastname": "X"}]),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "ACCESS_DENIED" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "target-vtiger stopped" in ln]
    assert "module_map.Contacts: unknown module 'Contcts'" in line
    assert "Contacts" in line.split("available: ")[1]
