"""tap-vtiger killed (SIGKILL) at a random point of an extraction, then run again from the last
STATE it emitted - what Meltano does after a crash. Nothing may be lost: both outputs loaded in
order into a table keyed by id (upsert, deletions applied) equal the server.

The kill points are the number of RECORD/STATE lines the consumer had read from the tap's
stdout when it killed it, drawn with a fixed seed (same points on every run of the suite).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess

import pytest
from faults_helpers import (
    FAST_RETRIES,
    assert_equal_to_truth,
    assert_resumed_from,
    clean_env,
    faults_on,
    parse_lines,
    run_process,
    schemas,
    server_truth,
    tap_command,
    upsert,
    write_json,
)
from tap_helpers import config, discover, select

SEED = 20261122
#: The demo CRM yields ~4,100 RECORD lines; stop well before the end so the tap is still
#: running (blocked on the pipe) when it is killed.
KILL_POINTS = sorted(random.Random(SEED).sample(range(1, 3800), 3))


def read_then_kill(cmd: list[str], lines_to_read: int, cwd) -> tuple[list[str], int]:
    """Start the tap, read ``lines_to_read`` RECORD/STATE lines from its stdout, SIGKILL it.
    Lines it wrote but nobody read are lost with it, as in a real crash of the pipeline.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=clean_env(), cwd=cwd, start_new_session=True)
    assert proc.stdout is not None
    read: list[str] = []
    counted = 0
    for line in proc.stdout:
        read.append(line)
        if '"type":"RECORD"' in line or '"type":"STATE"' in line:
            counted += 1
            if counted >= lines_to_read:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.stdout.close()
    return read, proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize(("kill_after", "flaky"),
                         [(n, False) for n in KILL_POINTS] + [(KILL_POINTS[1], True)],
                         ids=[str(n) for n in KILL_POINTS] + [f"{KILL_POINTS[1]}-under-faults"])
def test_tap_killed_mid_run_resumes_from_its_last_state_and_loses_nothing(
    demo_crm, figures, tmp_path, kill_after, flaky
):
    stack = contextlib.ExitStack()  # this test's sandbox: left as is if the test fails
    if flaky:  # both runs on a flaky network too (turned off before the truth is read)
        stack.enter_context(faults_on(demo_crm, figures))
    cfg = config(demo_crm, **FAST_RETRIES)
    catalog = discover(cfg)
    catalog = select(catalog, {e["tap_stream_id"] for e in catalog["streams"]})
    cfg_path = write_json(tmp_path / "config.json", cfg)
    catalog_path = write_json(tmp_path / "catalog.json", catalog)

    lines, code = read_then_kill(tap_command(cfg_path, catalog_path), kill_after, tmp_path)
    figures.runs += 1
    figures.kill_points.append(kill_after)
    assert code == -signal.SIGKILL, "the tap had already finished: not a mid-run kill"
    first = parse_lines(lines)
    states = [m["value"] for m in first if m["type"] == "STATE"]
    assert states, "the tap emits STATE after every page"  # the seed puts every kill past one
    resume = states[-1]

    state_path = write_json(tmp_path / "state.json", resume)
    rerun = run_process(tap_command(cfg_path, catalog_path, state_path), cwd=tmp_path)
    figures.runs += 1
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    second = parse_lines(rerun.stdout.splitlines())

    assert_resumed_from(resume, second)
    stack.close()
    truth = server_truth(demo_crm, schemas(first + second))
    figures.records_compared += assert_equal_to_truth(upsert(first, second), truth)
    figures.notes.setdefault("records_in_killed_run", []).append(
        sum(m["type"] == "RECORD" for m in first))
    figures.add_server(demo_crm)
