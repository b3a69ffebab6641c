"""The `duckdb` command the README suggests opens the file target-duckdb wrote.

The project installs it (the `duckdb-cli` wheel, a dev dependency). target-duckdb's venv pins
duckdb 1.0.0 (see test_duckdb.py), the CLI is 1.5: both must read the other's file, so the
loader runs again after the CLI opened the file.
"""

from __future__ import annotations

import subprocess

from helpers import BIN, PIPELINE, VtigerREST, sandbox_env, select_env

pytestmark = PIPELINE

DUCKDB = str(BIN / "duckdb")


def duckdb_cli(path, sql: str) -> str:
    proc = subprocess.run([DUCKDB, str(path), "-csv", "-noheader", "-c", sql],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_duckdb_command_is_installed_by_the_project():
    proc = subprocess.run([DUCKDB, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("v1.")


def test_the_duckdb_command_reads_what_target_duckdb_wrote_and_back(sandbox, meltano_factory):
    api = VtigerREST(sandbox)
    owner = api.get("me")["id"]
    for name in ("Ada", "Grace"):
        api.create("Contacts", {"lastname": name, "assigned_user_id": owner})
    meltano = meltano_factory("duck-cli", **sandbox_env(sandbox), **select_env(["Contacts"]))
    path = meltano.workdir / "warehouse.duckdb"
    meltano("run", "vtiger-to-duckdb")

    assert duckdb_cli(path, "SELECT lastname FROM vtiger.contacts ORDER BY 1") == "Ada\nGrace"

    # the loader (duckdb 1.0.0) still opens the file after the 1.5 CLI has had it
    api.create("Contacts", {"lastname": "Hedy", "assigned_user_id": owner})
    meltano("run", "vtiger-to-duckdb")
    assert duckdb_cli(path, "SELECT count(*) FROM vtiger.contacts") == "3"
