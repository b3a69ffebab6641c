"""A real PostgreSQL server of the tests' own: free port, temporary data directory.

The binaries and the unprivileged service user (PostgreSQL refuses to run as root) are found
as for the dev warehouse, by `scripts/local_postgres.py`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from local_postgres import find_bin_dir, make_traversable, service_user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl start on 127.0.0.1:<free port>; stop() removes everything."""

    def __init__(self, database: str = "warehouse") -> None:
        self.bin_dir = find_bin_dir()
        self.database = database
        self.user = "postgres"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="vtiger-pg-"))
        self.pgdata = self.root / "data"
        self.log = self.root / "server.log"
        self.service_user = service_user()

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """Settings for MeltanoLabs target-postgres / tap-postgres."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": "",
            "TARGET_POSTGRES_DATABASE": self.database,
            "TAP_POSTGRES_HOST": self.host,
            "TAP_POSTGRES_PORT": str(self.port),
            "TAP_POSTGRES_USER": self.user,
            "TAP_POSTGRES_PASSWORD": "",
            "TAP_POSTGRES_DATABASE": self.database,
        }

    def _run(self, args: list[str]) -> None:
        kwargs = {}
        if self.service_user:
            kwargs["user"] = self.service_user
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=120, cwd=self.root, **kwargs
        )
        if proc.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {proc.stdout}\n{proc.stderr}\n{log}")

    def start(self) -> PostgresServer:
        if self.service_user:
            info = pwd.getpwnam(self.service_user)
            make_traversable(self.bin_dir)
            make_traversable(self.root)
            os.chown(self.root, info.pw_uid, info.pw_gid)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.pgdata),
                "-U", self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )  # fmt: skip
        options = (
            f"-h {self.host} -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D", str(self.pgdata),
                "-l", str(self.log),
                "-o", options,
                "-w", "-t", "60",
                "start",
            ]
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://{self.user}@{self.host}:{self.port}/postgres", autocommit=True
                ) as conn:
                    conn.execute(f'CREATE DATABASE "{self.database}"')
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self

    def connect(self, database: str | None = None) -> psycopg.Connection:
        """A connection to the tests' database, or to another one of this server."""
        dsn = self.dsn if database is None else self.dsn.rsplit("/", 1)[0] + f"/{database}"
        return psycopg.connect(dsn, autocommit=True)

    def stop(self) -> None:
        if self.pgdata.exists():
            with contextlib.suppress(Exception):
                pg_ctl = str(self.bin_dir / "pg_ctl")
                self._run([pg_ctl, "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
