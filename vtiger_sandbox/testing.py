"""``SandboxServer``: run a real ``vtiger-sandbox serve`` subprocess for tests and benchmarks.

A subprocess (not an in-process thread) so that tests exercise exactly what users run,
restarts keep the SQLite file, and SIGTERM/kill behave like in production.
The server binds port 0 itself and reports the port in its banner, so there is no race for
a "free port" between picking and binding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

#: Servers told to stop without waiting (see ``SandboxServer.stop(wait=False)``).
_STOPPING: list[subprocess.Popen] = []


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM (the server's clean shutdown), SIGKILL after ``timeout``; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def reap(timeout: float = 10.0) -> None:
    """Wait for servers stopped with ``wait=False``; kill any that hang."""
    while _STOPPING:
        proc = _STOPPING.pop()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class SandboxError(RuntimeError):
    """The sandbox did not start or an admin call failed."""


class SandboxServer:
    """A sandbox server process; also a context manager."""

    def __init__(self, db_path: str | os.PathLike, seed: str = "empty", flavor: str = "cloud",
                 username: str = "admin", access_key: str | None = None,
                 port: int | None = None, config: dict | None = None,
                 host: str = "127.0.0.1", start_timeout: float = 30.0) -> None:
        self.db_path = Path(db_path)
        self.seed = str(seed)
        self.flavor = flavor
        self.username = username
        self.access_key = access_key or "sandbox-" + os.urandom(6).hex()
        self.port = port or 0
        #: the harness's sandboxes have no API limits unless asked (the CLI's Cloud flavor
        #: defaults to a real edition's limits)
        self.config = {"edition": "unlimited", **(config or {})}
        self.host = host
        self.start_timeout = start_timeout
        self.url = ""
        self.rest_url = ""
        self.proc: subprocess.Popen | None = None
        self.log_path = self.db_path.with_suffix(self.db_path.suffix + ".log")
        self._http = requests.Session()
        self._http.auth = (self.username, self.access_key)

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> int | None:
        """Process id of the running server."""
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        """The command line used to start the server."""
        cmd = [sys.executable, "-m", "vtiger_sandbox.cli", "serve", "--host", self.host,
               "--port", str(self.port), "--db", str(self.db_path), "--seed", self.seed,
               "--username", self.username, "--access-key", self.access_key,
               "--flavor", self.flavor]
        if self.config:
            cfg = self.db_path.with_suffix(self.db_path.suffix + ".config.json")
            cfg.write_text(json.dumps(self.config))
            cmd += ["--config", str(cfg)]
        return cmd

    def start(self) -> SandboxServer:
        """Start and wait until the server listens (its banner appeared)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=log,
                                     env=env, text=True)
        log.close()
        lines: list[str] = []
        done = threading.Event()

        def reader() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("rest endpoint:"):
                    done.set()
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        if not done.wait(self.start_timeout) or not any(
            ln.startswith("rest endpoint:") for ln in lines
        ):
            self.kill()
            tail = ""
            if self.log_path.exists():
                tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SandboxError(f"sandbox did not start: {lines!r}\n{tail}")
        for ln in lines:
            if ln.startswith("vtiger-sandbox serving "):
                self.url = ln.split(" ", 2)[2].strip()
            elif ln.startswith("rest endpoint: "):
                self.rest_url = ln.split(": ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self, timeout: float = 10.0, wait: bool = True) -> int | None:
        """SIGTERM and wait (clean shutdown); returns the exit code.

        ``wait=False`` only sends the signal (fixtures: the next test need not wait ~0.3 s
        for this server to finish shutting down); :func:`reap` collects such processes.
        """
        if self.proc is None:
            return None
        if not wait:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                _STOPPING.append(self.proc)
            self.proc = None
            return None
        code = terminate(self.proc, timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL (simulate a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> SandboxServer:
        """Stop and start again on the same port and database."""
        self.stop()
        return self.start()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------- admin
    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call ``/_sandbox/<path>`` with the admin's Basic auth; returns the JSON body."""
        url = f"{self.url}/_sandbox/{path.lstrip('/')}"
        resp = self._http.request(method, url, json=json, timeout=60)
        if resp.status_code != 200:
            raise SandboxError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:500]}")
        return resp.json()

    def stats(self) -> dict[str, int]:
        """API calls served per operation since start/reset (admin calls excluded)."""
        return dict(self.admin("GET", "stats")["calls"])

    def total_calls(self) -> int:
        """Total API calls served."""
        return int(self.admin("GET", "stats")["total"])

    def reset_stats(self) -> None:
        """Zero the call counters."""
        self.admin("POST", "stats/reset")

    def reset(self) -> None:
        """Empty the sandbox again (records, tags, relations, users, sessions, settings)."""
        self.admin("POST", "reset")

    def configure(self, **settings: Any) -> dict:
        """Merge settings (flavor, sync_page_limit, faults, ...)."""
        return self.admin("POST", "config", settings)

    def touch(self, ids: list[str], modifiedtime: str) -> int:
        """Set modifiedtime ('YYYY-MM-DD HH:MM:SS' UTC) of records directly."""
        return int(self.admin("POST", "records/touch",
                              {"ids": list(ids), "modifiedtime": modifiedtime})["updated"])

    def bulk_create(self, module: str, count: int, **kw: Any) -> list[str]:
        """Create many records fast (kw: modifiedtime, fields, assigned_user_id)."""
        return list(self.admin("POST", "records/bulk",
                               {"module": module, "count": count, **kw})["ids"])

    def add_user(self, user_name: str, first_name: str = "", last_name: str = "",
                 **kw: Any) -> dict:
        """A second user; the answer carries its ``id`` and ``access_key``."""
        return self.admin("POST", "users", {"user_name": user_name, "first_name": first_name,
                                            "last_name": last_name, **kw})

    def add_field(self, module: str, name: str, label: str = "",
                  type: dict | None = None, **kw: Any) -> dict:
        """Add a custom field ``cf_*``."""
        return self.admin("POST", "fields", {"module": module, "name": name, "label": label,
                                             "type": type or {"name": "string"}, **kw})

    def tap_config(self) -> dict[str, str]:
        """Settings for tap-vtiger / target-vtiger pointing at this sandbox."""
        return {"api_url": self.url, "username": self.username, "access_key": self.access_key}

    def wait_until_down(self, timeout: float = 5.0) -> None:
        """Block until the port refuses connections."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                requests.get(self.url, timeout=0.2)
            except requests.ConnectionError:
                return
            time.sleep(0.05)
