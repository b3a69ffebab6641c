"""singer-sdk's private names appear in one module only, vtiger_singer/sdk.py: every other
module of the distribution, and every script and test, goes through the SDK's public API or
the public hooks that module offers (an SDK upgrade then breaks in one known place).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import singer_sdk

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = ROOT / "vtiger_singer" / "sdk.py"
#: Names what the SDK reads for vulture (scripts/vulture_whitelist.py): a list, not a use.
NOT_CODE = {ROOT / "scripts" / "vulture_whitelist.py"}
SCANNED = ["tap_vtiger", "target_vtiger", "vtiger_client", "vtiger_sandbox", "vtiger_singer",
           "loader_patches", "scripts", "tests", "orchestrate/airflow/dags"]
#: Our own names that happen to equal a private name of the SDK (not the SDK's member).
OWN_NAMES = {
    "_finished": "tap_vtiger/deletions.py: DeletionTracker's own step, not an SDK class",
}


def sdk_private_names() -> set[str]:
    """Private methods and functions the SDK defines and private attributes it sets on self."""
    names: set[str] = set()
    for path in Path(singer_sdk.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name):
                names.add(node.name)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                  and _private(node.attr)):
                names.add(node.attr)
    return names - set(OWN_NAMES)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def uses_in(path: Path, private: set[str]) -> list[str]:
    """Each use of an SDK private name in ``path``: attribute, method definition, import."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ClassDef):
            found += [f"{item.lineno}: def {item.name}" for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and item.name in private]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
            module_private = any(_private(part) for part in node.module.split("."))
            found += [f"{node.lineno}: from {node.module} import {alias.name}"
                      for alias in node.names if module_private or _private(alias.name)]
    return found


def scanned_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py")
                  if p != ALLOWED and p not in NOT_CODE)


@pytest.fixture(scope="module")
def private() -> set[str]:
    return sdk_private_names()


def test_no_module_but_vtiger_singer_sdk_uses_a_private_name_of_the_sdk(private):
    offenders = {str(p.relative_to(ROOT)): uses_in(p, private) for p in scanned_files()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scan_finds_the_private_names_the_sdk_module_uses(private):
    # the check above would pass vacuously if the scan found nothing anywhere
    uses = "\n".join(uses_in(ALLOWED, private))
    for name in ("_write_record_message", "_increment_stream_state", "_process_record_message",
                 "_validate_config", "_input_schema", "from singer_sdk.helpers import _state"):
        assert name in uses
