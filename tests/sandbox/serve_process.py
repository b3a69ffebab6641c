"""Run ``vtiger-sandbox serve`` as a plain subprocess and read its banner.

``vtiger_sandbox.testing.SandboxServer`` always passes ``--access-key`` and runs from the
current directory with the current environment; the tests of the generated key and of the
built wheel need the command line, the working directory and the environment in their hands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from vtiger_sandbox.testing import terminate


def console_script() -> list[str]:
    """The installed ``vtiger-sandbox`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("vtiger-sandbox")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "vtiger_sandbox.cli"]  # not installed as a script


class ServeProcess:
    """One ``serve`` process; ``banner`` maps ``serving``/``username``/``access_key``/``rest``."""

    def __init__(self, command: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        self.command = list(command)
        self.cwd = Path(cwd)
        self.env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.timeout = timeout
        self.log_path = self.cwd / f"serve-{os.getpid()}-{id(self)}.log"
        self.banner: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.banner["serving"]

    @property
    def rest_url(self) -> str:
        return self.banner["rest"]

    @property
    def access_key(self) -> str:
        return self.banner["access_key"]

    def start(self) -> ServeProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                     stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        lines: list[str] = []
        done = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("rest endpoint:"):
                    done.set()
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        if not done.wait(self.timeout) or not any(ln.startswith("rest endpoint:") for ln in lines):
            self.kill()
            raise AssertionError(f"sandbox did not start: {lines!r}\n"
                                 f"{self.log_path.read_text(errors='replace')[-3000:]}")
        for ln in lines:
            if ln.startswith("vtiger-sandbox serving "):
                self.banner["serving"] = ln.split(" ", 2)[2].strip()
            elif ln.startswith("username: "):
                self.banner["username"] = ln.split(": ", 1)[1].strip()
            elif ln.startswith("access_key: "):
                self.banner["access_key"] = ln.split(": ", 1)[1].strip()
            elif ln.startswith("rest endpoint: "):
                self.banner["rest"] = ln.split(": ", 1)[1].strip()
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; the exit code (0 = clean shutdown)."""
        if self.proc is None:
            return None
        code = terminate(self.proc, timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
