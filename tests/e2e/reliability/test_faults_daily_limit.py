"""The daily API limit running out in the middle of a run (Vtiger Cloud: 24,000-120,000 calls a
day), with and without ``api_budget_percent``.

What a Meltano user gets - decided here, and documented by these tests:
- tap-vtiger stops cleanly: exit code 0, ONE warning line naming the daily limit, every page
  read so far delivered and its STATE written. The next run (the quota renewed) resumes from
  that state; both runs together hold every record.
- target-vtiger stops with exit code 1 and one line naming the daily limit (the records it could
  not write are not done, so the run must not look successful). Its last STATE covers only
  records written; nothing is rejected for it; the re-run from that state writes the rest,
  without duplicates.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
from faults_helpers import (
    BIN,
    FAST_RETRIES,
    assert_equal_to_truth,
    assert_resumed_from,
    client_for,
    parse_lines,
    run_process,
    schemas,
    server_truth,
    tap_command,
    upsert,
    write_json,
)
from tap_helpers import config, discover, select
from target_helpers import all_contacts, record_message, schema_message, singer_lines

#: calls the first run may spend: a handful of the ~45 pages of the demo CRM
ALLOWED = 20
LIMITS = {
    # the server's quota itself runs out: 429 with Retry-After until midnight UTC
    "daily_limit": ({"daily_limit": ALLOWED}, {}),
    # this run's share of the quota (2% of 1,000) is spent first
    "api_budget_percent": ({"daily_limit": 1000}, {"api_budget_percent": ALLOWED / 10}),
}


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| WARNING" in line or "| ERROR" in line]


def check_state_is_resumable(state: dict, messages: list[dict]) -> None:
    """Valid JSON; each bookmark an RFC 3339 time no later than the records delivered."""
    json.loads(json.dumps(state))
    delivered: dict[str, list[str]] = {}
    for m in messages:
        if m["type"] == "RECORD" and "modifiedtime" in m["record"]:
            delivered.setdefault(m["stream"], []).append(m["record"]["modifiedtime"])
    for stream, bookmark in state["bookmarks"].items():
        mark = bookmark.get("replication_key_value")
        if mark:
            dt.datetime.fromisoformat(mark)
            assert delivered.get(stream) and mark <= max(delivered[stream]), stream


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_tap_stops_cleanly_at_the_daily_limit_and_the_next_run_resumes(
    demo_crm, figures, tmp_path, limit
):
    server_settings, tap_settings = LIMITS[limit]
    cfg = config(demo_crm, **FAST_RETRIES, **tap_settings)
    catalog = discover(cfg)
    catalog = select(catalog, {e["tap_stream_id"] for e in catalog["streams"]})
    cfg_path = write_json(tmp_path / "config.json", cfg)
    catalog_path = write_json(tmp_path / "catalog.json", catalog)
    demo_crm.configure(**server_settings)
    demo_crm.reset_stats()

    run = run_process(tap_command(cfg_path, catalog_path), cwd=tmp_path)
    figures.runs += 1
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    [warning] = warnings(run.stderr)
    assert "daily" in warning and "state saved" in warning, warning
    assert demo_crm.total_calls() <= ALLOWED + 1  # + the one call answered 429
    first = parse_lines(run.stdout.splitlines())
    records = sum(m["type"] == "RECORD" for m in first)
    assert 0 < records < 4000, "the limit should stop the run midway"
    state = [m["value"] for m in first if m["type"] == "STATE"][-1]
    check_state_is_resumable(state, first)
    figures.add_server(demo_crm)

    # the next day: the quota is back (and so is this run's share of it)
    demo_crm.configure(daily_limit=100_000)
    rerun = run_process(tap_command(cfg_path, catalog_path,
                                    write_json(tmp_path / "state.json", state)), cwd=tmp_path)
    figures.runs += 1
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert warnings(rerun.stderr) == []
    second = parse_lines(rerun.stdout.splitlines())
    assert_resumed_from(state, second)
    truth = server_truth(demo_crm, schemas(first + second))
    figures.records_compared += assert_equal_to_truth(upsert(first, second), truth)
    figures.notes["records_before_the_stop"] = records
    figures.add_server(demo_crm)


def test_tap_stops_cleanly_when_the_limit_runs_out_in_a_metadata_stream(demo_crm, tmp_path):
    """Not only module streams: picklist_values (one describe per module) reaching the limit
    stopped the run with exit code 1 and an SDK error before the fix."""
    # no discovery cache: picklist_values must describe (with a fresh cache it costs nothing)
    cfg = config(demo_crm, **FAST_RETRIES, include_metadata_streams=True,
                 discovery_cache="off")
    from tap_vtiger.tap import TapVtiger

    catalog = select(TapVtiger(config=cfg, parse_env_config=False).catalog_dict,
                     {"Contacts", "picklist_values"})
    cfg_path = write_json(tmp_path / "config.json", cfg)
    catalog_path = write_json(tmp_path / "catalog.json", catalog)
    demo_crm.configure(daily_limit=19)  # Contacts: 19 sync pages; then picklist_values: describe
    run = run_process(tap_command(cfg_path, catalog_path), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    [warning] = warnings(run.stderr)
    assert "daily" in warning and "state saved" in warning, warning
    first = parse_lines(run.stdout.splitlines())
    assert {m["stream"] for m in first if m["type"] == "RECORD"} == {"Contacts"}

    demo_crm.configure(daily_limit=100_000)
    state = [m["value"] for m in first if m["type"] == "STATE"][-1]
    rerun = run_process(tap_command(cfg_path, catalog_path,
                                    write_json(tmp_path / "state.json", state)), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    second = parse_lines(rerun.stdout.splitlines())
    assert any(m["type"] == "RECORD" and m["stream"] == "picklist_values" for m in second)


# ------------------------------------------------------------------ target

TOTAL, STATE_EVERY = 120, 10


def wanted(i: int) -> dict:
    return {"lastname": f"Quota{i}", "email": f"q{i}@limit.example", "description": f"v {i}"}


def tap_output(start: int) -> str:
    msgs = [schema_message()]
    for i in range(start, TOTAL):
        msgs.append(record_message(wanted(i)))
        if (i + 1) % STATE_EVERY == 0:
            msgs.append({"type": "STATE", "value": {"bookmarks": {"Contacts": {"done": i + 1}}}})
    return singer_lines(msgs)


TARGET_LIMITS = {
    "daily_limit": ({"daily_limit": 60}, {}),
    "api_budget_percent": ({"daily_limit": 1000}, {"api_budget_percent": 6}),
}


@pytest.mark.parametrize("limit", sorted(TARGET_LIMITS))
def test_target_stops_at_the_daily_limit_without_losing_records_and_the_rerun_completes(
    sandbox, figures, tmp_path, limit
):
    server_settings, target_settings = TARGET_LIMITS[limit]
    rejects = tmp_path / "rejects.jsonl"
    cfg = {**sandbox.tap_config(), **FAST_RETRIES, **target_settings,
           "match_keys": {"Contacts": ["email"]}, "batch_size_rows": 20,
           "rejects_path": str(rejects)}
    exe = [str(BIN / "target-vtiger"), "--config", str(write_json(tmp_path / "cfg.json", cfg))]
    for i in range(0, TOTAL, 3):  # a third exist already, with other values
        client_for(sandbox).create("Contacts", {**wanted(i), "description": "stale",
                                                "assigned_user_id": "19x1"})
    sandbox.configure(**server_settings)
    sandbox.reset_stats()

    run = run_process(exe, stdin=tap_output(0))
    figures.runs += 1
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    [error] = warnings(run.stderr)
    assert "target-vtiger stopped" in error and "daily" in error, error
    assert sandbox.total_calls() <= 60 + 1  # stopped at the limit, not retrying past it
    states = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    done = states[-1]["bookmarks"]["Contacts"]["done"] if states else 0
    assert 0 < done < TOTAL
    # read through webservice.php: it has no rate limits, the REST quota is gone
    rows = {r["email"]: r for r in all_contacts(client_for(sandbox, api_style="webservice"))}
    assert all(rows[wanted(i)["email"]]["description"] == wanted(i)["description"]
               for i in range(done))  # STATE covers only what is written
    assert not rejects.exists() or not rejects.read_text().strip()  # nothing given up on
    figures.add_server(sandbox)

    sandbox.configure(daily_limit=100_000)
    rerun = run_process(exe, stdin=tap_output(done))  # Meltano: from the target's last STATE
    figures.runs += 1
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    contacts = all_contacts(client_for(sandbox))
    per_email = Counter(r["email"] for r in contacts)
    assert per_email == Counter({wanted(i)["email"]: 1 for i in range(TOTAL)})
    by_email = {r["email"]: r for r in contacts}
    assert all({k: by_email[wanted(i)["email"]][k] for k in wanted(i)} == wanted(i)
               for i in range(TOTAL))
    figures.records_compared += TOTAL
    figures.notes["state_done_at_stop"] = done
    figures.add_server(sandbox)
