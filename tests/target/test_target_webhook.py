"""target-vtiger's webhook mode, against the sandbox's API Designer demo definitions
(vtiger_sandbox/apidesigner_demo.xml) over HTTP: token in header or query, bulk up to 50,
the token never logged."""

from __future__ import annotations

import datetime as dt
import logging
import math
from decimal import Decimal

import pytest
from singer_helpers import (
    contacts_in_sandbox,
    counts,
    read_jsonl,
    record_msg,
    run_target,
    schema_msg,
    strings,
    vt,
)

from target_vtiger.sinks.webhook import check_webhook_settings, webhook_path, wire_body

__all__ = ["vt"]
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))

UPSERT_TOKEN = "demo-webhook-token"
QUERY_TOKEN = "demo-query-token"


# ---------------------------------------------------------------------------- webhook mode

CONTACT_PROPS = strings("firstname", "lastname", "email", "phone", "_sdc_deleted_at")


def contacts_msgs(records: list[dict], stream: str = "Contacts") -> list[dict]:
    return [schema_msg(stream, CONTACT_PROPS), *(record_msg(stream, r) for r in records)]


def people(n: int, start: int = 0) -> list[dict]:
    return [{"firstname": "P", "lastname": f"Person{i:03d}", "email": f"p{i}@example.com"}
            for i in range(start, start + n)]


@pytest.fixture
def hook_config(sandbox, tmp_path) -> dict:
    return {**sandbox.tap_config(), "rejects_path": str(tmp_path / "rejects.jsonl"),
            "webhook_url": "contacts_upsert", "webhook_token": UPSERT_TOKEN,
            "webhook_batch_size": 50}


class TestWebhookMode:
    def test_records_go_in_bulk_requests_of_50(self, sandbox, hook_config, vt):
        sandbox.reset_stats()
        run = run_target(hook_config, contacts_msgs(people(120)))
        assert counts(run, "Contacts")["created"] == 120
        stats = sandbox.stats()
        assert stats.get("vtap_webhook") == 3
        assert stats.get("create", 0) == 0  # nothing went through the core API
        assert len(contacts_in_sandbox(vt)) == 120

    def test_a_rerun_updates_instead_of_duplicating(self, sandbox, hook_config, vt):
        run_target(hook_config, contacts_msgs(people(60)))
        run = run_target(hook_config, contacts_msgs(people(60)))
        assert counts(run, "Contacts")["updated"] == 60
        assert len(contacts_in_sandbox(vt)) == 60

    def test_the_full_webhook_url_works_too(self, sandbox, hook_config, vt):
        hook_config["webhook_url"] = f"{sandbox.url}/restapi/vtap/webhook/contacts_upsert"
        run = run_target(hook_config, contacts_msgs(people(2)))
        assert counts(run, "Contacts")["created"] == 2

    def test_one_bad_record_is_rejected_and_the_rest_of_the_request_written(
        self, sandbox, hook_config, vt
    ):
        records = people(5)
        records[2] = {"firstname": "NoLastName", "email": "nolast@example.com"}
        sandbox.reset_stats()
        run = run_target(hook_config, contacts_msgs(records), expect_error=True)
        assert counts(run, "Contacts")["created"] == 4
        assert counts(run, "Contacts")["rejected"] == 1
        rejects = read_jsonl(hook_config["rejects_path"])
        assert rejects[0]["record"]["email"] == "nolast@example.com"
        assert rejects[0]["error_code"] == "MANDATORY_FIELDS_MISSING"
        assert sandbox.stats().get("vtap_webhook") == 1

    def test_token_in_the_query_one_record_per_request(self, sandbox, tmp_path, vt):
        config = {**sandbox.tap_config(), "webhook_url": "leads_in",
                  "webhook_token": QUERY_TOKEN, "webhook_token_placement": "query"}
        leads = [{"lastname": f"L{i}", "company": "Co"} for i in range(3)]
        sandbox.reset_stats()
        run = run_target(config, [schema_msg("Leads", strings("lastname", "company")),
                                  *(record_msg("Leads", r) for r in leads)])
        assert counts(run, "Leads")["created"] == 3
        assert sandbox.stats().get("vtap_webhook") == 3
        assert vt.query("select count(*) from Leads;")[0]["count"] == "3"

    @pytest.mark.parametrize("placement", ["header", "query"])
    def test_a_wrong_token_stops_the_run_without_writing_or_logging_it(
        self, sandbox, hook_config, vt, caplog, capsys, placement
    ):
        secret = "wrong-token-s3cr3t-value"
        hook_config.update(webhook_token=secret, webhook_token_placement=placement)
        caplog.set_level(logging.DEBUG)
        run = run_target(hook_config, contacts_msgs(people(3)), expect_error=True)
        assert run.error is not None
        assert "INVALID_AUTH_TOKEN" in str(run.error)
        assert secret not in str(run.error)
        assert secret not in caplog.text
        captured = capsys.readouterr()
        assert secret not in captured.out + captured.err
        assert contacts_in_sandbox(vt) == []
        assert sandbox.stats().get("vtap_webhook") == 1  # a 401 is not retried

    def test_a_missing_token_is_a_settings_error_before_any_call(self, sandbox, hook_config):
        del hook_config["webhook_token"]
        sandbox.reset_stats()
        from target_vtiger.run import TargetConfigError

        with pytest.raises(TargetConfigError, match="webhook_token"):
            run_target(hook_config, contacts_msgs(people(1)))
        assert sandbox.stats().get("vtap_webhook", 0) == 0

    def test_more_than_50_per_request_is_refused_up_front(self, sandbox, hook_config):
        hook_config["webhook_batch_size"] = 51
        from target_vtiger.run import TargetConfigError

        with pytest.raises(TargetConfigError, match="between 1 and 50"):
            run_target(hook_config, contacts_msgs(people(1)))

    def test_bulk_against_a_non_bulk_webhook_falls_back_to_one_record_per_request(
        self, sandbox, vt, caplog
    ):
        config = {**sandbox.tap_config(), "webhook_url": "leads_in",
                  "webhook_token": QUERY_TOKEN, "webhook_token_placement": "query",
                  "webhook_batch_size": 10}
        sandbox.reset_stats()
        run = run_target(config, [schema_msg("Leads", strings("lastname", "company")),
                                  *(record_msg("Leads", {"lastname": f"L{i}", "company": "C"})
                                    for i in range(3))])
        assert counts(run, "Leads")["created"] == 3
        assert sandbox.stats().get("vtap_webhook") == 4  # one refused bulk request + 3 singles
        assert "webhook_batch_size" in caplog.text
        assert vt.query("select count(*) from Leads;")[0]["count"] == "3"

    def test_numbers_and_timestamps_travel_as_vtiger_wire_text(self, sandbox, hook_config, vt):
        props = {**CONTACT_PROPS, "score": {"type": ["number", "null"]},
                 "seen_at": {"type": ["string", "null"], "format": "date-time"},
                 "vip": {"type": ["boolean", "null"]}}
        record = {"lastname": "Typed", "email": "typed@example.com", "score": 1.25,
                  "seen_at": "2026-11-22T10:00:00+01:00", "vip": True}
        run = run_target(hook_config, [schema_msg("Contacts", props),
                                       record_msg("Contacts", record)])
        assert counts(run, "Contacts")["created"] == 1
        contact = vt.query("select * from Contacts where email = 'typed@example.com';")[0]
        assert contact["lastname"] == "Typed"

    def test_a_number_no_wire_text_carries_is_rejected_and_the_rest_written(
        self, sandbox, hook_config, vt
    ):
        props = {**CONTACT_PROPS, "score": {"type": ["number", "null"]}}
        records = [{"lastname": "Finite", "email": "finite@example.com", "score": 1.5},
                   {"lastname": "NotANumber", "email": "nan@example.com", "score": math.nan}]
        run = run_target(hook_config, [schema_msg("Contacts", props),
                                       *(record_msg("Contacts", r) for r in records)],
                         expect_error=True)
        assert counts(run, "Contacts")["created"] == 1
        rejects = read_jsonl(hook_config["rejects_path"])
        assert [(r["record"]["email"], r["error_code"]) for r in rejects] == [
            ("nan@example.com", "INVALID_TYPE")]
        assert "not a finite number" in rejects[0]["message"]
        assert [c["lastname"] for c in contacts_in_sandbox(vt)] == ["Finite"]

    def test_the_webhook_body_is_vtiger_wire_text(self):
        body = wire_body({"score": Decimal("1.25"), "vip": True, "n": None, "_sdc_x": 1,
                          "seen_at": dt.datetime(2026, 11, 22, 10, 0, tzinfo=PLUS_ONE),
                          "colors": ["red", "blue"]})
        assert body == {"score": "1.25", "vip": "1", "seen_at": "2026-11-22 09:00:00",
                        "colors": "red |##| blue"}

    def test_tag_streams_keep_their_own_sink_in_webhook_mode(self, sandbox, hook_config, vt):
        person = vt.create("Contacts", {"lastname": "T", "assigned_user_id": "19x1"})["id"]
        sandbox.reset_stats()
        run = run_target(hook_config, [
            *contacts_msgs(people(2)),
            schema_msg("tags", strings("record_id", "tag")),
            record_msg("tags", {"record_id": person, "tag": "vip"})])
        assert counts(run, "Contacts")["created"] == 2
        assert counts(run, "tags")["created"] == 1
        stats = sandbox.stats()
        assert stats.get("vtap_webhook") == 1
        assert stats.get("tags_add") == 1

    def test_only_the_listed_streams_use_the_webhook(self, sandbox, hook_config, vt):
        hook_config["webhook_streams"] = ["hooked"]
        sandbox.reset_stats()
        run = run_target(hook_config, [*contacts_msgs(people(2), stream="hooked"),
                                       *contacts_msgs(people(3, start=2), stream="Contacts")])
        assert counts(run, "hooked")["created"] == 2
        assert counts(run, "Contacts")["created"] == 3
        stats = sandbox.stats()
        assert stats.get("vtap_webhook") == 1  # the listed stream: one bulk request
        assert stats.get("create") == 3  # the other stream: the core API, one per record
        assert sorted(r["email"] for r in contacts_in_sandbox(vt)) == [
            f"p{i}@example.com" for i in range(5)]


def test_webhook_path_from_a_path_or_the_full_url():
    api = "https://acme.od2.vtiger.com"
    assert webhook_path("contacts_in", api) == "contacts_in"
    assert webhook_path("/restapi/vtap/webhook/contacts_in", api) == "contacts_in"
    assert webhook_path(f"{api}/restapi/vtap/webhook/contacts_in", api) == "contacts_in"
    with pytest.raises(ValueError, match="same Vtiger instance"):
        webhook_path("https://evil.example/restapi/vtap/webhook/x", api)


def test_webhook_settings_need_a_token_and_at_most_50_per_request():
    base = {"api_url": "https://acme.od2.vtiger.com", "webhook_url": "in"}
    with pytest.raises(ValueError, match="webhook_token"):
        check_webhook_settings(base)
    with pytest.raises(ValueError, match="between 1 and 50"):
        check_webhook_settings({**base, "webhook_token": "t", "webhook_batch_size": 51})
    check_webhook_settings({**base, "webhook_token": "t", "webhook_batch_size": 50})
