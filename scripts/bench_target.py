"""Benchmark target-vtiger against a local sandbox: records/s and API calls per record.

Three runs over the same N Contacts, matched on email:
  all-new        every record is created        (aim: 1 write per record, <= 1 lookup / 100)
  all-changed    every record has a new value   (aim: 1 revise per record)
  all-unchanged  the same input again           (aim: 0 writes)

Usage: .venv/bin/python scripts/bench_target.py [--records 1000] [--latency-ms 0] [--style rest]
       [--concurrency 1] [--bulk]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e`
    sys.path.append(str(ROOT))

from target_vtiger.target import TargetVtiger  # noqa: E402
from vtiger_sandbox.testing import SandboxServer  # noqa: E402

WRITE_OPS = ("create", "revise", "update", "delete", "vtap_api")
BULK_XML = """<apidesigner><endpoint path="contacts_bulk" kind="api"><api method="post">
<upsert module="Contacts" bulk="true"><record><field name="lastname"/><field name="firstname"/>
<field name="email"/><field name="phone"/><field name="assigned_user_id"/></record>
<where><field name="email" value="@email"/></where></upsert></api></endpoint></apidesigner>"""


def singer_input(records: list[dict]) -> str:
    props = {k: {"type": ["string", "null"]} for k in ("lastname", "firstname", "email", "phone")}
    lines = [{"type": "SCHEMA", "stream": "Contacts", "key_properties": [],
              "schema": {"type": "object", "properties": props}}]
    lines += [{"type": "RECORD", "stream": "Contacts", "record": r} for r in records]
    lines.append({"type": "STATE", "value": {"n": len(records)}})
    return "".join(json.dumps(m) + "\n" for m in lines)


def run(server: SandboxServer, config: dict, text: str) -> tuple[float, dict[str, int]]:
    server.reset_stats()
    target = TargetVtiger(config=config)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO(text))
    elapsed = time.perf_counter() - start
    return elapsed, server.stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="server-side latency per call (emulates a remote instance)")
    parser.add_argument("--style", choices=["rest", "webservice"], default="rest")
    parser.add_argument("--concurrency", type=int, default=1, help="write_concurrency setting")
    parser.add_argument("--bulk", action="store_true",
                        help="write through an API Designer bulk upsert endpoint (50/request)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    n = args.records
    new = [{"lastname": f"Bench{i}", "firstname": "B", "email": f"bench{i}@example.com"}
           for i in range(n)]
    changed = [{**r, "phone": f"+1 555 {i:04d}"} for i, r in enumerate(new)]
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(Path(tmp) / "bench.sqlite") as srv:
        if args.bulk:  # the sandbox reads API Designer definitions beside its database
            (Path(tmp) / "bench.sqlite.apidesigner.xml").write_text(BULK_XML)
        if args.latency_ms:
            srv.configure(faults={"latency_ms": args.latency_ms})
        config = {**srv.tap_config(), "api_style": args.style,
                  "match_keys": {"Contacts": ["email"]}, "rejects_path": str(Path(tmp) / "r"),
                  "write_concurrency": args.concurrency}
        if args.bulk:
            config["api_designer_upsert"] = {
                "Contacts": {"path": "contacts_bulk", "match_field": "email"}}
        print(f"target-vtiger benchmark: {n} Contacts, api_style={args.style}, "
              f"latency={args.latency_ms} ms/call, write_concurrency={args.concurrency}"
              f"{', API Designer bulk upsert' if args.bulk else ''}")
        print(f"{'scenario':<15}{'records/s':>11}{'writes/rec':>12}{'lookups/rec':>13}"
              f"{'calls/rec':>11}{'seconds':>9}")
        for name, records in (("all-new", new), ("all-changed", changed),
                              ("all-unchanged", changed)):
            elapsed, stats = run(srv, config, singer_input(records))
            writes = sum(stats.get(op, 0) for op in WRITE_OPS)
            lookups = stats.get("query", 0)
            total = sum(stats.values())
            print(f"{name:<15}{n / elapsed:>11.1f}{writes / n:>12.3f}{lookups / n:>13.3f}"
                  f"{total / n:>11.3f}{elapsed:>9.2f}")


if __name__ == "__main__":
    main()
