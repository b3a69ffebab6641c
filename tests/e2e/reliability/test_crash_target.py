"""target-vtiger killed (SIGKILL) in the middle of a batch, then run again the way Meltano
re-runs a pipeline: the tap starts from the last STATE the *target* emitted, so the target gets
the records after that STATE again (or, with no state, the whole input). Either way Vtiger ends
with every record once, with the values sent: no duplicate, nothing missing.

The input plays the tap: 240 Contacts (a quarter of them exist already and are updated, the
rest are created), a STATE every 20 records; the target writes batches of 50. Writes are slowed
(10 ms each) so a kill lands inside a batch; the kill point is the number of write calls the
server had served, drawn with a fixed seed.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
from collections import Counter

import pytest
from faults_helpers import BIN, FAST_RETRIES, clean_env, client_for, wait_until, write_json
from target_helpers import all_contacts, record_message, schema_message, singer_lines

SEED = 6
TOTAL, STATE_EVERY, BATCH = 240, 20, 50
EXISTING = range(0, TOTAL, 4)
#: Kill points (write calls served): inside a batch, never on a batch boundary.
KILL_POINTS = [n for n in random.Random(SEED).sample(range(10, TOTAL - 20), 12)
               if n % BATCH][:2]


def wanted(i: int) -> dict:
    return {"lastname": f"Crash{i}", "email": f"k{i}@crash.example",
            "description": f"from the warehouse {i}"}


def tap_output(start: int) -> str:
    """What the (re-run) tap sends from bookmark ``start``: records ``start..``, a STATE after
    every 20 of them.
    """
    msgs = [schema_message()]
    for i in range(start, TOTAL):
        msgs.append(record_message(wanted(i)))
        if (i + 1) % STATE_EVERY == 0:
            msgs.append({"type": "STATE", "value": {"bookmarks": {"Contacts": {"done": i + 1}}}})
    return singer_lines(msgs)


def writes(server) -> int:
    stats = server.stats()
    return stats.get("create", 0) + stats.get("revise", 0)


def vtiger_by_email(server) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in all_contacts(client_for(server)):
        out.setdefault(row["email"], []).append(row)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("rerun_from", ["last_state", "whole_input"])
@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_target_killed_mid_batch_and_rerun_writes_each_record_once(
    sandbox, figures, tmp_path, kill_at, rerun_from
):
    crm = client_for(sandbox)
    for i in EXISTING:
        crm.create("Contacts", {**wanted(i), "description": "stale", "assigned_user_id": "19x1"})
    cfg = {**sandbox.tap_config(), **FAST_RETRIES, "match_keys": {"Contacts": ["email"]},
           "batch_size_rows": BATCH, "rejects_path": str(tmp_path / "rejects.jsonl")}
    cfg_path = write_json(tmp_path / "config.json", cfg)
    exe = [str(BIN / "target-vtiger"), "--config", str(cfg_path)]

    sandbox.configure(faults={"latency_ms": 10, "operations": ["create", "revise"]})
    sandbox.reset_stats()
    with (tmp_path / "state.out").open("w") as out:
        proc = subprocess.Popen(exe, stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.DEVNULL, text=True, env=clean_env(),
                                start_new_session=True)
        assert proc.stdin is not None
        proc.stdin.write(tap_output(0))
        proc.stdin.close()  # the whole input is there (~30 KB, within the pipe's buffer)
        wait_until(lambda: writes(sandbox) >= kill_at or proc.poll() is not None,
                   what=f"{kill_at} writes")
        proc.kill()  # SIGKILL
        code = proc.wait()
    sandbox.configure(faults={})
    figures.runs += 1
    figures.kill_points.append(kill_at)
    assert code == -signal.SIGKILL

    states = [json.loads(line) for line in (tmp_path / "state.out").read_text().splitlines()]
    done = states[-1]["bookmarks"]["Contacts"]["done"] if states else 0
    assert done <= kill_at  # STATE never runs ahead of the writes
    stored = vtiger_by_email(sandbox)
    # everything before the last STATE is written; the crash left later records unwritten
    assert all(stored[wanted(i)["email"]][0]["description"] == wanted(i)["description"]
               for i in range(done))
    unfinished = [i for i in range(TOTAL)
                  if [r["description"] for r in stored.get(wanted(i)["email"], [])]
                  != [wanted(i)["description"]]]
    assert unfinished, "the kill came after the last write: nothing to prove"

    start = done if rerun_from == "last_state" else 0
    rerun = subprocess.run(exe, input=tap_output(start), capture_output=True, text=True,
                           timeout=300, env=clean_env(), check=False)
    figures.runs += 1
    assert rerun.returncode == 0, rerun.stderr[-2000:]

    stored = vtiger_by_email(sandbox)
    per_email = Counter({email: len(rows) for email, rows in stored.items()})
    assert per_email == Counter({wanted(i)["email"]: 1 for i in range(TOTAL)})
    for i in range(TOTAL):
        row = stored[wanted(i)["email"]][0]
        assert {k: row[k] for k in wanted(i)} == wanted(i)
    figures.records_compared += TOTAL
    figures.add_server(sandbox)
    figures.notes.setdefault("unfinished_at_kill", []).append(len(unfinished))
    figures.notes.setdefault("state_done_at_kill", []).append(done)
    assert not (tmp_path / "rejects.jsonl").exists() or not (
        tmp_path / "rejects.jsonl").read_text().strip()
