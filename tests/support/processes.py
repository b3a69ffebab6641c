"""Running the project's commands as processes: where they are and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without TAP_VTIGER_* / TARGET_VTIGER_* settings (the SDK would read
    them) or LOGLEVEL leaking in, plus ``extra``.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_VTIGER", "TARGET_VTIGER")) and k != "LOGLEVEL"}
    env.update(extra)
    return env
