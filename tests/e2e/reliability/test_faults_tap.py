"""tap-vtiger under a flaky network (issue 6, "Faults"): 10% of calls answered 500/502/503,
5% dropped connections, HTML error pages, truncated JSON and bursts of 429 with Retry-After.
A full and an incremental extraction of the demo CRM must still deliver exactly what the server
holds: the same ids and the same field values, each live record once per run.
"""

from __future__ import annotations

import pytest
from faults_helpers import (
    FAST_RETRIES,
    assert_equal_to_truth,
    assert_resumed_from,
    client_for,
    faults_on,
    live_ids_once,
    schemas,
    server_deleted_ids,
    server_truth,
    upsert,
)
from tap_helpers import config, run_tap

FAULT_KINDS = {"error", "drop", "html", "truncate", "429"}


def deleted_markers(messages: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in messages:
        if m["type"] == "RECORD" and m["record"].get("_sdc_deleted_at"):
            out.setdefault(m["stream"], set()).add(m["record"]["id"])
    return out


def assert_deletions_match_the_server(server, messages: list[dict]) -> int:
    """Deletion markers of a full run = the ids the server reports deleted, per module."""
    markers = deleted_markers(messages)
    checked = 0
    for stream, schema in schemas(messages).items():
        if "_sdc_deleted_at" not in schema.get("properties", {}):
            continue
        expected = server_deleted_ids(server, stream)
        assert markers.get(stream, set()) == expected, stream
        checked += len(expected)
    return checked


@pytest.mark.slow
@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_full_extraction_under_faults_delivers_exactly_the_server_records(
    demo_crm, figures, api_style
):
    cfg = config(demo_crm, api_style=api_style, **FAST_RETRIES)
    with faults_on(demo_crm, figures):
        run = run_tap(cfg)  # discovery (listtypes + 35 describes) runs under faults too
    figures.runs += 1

    assert set(figures.faults) >= FAULT_KINDS, figures.faults  # every kind really happened
    assert not live_ids_once(run.messages), "a record was delivered twice in one run"
    truth = server_truth(demo_crm, schemas(run.messages))
    assert sum(map(len, truth.values())) > 4000  # the whole demo CRM, not an empty read
    figures.records_compared += assert_equal_to_truth(upsert(run.messages), truth)
    figures.notes["deletions_compared"] = assert_deletions_match_the_server(
        demo_crm, run.messages)


@pytest.mark.slow
def test_incremental_extraction_under_faults_delivers_every_change(demo_crm, figures):
    cfg = config(demo_crm, **FAST_RETRIES)
    first = run_tap(cfg)  # the full run, without faults (the previous test covers that)
    figures.runs += 1

    # Changes since: edits in three modules, deletions, new records.
    crm = client_for(demo_crm)
    revised: dict[str, set[str]] = {}
    for module, n in (("Contacts", 120), ("Accounts", 25), ("HelpDesk", 10)):
        rows = crm.query(f"select id from {module} order by id limit 200, {n};")
        for row in rows:
            crm.revise({"id": row["id"], "description": f"edited {row['id']}"})
        revised[module] = {r["id"] for r in rows}
    deleted = {r["id"] for r in crm.query("select id from Leads order by id limit 300, 15;")}
    for rid in deleted:
        crm.delete(rid)
    created = set(demo_crm.bulk_create("Contacts", 130))

    with faults_on(demo_crm, figures):
        # discovery again too (no cache): its calls meet the faults as well
        second = run_tap({**cfg, "discovery_cache": "off"}, state=first.state())
    figures.runs += 1

    assert set(figures.faults) >= FAULT_KINDS, figures.faults
    assert not live_ids_once(second.messages)
    got = upsert(second.messages)
    for module, ids in revised.items():
        emitted = got.get(module, {})  # a module with no change emits nothing at all
        assert ids <= set(emitted), module
        assert all(emitted[i]["description"] == f"edited {i}" for i in ids)
    assert created <= set(got["Contacts"])
    assert deleted <= deleted_markers(second.messages)["Leads"]
    # incremental: besides the changes, only the bookmark second of each module is re-read
    assert_resumed_from(first.state(), second.messages,
                        changed=created.union(*revised.values(), deleted))

    # both runs loaded in order (upsert on id, deletions applied) = the server now
    truth = server_truth(demo_crm, schemas(first.messages))
    figures.records_compared += assert_equal_to_truth(upsert(first.messages, second.messages),
                                                      truth)
