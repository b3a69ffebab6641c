"""tap-vtiger killed (SIGKILL) in the middle of a deletion check, then run again from the last
STATE it emitted (what Meltano does after a crash), while records are created and deleted
meanwhile: no live record is ever reported deleted, and every deleted one is reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from faults_helpers import clean_env, parse_lines, tap_command, write_json
from tap_helpers import client_for, config, discover, run_tap, select

from tap_vtiger.deletions import STATE_KEY


def kill_mid_check(cmd: list[str], cwd) -> list[dict]:
    """Run the tap; SIGKILL it right after the first STATE of a check under way."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=clean_env(), cwd=cwd, start_new_session=True)
    assert proc.stdout is not None
    read: list[str] = []
    for line in proc.stdout:
        read.append(line)
        if '"type":"STATE"' in line and '"check_after"' in line:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.stdout.close()
    assert proc.wait() == -signal.SIGKILL, "the tap finished before it could be killed"
    return parse_lines(read)


def deleted(messages: list[dict]) -> list[str]:
    return [m["record"]["id"] for m in messages
            if m["type"] == "RECORD" and m["record"].get("_sdc_deleted_at")]


@pytest.mark.slow
def test_a_check_killed_midway_reports_no_live_record_and_the_rerun_finishes_it(
    sandbox, tmp_path
):
    ids = sandbox.bulk_create("Contacts", 600)
    sandbox.configure(crash_operations=["sync"])  # stock 8.2: query only
    cfg = config(sandbox, modules=["Contacts"], deletion_check_hours=0, backoff_max=0.05)
    catalog = select(discover(cfg), {"Contacts"})
    time.sleep(1.1)  # past the second the records were created in (query leaves it)
    first = run_tap(cfg, catalog=catalog)
    assert sorted(first.ids("Contacts")) == sorted(ids)
    vt = client_for(sandbox)
    early = [ids[3], ids[50]]
    late = [ids[450], ids[590]]
    for rid in early + late:
        vt.delete(rid)
    sandbox.configure(faults={"latency_ms": 250, "operations": ["query"]})
    cmd = tap_command(write_json(tmp_path / "config.json", cfg),
                      write_json(tmp_path / "catalog.json", catalog),
                      write_json(tmp_path / "state.json", first.state()))
    killed = kill_mid_check(cmd, tmp_path)
    state = next(m["value"] for m in reversed(killed) if m["type"] == "STATE")
    assert state["bookmarks"]["Contacts"][STATE_KEY]["check_after"] > 0
    reported = deleted(killed)
    assert set(reported) <= set(early)  # only what the pages read so far could show

    sandbox.configure(faults={})
    created = vt.create("Contacts", {"lastname": "Meanwhile", "assigned_user_id": "19x1"})["id"]
    vt.delete(ids[300])  # ahead of the cursor: found by the resumed check
    vt.delete(ids[1])  # behind it: found by the next full check
    resumed = run_tap(cfg, catalog=catalog, state=state)
    final = run_tap(cfg, catalog=catalog, state=resumed.state())

    live = {r["id"] for r in vt.query_all("Contacts", ["id"])}
    everything = reported + deleted(resumed.messages) + deleted(final.messages)
    assert not set(everything) & live, "a live record was reported deleted"
    assert set(everything) == set(early + late + [ids[300], ids[1]])
    assert created in live
    box = final.state()["bookmarks"]["Contacts"][STATE_KEY]
    assert "check_after" not in box
    json.dumps(final.state())  # plain JSON
