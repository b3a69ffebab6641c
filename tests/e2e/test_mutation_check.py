"""`make mutation` (scripts/mutation.py), as the README runs it in its quick form: mutants of
one module run against that module's spec tests, a score row per module, and the equivalent
mutants listed in scripts/mutation_equivalent.txt leaving the score instead of surviving.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = "target_vtiger/matching.py::normalize_key_value::`value.strip()` -> drop `.strip()`"

pytestmark = pytest.mark.slow


def mutation(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "mutation", f"MUTATION_ARGS={' '.join(args)}"], cwd=ROOT,
        capture_output=True, text=True, timeout=900, check=False)


def test_the_quick_form_prints_a_passing_score_row_for_the_module():
    proc = mutation("matching", "--limit", "6")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("target_vtiger/matching.py"))
    mutants, killed, equivalent, survived = (int(n) for n in row.split()[1:5])
    assert mutants == 6 and survived == 0 and killed + equivalent == 6
    assert "PASS (partial: --match/--limit)" in row


def test_a_listed_equivalent_mutant_leaves_the_score_instead_of_surviving():
    assert EQUIVALENT in (ROOT / "scripts" / "mutation_equivalent.txt").read_text()
    proc = mutation("matching", "--match", "'::normalize_key_value::`value.strip()`'")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SURVIVED" not in proc.stdout
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("target_vtiger/matching.py"))
    mutants, killed, equivalent, survived = (int(n) for n in re.split(r"\s+", row)[1:5])
    assert (equivalent, survived, killed) == (1, 0, mutants - 1)


def test_every_listed_equivalent_names_a_mutant_that_exists():
    listed = subprocess.run([sys.executable, "scripts/mutation.py", "--list"], cwd=ROOT,
                            capture_output=True, text=True, timeout=900, check=True).stdout
    mutants = set(listed.splitlines())
    equivalents = [ln.split("  # ")[0] for ln in
                   (ROOT / "scripts" / "mutation_equivalent.txt").read_text().splitlines()
                   if ln.strip() and not ln.startswith("#")]
    assert [e for e in equivalents if e not in mutants] == []
