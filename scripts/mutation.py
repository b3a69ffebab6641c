"""Mutation check of the modules that guard data (``make mutation``; not part of ``make test``).

Each mutant is one small change to one module (a flipped comparison, ``and``/``or`` swapped,
``min``/``max`` swapped, a dropped ``.strip()``/``.normalize()``, ``return None``, a deleted
statement, a changed constant). A mutant is *caught* when the module's fast tests fail on it.

Speed (2 shared cores): the tests of a module are collected once in this process; every mutant
then runs in a forked child that patches the mutated function's code object in place (so
``from module import f`` in the tests sees the mutant too) and re-runs the already-imported
tests with ``pytest -x``. A child that runs past the timeout counts as caught (an infinite
loop is a failure a user would see); the timeout is ``--timeout`` or four times what the
unmutated tests took, whichever is longer, so that a busy machine does not pass survivors off
as caught. Such mutants are listed as ``TIMEOUT``.

Equivalent mutants (no observable difference) are listed in ``scripts/mutation_equivalent.txt``,
one ``<mutant id>  # <reason>`` per line; only listed ones leave the score.

Usage: ``python scripts/mutation.py [module-key ...] [--timeout S] [--list] [--match TEXT]
[--limit N]`` (``--match`` may be repeated: any of the texts). Prints each surviving mutant,
then per module: mutants, killed, equivalent, survived, the raw score (killed / mutants) and
the score (killed / (mutants - equivalent)).
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import importlib
import io
import os
import signal
import sys
import time
import types
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "scripts" / "mutation_equivalent.txt"
TARGET_SCORE = 85.0
#: A mutant's tests may run this many times as long as the unmutated ones before they count as
#: looping (caught): on 2 shared cores the wall time of one run varies a lot.
BASELINE_FACTOR = 4.0


@dataclass(frozen=True)
class Target:
    """One module under mutation: which top-level names (``Class.method`` allowed) to mutate
    (None: all) and the fast test files that must catch the mutants."""

    path: str
    tests: tuple[str, ...]
    only: tuple[str, ...] | None = None


TARGETS: dict[str, Target] = {
    "vtql": Target("vtiger_client/vtql.py", ("tests/client/test_vtql_build.py",)),
    "matching": Target(
        "target_vtiger/matching.py",
        ("tests/target/test_target_matching_unit.py", "tests/target/test_target_matching.py"),
    ),
    "validation": Target(
        "target_vtiger/validation.py",
        # the one-behaviour spec first: with -x most mutants fail there, before the
        # hypothesis tests (a failing one shrinks its example for seconds)
        ("tests/target/test_target_validation_spec.py", "tests/target/test_target_validation.py"),
    ),
    "types": Target(
        "vtiger_client/types.py",
        # the codec's specs, then the target's (every value it writes goes through the codec)
        ("tests/client/test_client_types_spec.py", "tests/client/test_client_types.py",
         "tests/target/test_target_validation_spec.py"),
        # the wire codec: converters both ways and the bookmark clock (not the JSON Schema)
        only=(
            "_problem", "_make_int", "_make_number", "_TRUE", "_FALSE", "_make_bool",
            "_ZERO_DATES", "_make_datetime", "_make_date", "_make_time",
            "_parse_multipicklist", "_parse_reference", "value_parser", "_FAST_VALUES",
            "record_parser", "NUMBER_LIMIT", "FLOAT_PRECISION", "_ID_RE", "_DATE_RE",
            "_TIME_RE", "_HAS_TIME_RE", "_SURROGATE_RE", "_BOOLEAN_WIRE", "_MIDNIGHT_SUFFIXES",
            "_blank", "_finite_decimal", "format_decimal", "_in_range", "_ser_int",
            "_ser_number", "boolean_wire", "_ser_bool", "_ser_date", "serialize_datetime",
            "serialize_time", "serialize_text", "_ser_email", "is_record_id", "_ser_reference",
            "multipicklist_items", "_ser_multipicklist", "value_serializer",
            "_SERIALIZERS", "record_serializer", "wire_value", "datetime_to_unix",
            "unix_to_datetime", "unix_to_wire",
        ),
    ),
    "streams": Target(
        "tap_vtiger/streams/modules.py",
        ("tests/tap/test_tap_paging_spec.py", "tests/tap/test_tap_bookmark_clamp.py"),
        only=(
            "ModuleStream.start_seconds",
            "ModuleStream._note_gap",
            "ModuleStream.get_records",
            "ModuleStream._sync_pages",
            "ModuleStream._query_pages",
            "ModuleStream._keeps_bookmark",
        ),
    ),
}

# ---------------------------------------------------------------------------- mutants

_CMP_SWAP: dict[type, type] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
    ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_CMP_EDGE: dict[type, type] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_DROPPABLE_CALLS = frozenset(
    {"strip", "lstrip", "rstrip", "normalize", "lower", "casefold", "upper", "replace",
     "astimezone", "isoformat", "to_integral_value", "quantize"}
)
_LOG_NAMES = frozenset({"info", "warning", "debug", "error", "log_fallback", "exception"})


@dataclass
class Mutant:
    """One change: where (top-level name), what (readable), and the mutated module tree."""

    ident: str
    owner: str
    line: int
    description: str
    tree: ast.Module


def _src(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


class _Sites(ast.NodeVisitor):
    """Collect (path-to-node, replacement-builder, description) for every mutation site."""

    def __init__(self) -> None:
        self.sites: list[tuple[ast.AST, ast.AST | None, str]] = []
        self._quiet = 0  # inside raise / logging calls: their texts are messages

    def generic_visit(self, node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def _add(self, node: ast.AST, new: ast.AST | None, what: str) -> None:
        self.sites.append((node, new, what))

    def visit_Raise(self, node: ast.Raise) -> None:
        self._quiet += 1
        self.generic_visit(node)
        self._quiet -= 1

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings are messages

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            for table in (_CMP_SWAP, _CMP_EDGE):
                repl = table.get(type(op))
                if repl is None:
                    continue
                new = copy.deepcopy(node)
                new.ops[i] = repl()
                self._add(node, new, f"`{_src(node)}` -> `{_src(new)}`")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, new, f"`{_src(node)}` -> `{_src(new)}`")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, copy.deepcopy(node.operand), f"`{_src(node)}` -> drop `not`")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv}.get(type(node.op))
        if swap is not None and not (
            isinstance(node.op, ast.Add)
            and any(isinstance(s, (ast.Constant, ast.JoinedStr)) and isinstance(
                getattr(s, "value", None), str) for s in (node.left, node.right))
        ):
            new = copy.deepcopy(node)
            new.op = swap()
            self._add(node, new, f"`{_src(node)}` -> `{_src(new)}`")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _LOG_NAMES:
            self._quiet += 1
            self.generic_visit(node)
            self._quiet -= 1
            return
        if isinstance(func, ast.Name) and func.id in ("min", "max"):
            new = copy.deepcopy(node)
            new.func = ast.Name("max" if func.id == "min" else "min", ast.Load())
            self._add(node, new, f"`{_src(node)}` -> `{_src(new)}`")
        if isinstance(func, ast.Attribute) and func.attr in _DROPPABLE_CALLS:
            self._add(node, copy.deepcopy(func.value), f"`{_src(node)}` -> drop `.{func.attr}()`")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if self._quiet:
            return
        value = node.value
        if isinstance(value, bool):
            self._add(node, ast.Constant(not value), f"`{value}` -> `{not value}`")
        elif isinstance(value, int):
            self._add(node, ast.Constant(value + 1), f"`{value}` -> `{value + 1}`")
            if value != 0:
                self._add(node, ast.Constant(0), f"`{value}` -> `0`")
        elif isinstance(value, str) and len(value) <= 12:
            new_value = "XX" if value == "" else ""
            self._add(node, ast.Constant(new_value), f"`{value!r}` -> `{new_value!r}`")

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None
        ):
            self._add(node, ast.Return(ast.Constant(None)), f"`{_src(node)}` -> `return None`")
        self.generic_visit(node)

    def _statements(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            if isinstance(stmt, (ast.Expr, ast.Assign, ast.AugAssign, ast.If, ast.Raise,
                                 ast.For, ast.While, ast.Try, ast.With, ast.Delete)):
                self._add(stmt, ast.Pass(), f"delete `{_src(stmt)}`")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._statements(node.body)
        for stmt in node.body:
            self.visit(stmt)

    def _block(self, node: ast.AST) -> None:
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if body:
                self._statements(body)
        for handler in getattr(node, "handlers", []) or []:
            self._statements(handler.body)
        self.generic_visit(node)

    visit_If = visit_For = visit_While = visit_Try = visit_With = _block


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, new: ast.AST) -> None:
        self.target, self.new = target, new

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return ast.copy_location(self.new, node)
        return super().visit(node)


def _owners(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Top-level mutable units: functions, ``Class.method`` and other top-level statements."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if names and names[0] not in ("__all__",):
                yield names[0], node


@functools.cache
def mutants(target: Target) -> list[Mutant]:
    """Every mutant of ``target``, with stable ids ``path::owner::description[#n]`` (built once
    per run: re-parsing the module for each site takes a minute on a busy machine)."""
    source = (ROOT / target.path).read_text()
    out: list[Mutant] = []
    seen: Counter[str] = Counter()
    for owner, unit in _owners(ast.parse(source)):
        if target.only is not None and owner not in target.only:
            continue
        finder = _Sites()
        if isinstance(unit, ast.FunctionDef):
            finder.visit_FunctionDef(unit)
        else:
            finder.visit(unit)
        for node, new, what in finder.sites:
            tree = ast.parse(source)
            # locate the same node in a fresh tree by position and type
            twin = next(
                n for n in ast.walk(tree)
                if type(n) is type(node)
                and getattr(n, "lineno", None) == getattr(node, "lineno", None)
                and getattr(n, "col_offset", None) == getattr(node, "col_offset", None)
                and getattr(n, "end_col_offset", None) == getattr(node, "end_col_offset", None)
                and getattr(n, "end_lineno", None) == getattr(node, "end_lineno", None)
            )
            tree = ast.fix_missing_locations(_Replace(twin, copy.deepcopy(new)).visit(tree))
            base = f"{target.path}::{owner}::{what}"
            seen[base] += 1
            ident = base if seen[base] == 1 else f"{base}#{seen[base]}"
            out.append(Mutant(ident, owner, getattr(node, "lineno", 0), what, tree))
    return out


# ---------------------------------------------------------------------------- running


def _patch(module: types.ModuleType, mutant: Mutant) -> None:
    """Make ``module`` behave as the mutant, in place (this process only)."""
    namespace = dict(module.__dict__)
    exec(compile(mutant.tree, module.__file__ or "<mutant>", "exec"), namespace)
    owner = mutant.owner
    if "." in owner:
        cls_name, meth = owner.split(".", 1)
        old = getattr(module, cls_name).__dict__[meth]
        new = namespace[cls_name].__dict__[meth]
        old_fn = old.fget if isinstance(old, property) else old
        new_fn = new.fget if isinstance(new, property) else new
        old_fn.__code__ = new_fn.__code__
        return
    old = module.__dict__.get(owner)
    new = namespace[owner]
    if isinstance(old, types.FunctionType) and isinstance(new, types.FunctionType):
        old.__code__ = new.__code__
        return
    setattr(module, owner, new)
    # a mutated constant also reaches the defaults that were computed from it when the module
    # was defined (``def chunked(values, size=LOOKUP_CHUNK)``)
    for name, fn in module.__dict__.items():
        fresh = namespace.get(name)
        if (isinstance(fn, types.FunctionType) and isinstance(fresh, types.FunctionType)
                and fn.__module__ == module.__name__):
            fn.__defaults__, fn.__kwdefaults__ = fresh.__defaults__, fresh.__kwdefaults__


def _pytest_args(target: Target) -> list[str]:
    tests = [t for t in target.tests if (ROOT / t).exists()]
    return [*tests, "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider",
            "-p", "no:randomly", "--no-header", "-o", "addopts="]


def _run_child(module: types.ModuleType, mutant: Mutant | None, target: Target,
               timeout: float) -> str:
    """``caught`` / ``survived`` / ``timeout`` / ``error`` for one mutant (None: the baseline)."""
    import pytest

    pid = os.fork()
    if pid == 0:  # child: its own process group, so that sandboxes it starts die with it
        code = 3
        try:
            os.setpgid(0, 0)
            sink = io.StringIO()
            with redirect_stdout(sink), redirect_stderr(sink):
                if mutant is not None:
                    _patch(module, mutant)
                code = int(pytest.main(_pytest_args(target)))
        except BaseException:
            code = 1
        os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _kill_group(pid)
            code = os.waitstatus_to_exitcode(status)
            return {0: "survived", 1: "caught"}.get(code, "caught" if code > 0 else "error")
        if time.monotonic() > deadline:
            _kill_group(pid)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.02)


def _kill_group(pgid: int) -> None:
    """End whatever a child left running (a sandbox of a test it was killed in)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def load_equivalent() -> dict[str, str]:
    """Listed equivalent mutants: id -> reason."""
    out: dict[str, str] = {}
    if EQUIVALENT_FILE.exists():
        for line in EQUIVALENT_FILE.read_text().splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ident, _, reason = line.partition("  # ")
            out[ident.strip()] = reason.strip()
    return out


@dataclass
class Score:
    """One module's result: raw = caught / mutants; adjusted = caught / (mutants - equivalent)."""

    path: str
    mutants: int
    equivalent: int
    caught: int
    seconds: float
    survivors: list[Mutant]
    partial: bool = False

    @property
    def raw(self) -> float:
        return 100.0 * self.caught / self.mutants if self.mutants else 100.0

    @property
    def adjusted(self) -> float:
        scored = self.mutants - self.equivalent
        return 100.0 * self.caught / scored if scored else 100.0


def select(found: list[Mutant], match: list[str] | None, limit: int | None) -> list[Mutant]:
    """The mutants to run: those whose id contains one of ``match``, at most ``limit`` of them
    spread evenly over the module (for a quick look; the figures that count run every mutant)."""
    chosen = [m for m in found if not match or any(text in m.ident for text in match)]
    if limit is not None and 0 < limit < len(chosen):
        step = len(chosen) / limit
        chosen = [chosen[int(i * step)] for i in range(limit)]
    return chosen


def score_module(key: str, timeout: float, equivalent: dict[str, str], *,
                 match: list[str] | None = None, limit: int | None = None,
                 progress: bool = True) -> Score | None:
    """Run the mutants of one module; None when its tests fail without any mutation."""
    import pytest

    target = TARGETS[key]
    module = importlib.import_module(target.path[:-3].replace("/", "."))
    started = time.monotonic()
    with redirect_stdout(io.StringIO()):  # import the tests once, before forking
        pytest.main([*_pytest_args(target), "--collect-only"])
    began = time.monotonic()
    base = _run_child(module, None, target, max(timeout * 4, 600.0))
    if base != "survived":
        print(f"{key}: the tests fail without any mutation ({base}); fix them first")
        return None
    # a timeout counts as caught, so it must mean "loops", never "the machine is busy": at
    # least a few times what the unmutated tests took on this machine just now
    timeout = max(timeout, BASELINE_FACTOR * (time.monotonic() - began))
    if progress:
        print(f"{key}: unmutated tests took {time.monotonic() - began:.0f} s; "
              f"timeout per mutant {timeout:.0f} s", flush=True)
    found = mutants(target)
    chosen = select(found, match, limit)
    survivors: list[Mutant] = []
    caught = listed = 0
    for mutant in chosen:
        verdict = _run_child(module, mutant, target, timeout)
        if verdict in ("caught", "timeout"):
            caught += 1
            if verdict == "timeout" and progress:
                print(f"TIMEOUT (counted caught) {mutant.ident}", flush=True)
            if mutant.ident in equivalent:
                print(f"CAUGHT BUT LISTED EQUIVALENT {mutant.ident}")
        elif mutant.ident in equivalent:
            listed += 1
        else:
            survivors.append(mutant)
            if progress:
                print(f"SURVIVED {mutant.ident}  (line {mutant.line})", flush=True)
    return Score(target.path, len(chosen), listed, caught, time.monotonic() - started,
                 survivors, partial=len(chosen) < len(found))


def run(keys: list[str], timeout: float, *, match: list[str] | None = None,
        limit: int | None = None) -> int:
    """Run the check for ``keys``; print survivors and scores; 0 when all reach the target."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("CI", "1")  # the derandomized hypothesis profile (tests/conftest.py)
    equivalent = load_equivalent()
    known = {m.ident for key in keys for m in mutants(TARGETS[key])}
    for ident in sorted(set(equivalent) - known):
        if any(ident.startswith(TARGETS[k].path + "::") for k in keys):
            print(f"STALE EQUIVALENT (no such mutant any more) {ident}")
    scores: list[Score] = []
    failed = False
    for key in keys:
        score = score_module(key, timeout, equivalent, match=match, limit=limit)
        if score is None:
            failed = True
            continue
        scores.append(score)
        failed |= score.adjusted < TARGET_SCORE
    print()
    print(f"{'module':<30} {'mutants':>7} {'killed':>6} {'equiv':>5} {'survived':>8} "
          f"{'raw':>6} {'score':>6} {'secs':>5}")
    for sc in scores:
        mark = "PASS" if sc.adjusted >= TARGET_SCORE else "FAIL"
        if sc.partial:
            mark += " (partial: --match/--limit)"
        print(f"{sc.path:<30} {sc.mutants:>7} {sc.caught:>6} {sc.equivalent:>5} "
              f"{len(sc.survivors):>8} {sc.raw:>5.1f}% {sc.adjusted:>5.1f}% {sc.seconds:>5.0f} "
              f"{mark}")
    print(f"score = killed / (mutants - equivalent); equivalent mutants: {EQUIVALENT_FILE.name}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"module keys of {', '.join(TARGETS)} "
                        "(default: all)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--match", action="append", help="only the mutants whose id contains "
                        "this text (repeat it: any of the texts)")
    parser.add_argument("--limit", type=int, help="at most this many mutants per module, "
                        "spread over it (a quick look; the figures that count run them all)")
    args = parser.parse_args()
    keys = args.modules or list(TARGETS)
    unknown = [k for k in keys if k not in TARGETS]
    if unknown:
        parser.error(f"unknown module key(s) {unknown}; choose from {list(TARGETS)}")
    if args.list:
        for key in keys:
            for mutant in select(mutants(TARGETS[key]), args.match, args.limit):
                print(mutant.ident)
        return 0
    return run(keys, args.timeout, match=args.match, limit=args.limit)


if __name__ == "__main__":
    sys.exit(main())
