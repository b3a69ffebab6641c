"""The rooms of the distribution depend on each other one way only: tap_vtiger and
target_vtiger sit on vtiger_client and never import each other (a user installing the target
alone must not need the tap's code, and a change to one connector cannot break the other);
vtiger_client and the connectors never import the sandbox, which is a development server.
Checked on the import statements of every module (ast), so lazy imports inside functions count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "tap_vtiger": {"target_vtiger", "vtiger_sandbox"},
    "target_vtiger": {"tap_vtiger", "vtiger_sandbox"},
    "vtiger_client": {"tap_vtiger", "target_vtiger", "vtiger_sandbox"},
    "vtiger_sandbox": {"tap_vtiger", "target_vtiger"},
    # runs inside target-postgres's own environment: nothing of ours but itself
    "vtiger_warehouse": {"tap_vtiger", "target_vtiger", "vtiger_client", "vtiger_sandbox"},
}


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_none_of_the_packages_it_must_not_know(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
