#!/usr/bin/env python3
"""What a scheduled run costs: API calls by operation and records emitted, first and second run.

Starts a demo sandbox (real HTTP + SQLite), runs the ``tap-vtiger`` console script twice with
the given settings (default: every module, nothing else configured), the second run with the
first run's state and nothing changed in between, and prints, per run, the calls by operation
(the sandbox's own accounting) and the records emitted, module streams apart from the others.

    .venv/bin/python scripts/run_cost.py                       # REST and webservice
    .venv/bin/python scripts/run_cost.py --api-style rest --json

The discovery cache of the tap lives in a temporary directory here (``XDG_CACHE_HOME``), so
the first run pays discovery as a first run on a fresh machine does.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vtiger_sandbox.testing import SandboxServer  # noqa: E402

#: Streams that are not Vtiger modules (their records are not "module records").
NON_MODULE_STREAMS = {"tags", "picklist_values", "picklist_dependencies", "account_hierarchy"}


def run_tap(config: dict, workdir: Path, state: dict | None, env: dict) -> tuple[list[dict], str]:
    """One ``tap-vtiger`` run; its Singer messages and stderr."""
    cfg = workdir / "config.json"
    cfg.write_text(json.dumps(config))
    cmd = [str(ROOT / ".venv" / "bin" / "tap-vtiger"), "--config", str(cfg)]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        cmd += ["--state", str(workdir / "state.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir,
                          timeout=900, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"tap-vtiger failed ({proc.returncode}): {proc.stderr[-2000:]}")
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return messages, proc.stderr


def summarize(messages: list[dict], calls: dict[str, int]) -> dict:
    """Calls by operation, records by stream, module records apart."""
    records = collections.Counter(m["stream"] for m in messages if m["type"] == "RECORD")
    module = sum(n for s, n in records.items()
                 if s not in NON_MODULE_STREAMS and not s.endswith("_related"))
    return {"calls": dict(sorted(calls.items())), "total_calls": sum(calls.values()),
            "records": dict(sorted(records.items())), "module_records": module,
            "other_records": sum(records.values()) - module}


def measure(api_style: str, extra: dict, seed: str = "demo") -> dict:
    """First and second run against a fresh demo sandbox."""
    with tempfile.TemporaryDirectory(prefix="run-cost-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_VTIGER")}
        env["XDG_CACHE_HOME"] = str(work / "cache")
        from vtiger_sandbox.backend.settings import DEFAULT_SETTINGS

        unlimited = {"edition": "unlimited"} if "edition" in DEFAULT_SETTINGS else {}
        with SandboxServer(work / "sandbox.sqlite", seed=seed, config=unlimited) as sandbox:
            config = {**sandbox.tap_config(), "api_style": api_style, **extra}
            sandbox.reset_stats()
            first, _ = run_tap(config, work, None, env)
            one = summarize(first, sandbox.stats())
            state = next((m["value"] for m in reversed(first) if m["type"] == "STATE"), {})
            sandbox.reset_stats()
            second, _ = run_tap(config, work, state, env)
            two = summarize(second, sandbox.stats())
    return {"api_style": api_style, "settings": extra, "first": one, "second": two}


def table(result: dict) -> str:
    """The issue's table: calls by operation, records emitted."""
    lines = [f"### {result['api_style']} {json.dumps(result['settings'])}", "",
             "| run | calls | by operation | module records | other records |",
             "|---|---|---|---|---|"]
    for run in ("first", "second"):
        r = result[run]
        ops = ", ".join(f"{n} {op}" for op, n in r["calls"].items())
        lines.append(f"| {run} | {r['total_calls']} | {ops} | {r['module_records']} | "
                     f"{r['other_records']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-style", choices=["rest", "webservice", "both"], default="both")
    parser.add_argument("--settings", default="{}", help="extra tap settings (JSON)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    styles = ["rest", "webservice"] if args.api_style == "both" else [args.api_style]
    extra = json.loads(args.settings)
    results = [measure(style, extra) for style in styles]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n\n".join(table(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
