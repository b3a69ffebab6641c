"""Every shell block of README.md and docs/*.md is either run or marked with its reason.

A block that must not run is preceded by `<!-- not-executed: reason -->` (the reason is
required): the suite itself, a real Vtiger account, minutes-long installs that other tests
cover. Everything else runs against the sandbox and the local PostgreSQL the docs start, so the
docs cannot drift from the code. Blocks of one file share one bash session (a block may use
what an earlier one started or exported); the copy keeps the project's .venv (a link) but
installs its own Meltano plugins and state, so nothing here touches the working tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from helpers import PIPELINE, ROOT

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
