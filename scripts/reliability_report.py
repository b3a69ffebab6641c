#!/usr/bin/env python3
"""The reliability report (``make reliability``): run tests/e2e/reliability, print what it proved.

    .venv/bin/python scripts/reliability_report.py            # run the tests, print the table
    .venv/bin/python scripts/reliability_report.py --readme   # ...and rewrite README's section
    .venv/bin/python scripts/reliability_report.py --again    # re-print the last run's report

Every figure comes out of the tests themselves, nothing is typed in by hand: each reliability
test that injects faults, kills a process or runs out of API budget appends one JSON line of
counters (``tests/e2e/reliability/faults_helpers.Figures``) to the file named by
``RELIABILITY_FIGURES``; the bad-input, hostile-value and security cases are counted from
pytest's JUnit report (one test case each, parametrized). Both files are kept in
``output/reliability/``. The script exits 1 when a test failed, so a report is only ever
written over a green run.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
RAW = ROOT / "output" / "reliability"
FAULT_KINDS = ("error", "drop", "html", "truncate", "429")
# The reliability suite, and the target's specification of "nothing doubled, nothing stale".
TESTS = ("tests/e2e/reliability", "tests/target/test_target_integrity.py",
         "tests/target/test_target_generated.py")


@dataclass
class Cases:
    """Test cases of one file (or group of files) from the JUnit report."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    names: list[str] = field(default_factory=list)


def run_tests(figures: Path, junit: Path, pytest_args: list[str]) -> int:
    env = {**os.environ, "RELIABILITY_FIGURES": str(figures)}
    cmd = [sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider",
           f"--junitxml={junit}", *pytest_args]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def read_cases(junit: Path) -> dict[str, Cases]:
    """Test cases per test file (``test_bad_input`` ...), from pytest's JUnit XML."""
    by_file: dict[str, Cases] = collections.defaultdict(Cases)
    for case in ET.parse(junit).iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        cases = by_file[module]
        if case.find("failure") is not None or case.find("error") is not None:
            cases.failed += 1
        elif case.find("skipped") is not None:
            cases.skipped += 1
        else:
            cases.passed += 1
        cases.names.append(case.get("name", ""))
    return by_file


def read_figures(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def hostile_sizes() -> str:
    """How much the hostile-value tests try, read from their own constants (no hand copy)."""
    tree = ast.parse((ROOT / "tests/e2e/reliability/test_hostile_values.py").read_text())
    values = next(len(node.value.elts) for node in ast.walk(tree)
                  if isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
                  and any(getattr(t, "id", "") == "HOSTILE" for t in node.targets))
    examples = [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "settings"
                for kw in node.keywords if kw.arg == "max_examples"]
    return (f"{values} hostile values and a 100 KB text through both CLIs; hypothesis: "
            f"{' + '.join(map(str, examples))} generated examples (VTQL lookups, every field "
            "type typed -> wire -> stored -> typed)")


def generated_text(figures: list[dict]) -> str:
    """The generated-input row: what was sent and where every key ended."""
    networks = sorted({f["test"] for f in figures})
    keys = sum(f["keys"] for f in figures)
    codes: collections.Counter = collections.Counter()
    for f in figures:
        codes.update(f.get("rejected_keys") or {})
    rejected = sum(codes.values())
    why = ", ".join(f"{n} {code}" for code, n in sorted(codes.items())) or "none"
    return (f"{len(figures)} examples over {len(networks)} networks, "
            f"{sum(f['records_sent'] for f in figures):,} records of {keys} keys: "
            f"{keys - rejected} in Vtiger once with the last value, {rejected} rejected with a "
            f"reason ({why}), 0 doubled")


def _count(cases: dict[str, Cases], module: str, prefix: str = "") -> int:
    c = cases.get(module, Cases())
    return sum(1 for name in c.names if name.startswith(prefix)) if prefix else c.passed


def table(figures: list[dict], cases: dict[str, Cases]) -> str:
    """The README table: one row per claim of issue 6, each with its proof's size."""
    faults = collections.Counter()
    for f in figures:
        faults.update(f.get("faults") or {})
    under_faults = sum(f.get("calls_under_faults", 0) for f in figures)
    compared = sum(f.get("records_compared", 0) for f in figures)
    runs = sum(f.get("runs", 0) for f in figures)

    def of(word: str) -> list[dict]:
        return [f for f in figures if word in f["test"]]

    kills_tap = sorted({k for f in of("test_crash_tap") for k in f["kill_points"]})
    kills_target = sorted({k for f in of("test_crash_target") for k in f["kill_points"]})
    crash_runs = len(of("test_crash_tap")) + len(of("test_crash_target"))
    expired = sum(f.get("sessions_expired", 0) for f in of("test_faults_session"))
    rematched = sum(f.get("lost_create_answers_rematched", 0) for f in of("test_faults_target"))
    changed = sum(f.get("changed", 0) for f in of("test_faults_changes_while_paging"))
    unconfirmed = sum(f.get("webhook_unconfirmed_kept", 0) for f in of("test_faults_webhook"))
    limit_runs = sum(f.get("runs", 0) for f in of("test_faults_daily_limit"))
    fault_text = ", ".join(f"{faults.get(k, 0):,} {k}" for k in FAULT_KINDS)
    settings = (_count(cases, "test_bad_input", "test_tap_bad_setting")
                + _count(cases, "test_bad_input", "test_target_bad_setting")
                + _count(cases, "test_bad_input", "test_tap_connection_test_mode")
                + _count(cases, "test_bad_input", "test_unsendable_connection_settings")
                + _count(cases, "test_bad_input", "test_target_rejects_path"))
    inputs = (_count(cases, "test_bad_input", "test_config_file_with_a_json_syntax_error")
              + _count(cases, "test_bad_input", "test_target_bad_message")
              + _count(cases, "test_bad_input", "test_target_key_properties_as_a_string")
              + _count(cases, "test_bad_input", "test_target_batch_message")
              + _count(cases, "test_bad_input", "test_tap_state_it_did_not_write"))
    bad_values = sum(_count(cases, "test_bad_input", prefix) for prefix in (
        "test_a_lone_surrogate", "test_a_nul_character", "test_a_line_that_is_not_utf8",
        "test_a_record_the_server_keeps_failing", "test_stop_on_server_error",
        "test_a_server_failing_on_every_record", "test_adversarial_json_values",
        "test_a_record_repeating_a_key", "test_bad_records_are_rejected"))
    hostile = _count(cases, "test_hostile_values")
    security = _count(cases, "test_security")
    total = sum(c.passed for c in cases.values())
    failed = sum(c.failed for c in cases.values())
    rows = [
        ("faults injected (5xx, dropped connections, HTML pages, truncated JSON, 429 bursts)",
         f"{sum(faults.values()):,} in {under_faults:,} calls ({fault_text})"),
        ("records compared field by field with the server after faulty runs",
         f"{compared:,} over {runs} runs: none lost, none duplicated"),
        ("tap SIGKILLed mid-run, re-run from its last STATE (also on a flaky network)",
         f"killed after {', '.join(map(str, kills_tap))} messages read"),
        ("target SIGKILLed mid-batch, re-run from its last STATE or the whole input",
         f"killed after {', '.join(map(str, kills_target))} writes"),
        ("kill-and-rerun cases", f"{crash_runs}, each ending with every record exactly once"),
        ("lost create answers re-matched instead of created twice", f"{rematched}"),
        ("webhook requests whose answer was lost: kept as WEBHOOK_UNCONFIRMED, never re-sent",
         f"{unconfirmed}"),
        ("records changed between two pages, delivered by the next run", f"{changed}"),
        ("webservice sessions expired mid-run, renewed", f"{expired}"),
        ("daily API limit exhausted mid-run: clean stop, resumed", f"{limit_runs} runs"),
        ("bad settings (tap x sync/discover, target): one line, exit 1, 0 API calls",
         f"{settings} cases"),
        ("bad config files, tap states and target messages: one line naming the key or the "
         "input line, documented exit code", f"{inputs} cases"),
        ("bad values (invalid UTF-8, lone surrogates, NUL, values the server keeps failing "
         "on): a reject with its reason, the run goes on", f"{bad_values} cases"),
        ("the same key as the server sees it (case, accents, trailing blanks, leading blanks, "
         "ß/ss), altered values, creates the server finishes late, input order",
         f"{_count(cases, 'test_target_integrity')} tests"),
        ("generated target inputs (hypothesis: key spellings, SCHEMA changes, two streams to "
         "one module) over no faults, lost answers, slow creates and SIGKILL",
         generated_text(of("test_target_generated"))),
        ("hostile values, type round-trips, VTQL escaping (hypothesis, derandomized)",
         f"{hostile} tests: {hostile_sizes()}"),
        ("security: secrets never printed, TLS, auth on every route, webhook tokens",
         f"{security} tests"),
        (", ".join(TESTS), f"{total} passed, {failed} failed"),
    ]
    out = ["| What was tried | Figure |", "|:--|:--|"]
    out += [f"| {what} | {figure} |" for what, figure in rows]
    return "\n".join(out)


def write_readme(text: str) -> None:
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite README's section")
    parser.add_argument("--again", action="store_true",
                        help="report on the last run (output/reliability/) without re-running")
    args, pytest_args = parser.parse_known_args()
    figures_path, junit = RAW / "figures.jsonl", RAW / "junit.xml"
    rc = 0
    if not args.again:
        RAW.mkdir(parents=True, exist_ok=True)
        figures_path.unlink(missing_ok=True)
        rc = run_tests(figures_path, junit, pytest_args)
    elif not junit.exists():
        raise SystemExit(f"no earlier run in {RAW}: run without --again first")
    cases = read_cases(junit)
    text = table(read_figures(figures_path), cases)
    print(text)
    if rc or any(c.failed for c in cases.values()):
        print("reliability tests failed: no report written", file=sys.stderr)
        return 1
    if args.readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
