"""The rooms of the distribution depend on each other one way only: tap_vtiger and
target_vtiger sit on vtiger_client and never import each other (a user installing the target
alone must not need the tap's code, and a change to one connector cannot break the other);
vtiger_client and the connectors never import the sandbox, which is a development server.
Checked on the import statements of every module (ast), so lazy imports inside functions count.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "tap_vtiger": {"target_vtiger", "vtiger_sandbox"},
    "target_vtiger": {"tap_vtiger", "vtiger_sandbox"},
    # talks to Vtiger and knows nothing of Singer
    "vtiger_client": {"tap_vtiger", "target_vtiger", "vtiger_sandbox", "vtiger_singer",
                      "singer_sdk"},
    "vtiger_sandbox": {"tap_vtiger", "target_vtiger", "vtiger_singer"},
    # the SDK glue both connectors sit on: nothing of ours below or beside it
    "vtiger_singer": {"tap_vtiger", "target_vtiger", "vtiger_client", "vtiger_sandbox"},
    # runs inside a loader's own plugin environment: nothing of ours but itself
    "loader_patches": {"tap_vtiger", "target_vtiger", "vtiger_client", "vtiger_sandbox",
                       "vtiger_singer"},
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


# ------------------------------------------------------------------------- import cycles
PACKAGES = sorted(FORBIDDEN)


def modules_under(root: Path, packages: list[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` below ``root``."""
    out = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The import statements run when the module is imported: at its top level, including
    inside top-level ``if`` / ``try`` / ``with`` blocks (``if TYPE_CHECKING:`` too, since a
    type-only import is still a dependency); not those inside functions or classes.
    """
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ExceptHandler)):
            todo.extend(n for n in ast.iter_child_nodes(node)
                        if isinstance(n, (ast.stmt, ast.ExceptHandler)))
    return found


def imported_modules(name: str, modules: dict[str, Path]) -> set[str]:
    """The ``modules`` that module ``name`` imports at module level (``from .x import y`` is
    x.y when y is a module, else x).
    """
    path = modules[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in modules)
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        for alias in node.names:
            if f"{target}.{alias.name}" in modules:
                out.add(f"{target}.{alias.name}")
            elif target in modules:
                out.add(target)
    out.discard(name)
    return out


def import_cycles(modules: dict[str, Path]) -> list[frozenset[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's
    strongly connected components of the module-level import graph).
    """
    graph = {name: imported_modules(name, modules) for name in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(frozenset(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


def test_the_cycle_finder_sees_a_cycle_through_a_third_module(tmp_path) -> None:
    # a -> b -> c -> a is a cycle; a -> d with d importing a inside a function is not
    files = {"__init__": "", "a": "from . import b, d\n", "b": "from .c import X\n",
             "c": "if True:\n    from .a import Y\n",
             "d": "def f():\n    from . import a\n"}
    (tmp_path / "pkg").mkdir()
    for name, body in files.items():
        (tmp_path / "pkg" / f"{name}.py").write_text(body)
    assert import_cycles(modules_under(tmp_path, ["pkg"])) == [
        frozenset({"pkg.a", "pkg.b", "pkg.c"})]


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_has_no_import_cycle(package: str) -> None:
    cycles = import_cycles(modules_under(ROOT, PACKAGES))
    assert [sorted(c) for c in cycles if any(m.split(".")[0] == package for m in c)] == []


# ------------------------------------------------------------------- the target's floors
#: The target's rooms from the top floor down: ``target`` (settings, sink routing) stands on
#: ``sinks``, the sinks on ``run`` (what they share), ``run`` on the rest of the package
#: (validation, matching, rejects...), which stands on none of these three.
TARGET_FLOORS = ["target_vtiger.target", "target_vtiger.sinks", "target_vtiger.run"]


def floor_of(module: str) -> int:
    """Index of ``module``'s floor in TARGET_FLOORS (their count for the rest of the package)."""
    for index, floor in enumerate(TARGET_FLOORS):
        if module == floor or module.startswith(floor + "."):
            return index
    return len(TARGET_FLOORS)


def every_import(path: Path) -> set[str]:
    """The dotted names ``path`` imports anywhere (inside functions and ``if TYPE_CHECKING``
    too), ``from x import y`` counted as both x and x.y.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_floor_finder_places_every_module_of_the_target() -> None:
    modules = modules_under(ROOT, ["target_vtiger"])
    floors = {floor: [m for m in modules if floor_of(m) == i]
              for i, floor in enumerate([*TARGET_FLOORS, "the rest"])}
    assert all(floors.values()), floors


@pytest.mark.parametrize("module", sorted(modules_under(ROOT, ["target_vtiger"])))
def test_a_room_of_the_target_imports_no_room_above_it(module: str) -> None:
    # a sink that reached back into target.py (even lazily, even for a type) made the
    # target a service locator its sinks and the target both depended on
    path = modules_under(ROOT, ["target_vtiger"])[module]
    above = sorted(name for name in every_import(path)
                   if name.startswith("target_vtiger.") and floor_of(name) < floor_of(module))
    assert above == []


# --------------------------------------------------------------- the sandbox extra's deps
SERVER_ONLY = ("starlette", "uvicorn", "lark")


@pytest.mark.parametrize("package", ["tap_vtiger", "target_vtiger", "vtiger_client"])
def test_the_connectors_run_without_the_sandbox_servers_dependencies(package: str) -> None:
    # installing tap-vtiger without the [sandbox] extra leaves these out: importing every
    # module of a connector must not need them
    script = (
        "import importlib, pkgutil, sys\n"
        f"import {package} as p\n"
        "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & {set(SERVER_ONLY)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------ dead code
def test_vulture_finds_no_dead_code_in_any_package() -> None:
    # over the whole repository (a name the tests or scripts use is alive), with
    # scripts/vulture_whitelist.py naming what frameworks call; default confidence
    paths = ["tap_vtiger", "target_vtiger", "vtiger_client", "vtiger_sandbox", "vtiger_singer",
             "loader_patches", "scripts", "tests", "orchestrate"]
    proc = subprocess.run([sys.executable, "-m", "vulture", *paths], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    # tests and scripts are left out of the verdict: pytest finds fixtures by name
    found = [line for line in proc.stdout.splitlines()
             if line.startswith(tuple(f"{package}/" for package in PACKAGES))]
    assert found == []


# ------------------------------------------------------------------------------ packaging
def test_every_package_of_the_repository_is_packaged_and_its_changes_rebuild_meltanos_copy():
    # a package missing from one of these lists is left out of the wheel, or left stale in
    # the Meltano plugin venvs that install the project as a package
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from meltano_plugins import PACKAGES as MELTANO_PACKAGES
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    packaged = {name.rstrip("*") for name in
                project["tool"]["setuptools"]["packages"]["find"]["include"]}
    cache_keys = {key["file"].split("/")[0] for key in project["tool"]["uv"]["cache-keys"]}
    assert packaged == found
    assert set(MELTANO_PACKAGES) == found
    assert cache_keys - {"pyproject.toml"} == found
    assert set(FORBIDDEN) == found
