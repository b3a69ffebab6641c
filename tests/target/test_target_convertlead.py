"""convertlead as a write mode: each Leads record becomes Account/Contact/Potential as configured,
with one result per record, and re-runs never convert twice."""

from __future__ import annotations

import pytest
from singer_helpers import counts, create, read_jsonl, record_msg, run_target, schema_msg, vt

__all__ = ["vt"]

STREAM = "leads_to_convert"
PROPS = {"id": {"type": ["string", "null"]},
         "Potentials": {"type": ["object", "null"]},
         "_sdc_deleted_at": {"type": ["string", "null"]}}


@pytest.fixture
def config(sandbox, tmp_path) -> dict:
    return {
        **sandbox.tap_config(),
        "rejects_path": str(tmp_path / "rejects.jsonl"),
        "convertlead_results_path": str(tmp_path / "converted.jsonl"),
        "convertlead_streams": {STREAM: {"entities": {
            "Accounts": {}, "Contacts": {},
            "Potentials": {"closingdate": "2026-12-31", "sales_stage": "Prospecting"}}}},
    }


def leads_input(records: list[dict]) -> list[dict]:
    return [schema_msg(STREAM, PROPS, ["id"]), *(record_msg(STREAM, r) for r in records)]


def new_lead(vt, name: str) -> str:
    return create(vt, "Leads", lastname=name, company=f"{name} Co",
                  email=f"{name.lower()}@example.com")["id"]


def test_each_lead_is_converted_and_reported_with_the_ids_created(sandbox, config, vt):
    leads = [new_lead(vt, "Ada"), new_lead(vt, "Bob")]
    sandbox.reset_stats()
    run = run_target(config, leads_input([{"id": leads[0], "Potentials": {"amount": 5000.5}},
                                          {"id": leads[1]}]))
    assert counts(run, STREAM)["created"] == 2
    assert sandbox.stats().get("convertlead") == 2
    results = read_jsonl(config["convertlead_results_path"])
    assert [(r["lead_id"], r["status"]) for r in results] == [
        (leads[0], "converted"), (leads[1], "converted")]
    contact = vt.retrieve(results[0]["Contacts"])
    assert contact["account_id"] == results[0]["Accounts"]
    assert contact["email"] == "ada@example.com"
    deal = vt.retrieve(results[0]["Potentials"])
    assert deal["closingdate"] == "2026-12-31"
    assert float(deal["amount"]) == 5000.5


def test_a_rerun_reports_already_converted_and_creates_nothing(sandbox, config, vt):
    lead = new_lead(vt, "Ada")
    run_target(config, leads_input([{"id": lead}]))
    contacts_before = vt.query("select count(*) from Contacts;")[0]["count"]
    run = run_target(config, leads_input([{"id": lead}]))
    assert counts(run, STREAM)["unchanged"] == 1
    assert counts(run, STREAM)["rejected"] == 0
    assert vt.query("select count(*) from Contacts;")[0]["count"] == contacts_before
    assert read_jsonl(config["convertlead_results_path"])[-1]["status"] == "already_converted"


def test_a_deleted_lead_is_rejected_and_the_next_one_converted(sandbox, config, vt):
    gone, ok = new_lead(vt, "Gone"), new_lead(vt, "Ok")
    vt.delete(gone)
    run = run_target(config, leads_input([{"id": gone}, {"id": ok}]), expect_error=True)
    assert counts(run, STREAM)["rejected"] == 1
    assert counts(run, STREAM)["created"] == 1
    rejects = read_jsonl(config["rejects_path"])
    assert rejects[0]["record"]["id"] == gone
    assert rejects[0]["error_code"] == "ACCESS_DENIED"
    statuses = {r["lead_id"]: r["status"] for r in read_jsonl(config["convertlead_results_path"])}
    assert statuses == {gone: "rejected", ok: "converted"}


def test_an_entity_convertlead_cannot_create_stops_the_run_before_any_call(sandbox, config):
    config["convertlead_streams"][STREAM]["entities"] = {"HelpDesk": {}}
    sandbox.reset_stats()
    run = run_target(config, leads_input([{"id": "10x1"}]), expect_error=True)
    assert "HelpDesk" in str(run.error)
    assert sandbox.total_calls() == 0
