"""target-vtiger's API Designer webhook mode under a flaky network (issues 6 and 7): a webhook
request whose answer is lost may have been carried out, so it is never sent again blindly.

* A ``<create>`` webhook (``leads_in``, one record per request): records whose answer was lost
  (truncated JSON: the lead *was* created; 500/502, dropped connections, HTML pages: maybe) are
  kept as ``WEBHOOK_UNCONFIRMED`` rejects, never created twice; 429 and 503 (refused before any
  work) are retried.
* An ``<upsert>`` webhook (``contacts_upsert``, bulk) declared ``webhook_idempotent``: the same
  requests are simply re-sent, and every record lands exactly once.

The sandbox injects faults on ``/restapi/vtap/webhook`` only when the faults setting names
``vtap_webhook``, so these tests ask for it.
"""

from __future__ import annotations

from collections import Counter

import pytest
from faults_helpers import FAST_RETRIES, client_for, faults_on
from target_helpers import (
    all_contacts,
    all_records,
    read_rejects,
    record_message,
    run_target,
    schema_message,
    singer_lines,
)

LEAD_PROPS = {name: {"type": ["string", "null"]} for name in ("lastname", "company", "email")}
CONTACT_PROPS = {name: {"type": ["string", "null"]}
                 for name in ("firstname", "lastname", "email", "phone")}


def leads(n: int) -> list[dict]:
    return [{"lastname": f"Hooked{i}", "company": "Webhook Co", "email": f"h{i}@hook.example"}
            for i in range(n)]


@pytest.mark.slow
def test_a_create_webhook_whose_answer_is_lost_keeps_the_record_and_never_sends_it_twice(
        sandbox, figures, tmp_path):
    records = leads(150)
    cfg = {**sandbox.tap_config(), **FAST_RETRIES, "allow_rejects": True,
           "rejects_path": str(tmp_path / "rejects.jsonl"),
           "webhook_url": "leads_in", "webhook_token": "demo-query-token",
           "webhook_token_placement": "query"}
    text = singer_lines([schema_message("Leads", LEAD_PROPS),
                         *(record_message(r, "Leads") for r in records)])
    before = {r["email"] for r in all_records(client_for(sandbox), "Leads")}
    with faults_on(sandbox, figures, seed=11, truncate_rate=0.08,
                   burst_429={"every": 30, "length": 1, "retry_after": 1},
                   operations=["vtap_webhook"]):
        run = run_target(cfg, text)
        requests = sandbox.stats()["vtap_webhook"]
    figures.runs += 1
    assert {"truncate", "error", "429"} <= set(figures.faults), figures.faults

    rejects = read_rejects(cfg)
    counts = run.counts("Leads")
    assert counts["created"] + counts["rejected"] == len(records)
    assert {r["error_code"] for r in rejects} == {"WEBHOOK_UNCONFIRMED"}
    assert all("webhook_idempotent" in r["message"] for r in rejects)
    assert not any("demo-query-token" in r["message"] for r in rejects)
    # every truncated answer (the lead was written) made a reject, not a second request
    assert counts["rejected"] >= figures.faults["truncate"]
    # one request per record, plus only the retries of what was refused before any work
    assert len(records) < requests <= len(records) + figures.faults["429"] + figures.faults[
        "error"]

    per_email = Counter(r["email"] for r in all_records(client_for(sandbox), "Leads")
                        if r["email"] not in before)
    assert max(per_email.values()) == 1, "a lead was created twice"
    kept = {r["record"]["email"] for r in rejects}
    assert {r["email"] for r in records} == set(per_email) | kept  # nothing lost
    figures.records_compared += len(records)
    figures.notes["webhook_unconfirmed_kept"] = counts["rejected"]


@pytest.mark.slow
def test_an_idempotent_upsert_webhook_resends_lost_requests_and_writes_each_record_once(
        sandbox, figures, tmp_path):
    records = [{"firstname": "W", "lastname": f"Upserted{i}", "email": f"u{i}@hook.example",
                "phone": f"+1 555 {i:04d}"} for i in range(300)]
    cfg = {**sandbox.tap_config(), **FAST_RETRIES,
           "rejects_path": str(tmp_path / "rejects.jsonl"),
           "webhook_url": "contacts_upsert", "webhook_token": "demo-webhook-token",
           "webhook_batch_size": 10, "webhook_idempotent": True}
    text = singer_lines([schema_message("Contacts", CONTACT_PROPS),
                         *(record_message(r) for r in records)])
    with faults_on(sandbox, figures, seed=5, truncate_rate=0.2, error_rate=0.15,
                   operations=["vtap_webhook"]):
        run = run_target(cfg, text)
    figures.runs += 1
    assert figures.faults["truncate"] >= 1 and figures.faults["error"] >= 1, figures.faults

    counts = run.counts()
    assert counts["rejected"] == 0 and read_rejects(cfg) == []
    assert counts["created"] + counts["updated"] == len(records)
    rows = [r for r in all_contacts(client_for(sandbox)) if r["email"].endswith("@hook.example")]
    per_email = Counter(r["email"] for r in rows)
    assert max(per_email.values()) == 1, "an upsert webhook duplicated a contact"
    by_email = {r["email"]: r for r in rows}
    for record in records:
        assert {k: by_email[record["email"]][k] for k in record} == record
    figures.records_compared += len(records)
