"""Helpers for the bad-input, hostile-value and security tests of issue 6: run the tap and the
target as the commands users run (subprocesses), read what they printed, and serve the sandbox
over TLS with a private CA.

Not a conftest.py (tests/e2e/reliability/conftest.py belongs to the fault/crash tests): fixtures
here are imported by name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import BIN, ROOT, clean_env
from tap_helpers import QUIET

from vtiger_sandbox.testing import SandboxServer

__all__ = ["BIN", "QUIET", "ROOT", "clean_env"]


def run_cli(exe: str, config: dict, *args: str, tmp_path: Path, stdin: str = "",
            env: dict[str, str] | None = None, timeout: float = 180,
            name: str = "config.json") -> subprocess.CompletedProcess:
    """Run ``tap-vtiger`` / ``target-vtiger`` with ``config`` (a JSON file) and ``stdin``."""
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return subprocess.run([str(BIN / exe), "--config", str(path), *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(), cwd=tmp_path, check=False)


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.strip()]


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The ERROR (or worse) log lines of a run, in order."""
    return [ln for ln in stderr_lines(proc) if "| ERROR" in ln or "| CRITICAL" in ln]


def message_of(line: str) -> str:
    """The message part of an SDK console log line (``time | LEVEL | logger | message``)."""
    parts = line.split(" | ", 3)
    return parts[3] if len(parts) == 4 else line


def summaries(proc: subprocess.CompletedProcess) -> dict[str, dict[str, int]]:
    """The target's ``Summary: <stream>: created=1 updated=0 ...`` lines, parsed."""
    out: dict[str, dict[str, int]] = {}
    for line in stderr_lines(proc):
        msg = message_of(line)
        if not msg.startswith("Summary: "):
            continue
        head, _, counts = msg[len("Summary: "):].rpartition(": ")
        out[head] = {k: int(v) for k, v in (p.split("=") for p in counts.split())}
    return out


def singer(*messages: dict) -> str:
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)


def schema(stream: str, *fields: str, **typed: dict) -> dict:
    props: dict[str, Any] = {f: {"type": ["string", "null"]} for f in fields}
    props.update(typed)
    return {"type": "SCHEMA", "stream": stream, "key_properties": [],
            "schema": {"type": "object", "properties": props}}


def record(stream: str, rec: dict) -> dict:
    return {"type": "RECORD", "stream": stream, "record": rec}


def client(server: SandboxServer, **extra: Any):
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    return VtigerClient(ClientConfig.from_mapping({**server.tap_config(), **extra}))


def all_rows(vt, module: str) -> list[dict]:
    return list(vt.query_all(module, "*"))


# ------------------------------------------------------------------ secrets


def secrets_of(server: SandboxServer, *, tokens: tuple[str, ...] = (),
               other_keys: tuple[str, ...] = ()) -> dict[str, str]:
    """Every secret a client of ``server`` held or sent, by name: the access key, the Basic
    Authorization header value (and its base64 alone), each live session name, the md5 login
    digest of the last challenge (also with each of ``other_keys``, as a run with a wrong key
    sent it), plus ``tokens`` (webhook tokens). Read after each run.
    """
    key = server.access_key
    basic = base64.b64encode(f"{server.username}:{key}".encode()).decode()
    found = {"access_key": key, "basic_b64": basic, "authorization": f"Basic {basic}"}
    sessions = server.admin("GET", "sessions")
    for i, name in enumerate(sessions["sessions"]):
        found[f"session_{i}"] = name
    for user, token in sessions["challenges"].items():
        if user == server.username:
            found["login_digest"] = hashlib.md5((token + key).encode()).hexdigest()
            for i, other in enumerate(other_keys):  # what a run with a wrong key sent
                found[f"login_digest_other_{i}"] = hashlib.md5(
                    (token + other).encode()).hexdigest()
    for i, tok in enumerate(tokens):
        found[f"token_{i}"] = tok
    return found


def debug_logging_env(tmp_path: Path, name: str) -> tuple[dict[str, str], Path]:
    """Environment running a singer-sdk plugin at DEBUG (``LOGLEVEL``), logging to stderr and
    to a file too (``SINGER_SDK_LOG_CONFIG``); returns it and the log file's path.
    """
    log_file = tmp_path / f"{name}.debug.log"
    cfg = tmp_path / f"{name}.logging.yml"
    cfg.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "formatters:\n  plain:\n    format: '%(asctime)s %(levelname)s %(name)s %(message)s'\n"
        "handlers:\n"
        "  console:\n    class: logging.StreamHandler\n    stream: ext://sys.stderr\n"
        "    formatter: plain\n    level: DEBUG\n"
        f"  file:\n    class: logging.FileHandler\n    filename: '{log_file}'\n"
        "    formatter: plain\n    level: DEBUG\n"
        "root:\n  level: DEBUG\n  handlers: [console, file]\n"
    )
    return clean_env(LOGLEVEL="DEBUG", SINGER_SDK_LOG_CONFIG=str(cfg)), log_file


# ------------------------------------------------------------------ TLS


def make_ca_and_server_cert(directory: Path) -> dict[str, Path]:
    """A private CA and a certificate for 127.0.0.1/localhost signed by it (openssl CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, csr, pem = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out",
        str(ca_pem), "-days", "2", "-subj", "/CN=vtiger-test-private-CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    ssl("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(pem), "-days", "2", "-extfile", str(ext))
    return {"ca": ca_pem, "cert": pem, "key": key}


class TlsSandbox(SandboxServer):
    """The sandbox served over https with a certificate from a private CA."""

    def __init__(self, db_path: Path, cert: Path, key: Path, ca: Path, **kw: Any) -> None:
        super().__init__(db_path, **kw)
        self.cert, self.key, self.ca = cert, key, ca
        self._http.verify = str(ca)  # the admin calls of the test trust the CA
        self._http.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify

    def command(self) -> list[str]:
        return [*super().command(), "--ssl-certfile", str(self.cert),
                "--ssl-keyfile", str(self.key)]


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory) -> Iterator[SandboxServer]:
    """An empty sandbox shared by one test module (tests count calls as before/after deltas)."""
    with SandboxServer(tmp_path_factory.mktemp("bad-input") / "s.sqlite") as server:
        yield server
