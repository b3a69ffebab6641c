#!/usr/bin/env python3
"""Regenerate README.md's settings section from the connectors' own `--about` output.

    python scripts/readme_settings.py           # rewrite the section between the markers
    python scripts/readme_settings.py --check   # exit 1 if the README is out of date

The section lies between `<!-- settings:begin -->` and `<!-- settings:end -->`; it holds the
"Settings" table of `tap-vtiger --about --format=markdown` and of `target-vtiger`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
CONNECTORS = ("tap-vtiger", "target-vtiger")


def about_markdown(executable: str) -> str:
    candidate = Path(sys.executable).parent / executable
    cmd = [str(candidate) if candidate.exists() else executable, "--about", "--format=markdown"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def settings_table(markdown: str) -> str:
    """The table under the '## Settings' heading, up to the next heading."""
    lines = markdown.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "## Settings")
    except StopIteration:
        raise SystemExit("no '## Settings' section in --about output") from None
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        body.append(line)
    table = [line for line in body if line.startswith("|")]
    notes = [line for line in body if line.strip() and not line.startswith("|")]
    return "\n".join(table + (["", *notes] if notes else []))


def section() -> str:
    parts = [BEGIN]
    for name in CONNECTORS:
        parts += [f"### `{name}`", "", settings_table(about_markdown(name)), ""]
    parts.append(END)
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, exit 1 if stale")
    args = parser.parse_args()
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    updated = head + section() + tail
    if args.check:
        if updated != text:
            print("README.md settings are out of date: run python scripts/readme_settings.py")
            return 1
        print("README.md settings are up to date")
        return 0
    README.write_text(updated)
    print("README.md settings section regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
