"""Generated inputs (issue 14): whatever the input and the network, nothing doubled, nothing stale.

Hypothesis writes the Singer input: records of a few e-mail keys in the spellings the server
calls equal (case, trailing blanks) and those it does not (a leading tab, ``ß`` against
``ss``), spread over two streams mapped to Contacts, with SCHEMA changes between them. Each
input then meets one kind of network: none, answers lost after the write (the body cut in
half), creates the server finishes after the client gave up, or a target killed with SIGKILL
mid-run and started again on the same input.

The rule checked after every example is the product's promise: every input record ends in
Vtiger exactly once with its key's last value, or in the rejects file with a reason. Keys are
grouped with ``vtiger_client.collation.text_key``, the server's own rule.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from target_helpers import CONTACT_PROPS, read_rejects, record_message, run_target, singer_lines

from vtiger_client.collation import text_key
from vtiger_client.config import ClientConfig
from vtiger_client.session import VtigerClient
from vtiger_sandbox.testing import SandboxServer

LOCALS = ["ann", "bob", "strasse", "straße"]
SPELLINGS = ["as-is", "upper", "trailing-blanks", "leading-tab"]
NETWORKS = ["none", "lost-answers", "slow-creates", "kill"]  # one test each
STREAMS = ["crm_contacts", "web_signups"]
WITH_DESCRIPTION = CONTACT_PROPS
WITHOUT_DESCRIPTION = {k: v for k, v in CONTACT_PROPS.items() if k != "description"}

_examples = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One sandbox for every example: each example writes under its own e-mail domain."""
    with SandboxServer(tmp_path_factory.mktemp("generated") / "g.sqlite") as running:
        yield running


def spelled(email: str, spelling: str) -> str:
    if spelling == "upper":
        return email.upper()
    if spelling == "trailing-blanks":
        return email + "  "
    if spelling == "leading-tab":
        return "\t" + email  # another key for the server: leading blanks count
    return email


step = st.tuples(
    st.sampled_from(STREAMS),
    st.sampled_from(LOCALS),
    st.sampled_from(SPELLINGS),
    st.booleans(),  # a SCHEMA change of this record's stream before it
)


def build_input(steps: list[tuple], domain: str) -> tuple[str, list[dict]]:
    """Singer text and the records in input order (lastname = a unique value per record)."""
    messages: list[dict] = []
    records: list[dict] = []
    described = dict.fromkeys(STREAMS, True)
    for stream in STREAMS:
        messages.append(_schema(stream, described[stream]))
    for n, (stream, local, spelling, change) in enumerate(steps):
        if change:
            described[stream] = not described[stream]
            messages.append(_schema(stream, described[stream]))
        record = {"lastname": f"v{n}", "email": spelled(f"{local}@{domain}", spelling)}
        if described[stream]:
            record["description"] = f"from {stream}"
        records.append(record)
        messages.append(record_message(record, stream))
    return singer_lines(messages), records


def _schema(stream: str, with_description: bool) -> dict:
    props = WITH_DESCRIPTION if with_description else WITHOUT_DESCRIPTION
    return {"type": "SCHEMA", "stream": stream, "key_properties": [],
            "schema": {"type": "object", "properties": props}}


def run_killed(config: dict, text: str, workdir: Path, after_s: float) -> None:
    """target-vtiger as its own process, killed with SIGKILL ``after_s`` into the run."""
    cfg = workdir / "config.json"
    cfg.write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "target-vtiger"), "--config", str(cfg)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(text.encode("utf-8"))
    proc.stdin.close()
    time.sleep(after_s)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def contacts_of(server: SandboxServer, domain: str) -> list[dict]:
    client = VtigerClient(ClientConfig.from_mapping(server.tap_config()))
    return client.query(f"select id, lastname, email from Contacts where email like "
                        f"'%{domain}%' limit 100;")


@pytest.mark.parametrize("network", NETWORKS)
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=2, max_size=8),
       kill_after=st.floats(min_value=0.3, max_value=1.5),
       batch_size=st.sampled_from([1, 2, 100]))
def test_every_record_ends_in_vtiger_once_with_its_last_value_or_is_rejected(
        server, tmp_path_factory, network, steps, kill_after, batch_size) -> None:
    domain = f"g{next(_examples)}.example"
    text, records = build_input(steps, domain)
    workdir = tmp_path_factory.mktemp("run")
    config = {
        **server.tap_config(),
        "rejects_path": str(workdir / "rejects.jsonl"),
        "allow_rejects": True,
        "batch_size_rows": batch_size,
        "module_map": {stream: "Contacts" for stream in STREAMS},
        "match_keys": {"Contacts": ["email"]},
        "request_timeout": 1,
        "backoff_base": 0.05,
    }
    faults = {
        "none": {},
        "lost-answers": {"seed": len(steps), "truncate_rate": 0.5,
                         "operations": ["create", "revise", "update"]},
        "slow-creates": {"hold_create_s": 1.3},
        "kill": {"latency_ms": 150},
    }[network]
    server.configure(faults=faults)
    try:
        if network == "kill":
            run_killed(config, text, workdir, kill_after)
            server.configure(faults={})
        run_target(config, text, expect_error=network != "none")
        if network != "none":  # a run cut short by the network is run again, as a scheduler would
            server.configure(faults={})
            run_target(config, text)
    finally:
        server.configure(faults={})

    last: dict[str, dict] = {}
    for record in records:
        last[text_key(record["email"])] = record
    stored: dict[str, list[dict]] = {}
    for row in contacts_of(server, domain):
        stored.setdefault(text_key(row["email"]), []).append(row)
    rejected = {r["record"]["lastname"]: r for r in read_rejects(config)
                if isinstance(r.get("record"), dict) and "lastname" in r["record"]}

    assert set(stored) <= set(last), f"records of keys never sent: {set(stored) - set(last)}"
    for key, record in last.items():
        copies = stored.get(key, [])
        assert len(copies) <= 1, f"{key!r} is in Vtiger {len(copies)} times: {copies}"
        if copies and copies[0]["lastname"] == record["lastname"]:
            continue
        reject = rejected.get(record["lastname"])
        assert reject is not None, (
            f"{key!r}: Vtiger holds {copies} instead of the last value {record['lastname']!r}, "
            "and the record is not in the rejects file")
        assert reject.get("error_code") and reject.get("message"), reject
    report_figures(network, records, last, stored, rejected)


def report_figures(network: str, records: list[dict], last: dict[str, dict],
                   stored: dict[str, list[dict]], rejected: dict[str, dict]) -> None:
    """One JSON line for ``make reliability`` (file named by ``RELIABILITY_FIGURES``)."""
    path = os.environ.get("RELIABILITY_FIGURES")
    if not path:
        return
    codes: dict[str, int] = {}
    for key, record in last.items():
        if not (stored.get(key) and stored[key][0]["lastname"] == record["lastname"]):
            code = rejected[record["lastname"]]["error_code"]
            codes[code] = codes.get(code, 0) + 1
    line = {"test": f"test_target_generated[{network}]", "records_sent": len(records),
            "keys": len(last), "stored_once": sum(len(v) == 1 for v in stored.values()),
            "rejected_keys": codes}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
