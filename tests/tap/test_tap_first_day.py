"""Small things a new user notices first: warnings in every log, an unsorted module list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_no_sdk_deprecation_warning_reaches_the_logs():
    env = {**os.environ, "PYTHONWARNINGS": "always::DeprecationWarning"}
    proc = subprocess.run([str(BIN / "tap-vtiger"), "--about"], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    assert "SingerSDKDeprecationWarning" not in proc.stderr


def test_an_unknown_module_lists_the_available_ones_sorted(sandbox, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**sandbox.tap_config(), "modules": ["Contcts"]}))
    proc = subprocess.run([str(BIN / "tap-vtiger"), "--config", str(config), "--discover"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 1
    [line] = [ln for ln in proc.stderr.splitlines() if "unknown module" in ln]
    available = line.split("available: ")[1].rstrip(")").split(", ")
    assert "Contacts" in available and available == sorted(available)
