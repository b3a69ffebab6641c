"""target-vtiger as a process: exit codes, one-line fatal errors, crash and re-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from target_helpers import (
    all_contacts,
    contacts_input,
    record_message,
    schema_message,
    singer_lines,
    state_message,
    target_config,
    vtiger,
)

pytest.importorskip("vtiger_client.session", reason="vtiger_client not landed yet")

__all__ = ["target_config", "vtiger"]  # fixtures used by name

EXE = str(Path(sys.executable).with_name("target-vtiger"))


def run_cli(config: dict, text: str, tmp_path: Path, *args: str, timeout: float = 120):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    return subprocess.run(
        [EXE, "--config", str(cfg), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_about_documents_every_setting():
    out = subprocess.run(
        [EXE, "--about", "--format", "json"], capture_output=True, text=True, check=True
    )
    settings = json.loads(out.stdout)["settings"]["properties"]
    for name in (
        "api_url", "username", "access_key", "api_style", "request_timeout", "max_retries",
        "module_map", "write_mode", "match_keys", "hard_delete", "skip_unchanged", "dry_run",
        "rejects_path", "default_owner", "strict_writes", "allow_rejects", "unknown_fields",
        "api_designer_upsert",
    ):  # fmt: skip
        assert settings[name].get("description"), name
    assert settings["access_key"].get("secret") is True


def test_bad_credentials_exit_1_with_one_line_and_no_secret(sandbox, target_config, tmp_path):
    secret = "WrongKey-s3cr3t-value"
    proc = run_cli({**target_config, "access_key": secret}, contacts_input([{"lastname": "X"}]),
                   tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert secret not in proc.stderr + proc.stdout
    stopped = [line for line in proc.stderr.splitlines() if "target-vtiger stopped" in line]
    assert len(stopped) == 1
    assert proc.stdout.strip() == ""  # no STATE: nothing was written


def test_rejected_records_exit_non_zero_unless_allowed(sandbox, target_config, tmp_path):
    text = contacts_input([{"lastname": "Ok"}, {"lastname": "Bad", "leadsource": "Nope"}],
                          state={"n": 2})  # fmt: skip
    proc = run_cli(target_config, text, tmp_path)
    assert proc.returncode == 2
    assert "1 record(s) rejected" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "created=1" in proc.stderr and "rejected=1" in proc.stderr
    # the records were settled, so the STATE was still emitted before the failure
    assert json.loads(proc.stdout.splitlines()[-1]) == {"n": 2}
    allowed = run_cli({**target_config, "allow_rejects": True}, text, tmp_path)
    assert allowed.returncode == 0


@pytest.mark.slow
def test_crash_and_rerun_from_last_state_neither_loses_nor_duplicates(
    sandbox, target_config, vtiger, tmp_path
):
    """Kill -9 the target in the middle of a batch, re-run from the last STATE it emitted."""
    total, every = 300, 50
    records = [{"lastname": f"C{i}", "email": f"c{i}@example.com"} for i in range(total)]

    def stream_from(start: int) -> str:
        msgs = [schema_message()]
        for i in range(start, total):
            msgs.append(record_message(records[i]))
            if (i + 1) % every == 0:
                msgs.append(state_message({"bookmarks": {"Contacts": {"done": i + 1}}}))
        return singer_lines(msgs)

    config = {**target_config, "match_keys": {"Contacts": ["email"]}}
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    sandbox.configure(faults={"latency_ms": 15, "operations": ["create"]})
    out_path = tmp_path / "state.out"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [EXE, "--config", str(cfg)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(stream_from(0))
        proc.stdin.flush()
        deadline = time.time() + 60
        while sandbox.stats().get("create", 0) < 130 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    sandbox.configure(faults={})
    states = [json.loads(line) for line in out_path.read_text().splitlines() if line.strip()]
    assert states, "a STATE should have been emitted after the first settled batch"
    done = states[-1]["bookmarks"]["Contacts"]["done"]
    assert done < total, "the kill should have happened mid-stream"
    created_before = len(all_contacts(vtiger))
    assert created_before >= done  # everything before the STATE is written

    rerun = subprocess.run(
        [EXE, "--config", str(cfg)], input=stream_from(done), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    emails = Counter(r["email"] for r in all_contacts(vtiger))
    assert len(emails) == total
    assert max(emails.values()) == 1


@pytest.mark.slow
def test_lost_create_answers_do_not_create_twice(sandbox, target_config, vtiger):
    """The server writes, then the answer is lost: the target looks before creating again."""
    from target_helpers import run_target

    sandbox.configure(
        faults={"seed": 7, "truncate_rate": 0.3, "drop_rate": 0.1, "operations": ["create"]}
    )
    records = [{"lastname": f"F{i}", "email": f"f{i}@example.com"} for i in range(40)]
    run = run_target(
        {**target_config, "match_keys": {"Contacts": ["email"]}, "max_retries": 8},
        contacts_input(records),
    )
    sandbox.configure(faults={})
    assert run.counts()["created"] == 40
    emails = Counter(r["email"] for r in all_contacts(vtiger))
    assert len(emails) == 40
    assert max(emails.values()) == 1


def test_exhausted_daily_api_limit_stops_with_one_line(sandbox, target_config, tmp_path):
    sandbox.configure(daily_limit=8)
    records = [{"lastname": f"L{i}", "email": f"l{i}@x.com"} for i in range(20)]
    proc = run_cli({**target_config, "match_keys": {"Contacts": ["email"]}},
                   contacts_input(records, state={"n": 20}), tmp_path, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    stopped = [line for line in proc.stderr.splitlines() if "target-vtiger stopped" in line]
    assert len(stopped) == 1
    assert "daily" in stopped[0].lower()
    assert "Summary (run stopped): Contacts: created=" in proc.stderr  # what got done before
    assert proc.stdout.strip() == ""  # the batch was not settled: no STATE


def test_an_impossible_setting_stops_before_reading_input(tmp_path):
    config = {"api_url": "http://crm.example.com", "username": "u", "access_key": "k-secret"}
    proc = run_cli(config, "", tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "api_url" in proc.stderr and "k-secret" not in proc.stderr
