"""Every shell block of README.md and docs/*.md runs, in order, in a copy of the project.

A block that must not run is preceded by `<!-- not-executed: reason -->` (the reason is
required): the suite itself, a real Vtiger account, minutes-long installs that other tests
cover. Everything else runs against the sandbox and the local PostgreSQL the docs start, so the
docs cannot drift from the code. Blocks of one file share one bash session (a block may use
what an earlier one started or exported); the copy keeps the project's .venv (a link) but
installs its own Meltano plugins and state, so nothing here touches the working tree.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import PIPELINE, ROOT
from pgserver import free_port

pytestmark = PIPELINE

SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^\s*```\s*([\w+-]*)\s*$")
SKIP = re.compile(r"^\s*<!--\s*not-executed:\s*(.*?)\s*-->\s*$")
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


@dataclass
class Block:
    path: str
    line: int
    language: str
    text: str
    skip_reason: str | None


def blocks(path: str) -> list[Block]:
    """Fenced blocks of a Markdown file, with the not-executed mark right before each."""
    out: list[Block] = []
    lines = (ROOT / path).read_text().splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        start, language = i, opened.group(1).lower()
        j = i + 1
        while j < len(lines) and not FENCE.match(lines[j]):
            j += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        mark = SKIP.match(before)
        out.append(Block(path, start + 1, language, "\n".join(lines[start + 1 : j]),
                         mark.group(1) if mark else None))  # fmt: skip
        i = j + 1
    return out


def shell_blocks(path: str) -> list[Block]:
    return [b for b in blocks(path) if b.language in SHELL]


def test_every_not_executed_mark_gives_a_reason_and_precedes_a_shell_block():
    for path in DOCS:
        text = (ROOT / path).read_text()
        marks = [m for m in re.finditer(r"<!--\s*not-executed:(.*?)-->", text)]
        skipped = [b for b in shell_blocks(path) if b.skip_reason is not None]
        assert len(marks) == len(skipped), f"{path}: a not-executed mark not before a shell block"
        for block in skipped:
            assert len(block.skip_reason) >= 10, f"{path}:{block.line}: give the reason"


def project_copy(dest: Path) -> Path:
    """The project's files (tracked and new, not ignored), with the virtualenvs the test
    session already has linked, not copied: the project's .venv and Airflow's (make airflow
    finds it installed). Meltano's plugins are installed afresh by the docs' `meltano install`.
    """
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, names):
        source, target = ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)  # mtimes kept: make sees the venv as up to date
    (dest / ".venv").symlink_to(ROOT / ".venv")
    (dest / AIRFLOW_VENV).symlink_to(ROOT / AIRFLOW_VENV)
    return dest


AIRFLOW_VENV = "orchestrate/airflow/.venv"
MARKER = re.compile(r"^>>> (\S+) at (\d+) s$", re.MULTILINE)


def script_of(doc_blocks: list[Block]) -> str:
    """One bash script of the blocks, each announced on stderr with the seconds so far."""
    parts = ["set -eo pipefail"]
    for block in doc_blocks:
        parts += [f"echo \">>> {block.path}:{block.line} at $SECONDS s\" >&2", block.text]
    return "\n".join(parts) + "\n"


def users_shell(**extra: str) -> dict[str, str]:
    """A user's environment: none of the tests' own settings, free ports for the servers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_", "TARGET_", "VTIGER_", "MELTANO_", "VIRTUAL_ENV",
                                "AIRFLOW", "PYTEST", "DBT_"))}  # fmt: skip
    env.update({"VTIGER_SANDBOX_PORT": str(free_port()), "VTIGER_PG_PORT": str(free_port()),
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"})  # fmt: skip
    env.update(extra)
    return env


@pytest.mark.parametrize("path", [p for p in DOCS if any(
    b.skip_reason is None for b in shell_blocks(p))])  # fmt: skip
def test_the_shell_blocks_run(path, tmp_path, server_tmp_path):
    runnable = [b for b in shell_blocks(path) if b.skip_reason is None]
    subprocess.run(["bash", str(ROOT / "orchestrate/airflow/setup_venv.sh")], check=True,
                   timeout=900)  # fmt: skip  (a no-op once the Airflow tests installed it)
    project = project_copy(server_tmp_path / "project")  # the docs start PostgreSQL in it
    env = users_shell()
    log = tmp_path / "output.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", script_of(runnable)], cwd=project, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=900)
        except subprocess.TimeoutExpired:
            pass
        finally:  # what the blocks left running: the sandbox (`&`), PostgreSQL
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            subprocess.run([str(ROOT / ".venv/bin/python"), "scripts/local_postgres.py", "stop"],
                           cwd=project, env=env, capture_output=True, check=False)  # fmt: skip
    output = log.read_text()
    ran = MARKER.findall(output)
    where = f"{ran[-1][0]} (started at {ran[-1][1]} s)" if ran else path
    assert proc.returncode == 0, (
        f"{where}: the block failed (exit {proc.returncode}, None: still running after "
        f"900 s)\n{output[-6000:]}"
    )
    assert len(ran) == len(runnable)
