"""The sink's decisions with a scripted in-memory client: failures a live server rarely shows.

Each test scripts one misbehaviour (a lost answer, a refused query, a rate limit) and checks
that no record is written twice and none is lost without a reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from target_helpers import contacts_input

from target_vtiger.run import TargetRun
from target_vtiger.target import TargetVtiger
from vtiger_client.errors import QuerySyntaxError, RateLimitError, RecordError, RetryableError

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
_LITERAL = re.compile(r"'((?:[^'\\]|''|\\.)*)'")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text.replace("''", "'"))


class FakeVtiger:
    """Enough of VtigerClient for the Contacts sink; failures are scripted per test."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.calls: Counter[str] = Counter()
        self.next_id = 1
        self.create_faults: list[str] = []  # "lost-after-write" | "lost-before-write" | "429"
        self.refuse_query_containing: str | None = None
        self.revised: list[dict] = []  # every element revise received, as sent

    def describe(self, module: str) -> dict:
        self.calls["describe"] += 1
        return json.loads((SCHEMAS / f"{module}.json").read_text())

    def me(self) -> dict:
        self.calls["me"] += 1
        return {"id": "19x1"}

    def query(self, vtql: str) -> list[dict]:
        self.calls["query"] += 1
        if self.refuse_query_containing and self.refuse_query_containing in vtql:
            raise QuerySyntaxError("INTERNAL_SERVER_ERROR", "cannot tokenize", 500, "query")
        field, values = re.search(r"where (\w+) in \((.*)\)", vtql).groups()
        wanted = {_unquote(v) for v in _LITERAL.findall(values)}
        return [dict(r) for r in self.records.values() if r.get(field) in wanted][:100]

    def create(self, module: str, element: dict) -> dict:
        self.calls["create"] += 1
        fault = self.create_faults.pop(0) if self.create_faults else None
        if fault == "429":
            raise RateLimitError("TOO_MANY_REQUESTS", "rate limited", 429, "create", retry_after=0)
        if fault == "lost-before-write":
            raise RetryableError("CONNECTION", "connection reset", None, "create")
        rid = f"12x{self.next_id}"
        self.next_id += 1
        self.records[rid] = {**element, "id": rid}
        if fault == "lost-after-write":
            raise RetryableError("BAD_RESPONSE", "truncated JSON", 200, "create")
        return dict(self.records[rid])

    def revise(self, element: dict) -> dict:
        self.calls["revise"] += 1
        self.revised.append(dict(element))
        if element["id"] not in self.records:
            raise RecordError("ACCESS_DENIED", "record deleted", 403, "revise")
        self.records[element["id"]].update(element)
        return dict(self.records[element["id"]])


@pytest.fixture
def fake(monkeypatch) -> FakeVtiger:
    client = FakeVtiger()
    monkeypatch.setattr(TargetRun, "client", property(lambda self: client))
    monkeypatch.setattr(TargetRun, "no_retry_client", property(lambda self: client))
    monkeypatch.setattr("target_vtiger.sinks.module.time.sleep", lambda s: None)
    return client


CONFIG = {
    "api_url": "http://127.0.0.1:1",
    "username": "admin",
    "access_key": "k",
    "match_keys": {"Contacts": ["email"]},
    "allow_rejects": True,
}


def run(records: list[dict], tmp_path, **settings) -> TargetVtiger:
    target = TargetVtiger(config={**CONFIG, "rejects_path": str(tmp_path / "r.jsonl"), **settings})
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO(contacts_input(records)))
    return target


def rejects(tmp_path) -> list[dict]:
    path = tmp_path / "r.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_create_whose_answer_was_lost_after_the_write_is_not_repeated(fake, tmp_path):
    fake.create_faults = ["lost-after-write"]
    target = run([{"lastname": "A", "email": "a@x.com"}], tmp_path)
    assert target.run.summaries["Contacts"].created == 1
    assert len(fake.records) == 1
    assert fake.calls["create"] == 1  # looked up instead of creating again


def test_a_create_lost_before_the_write_is_tried_again(fake, tmp_path):
    fake.create_faults = ["lost-before-write", "lost-before-write"]
    target = run([{"lastname": "A", "email": "a@x.com"}], tmp_path)
    assert target.run.summaries["Contacts"].created == 1
    assert len(fake.records) == 1
    assert fake.calls["create"] == 3


def test_a_rate_limited_create_waits_and_retries_without_a_lookup(fake, tmp_path):
    fake.create_faults = ["429"]
    run([{"lastname": "A", "email": "a@x.com"}], tmp_path)
    assert len(fake.records) == 1
    assert fake.calls["query"] == 1  # the batch lookup only


def test_a_key_the_server_cannot_query_rejects_only_its_record(fake, tmp_path):
    fake.refuse_query_containing = "BAD"
    records = [{"lastname": f"L{i}", "email": f"u{i}@x.com"} for i in range(7)]
    records.insert(3, {"lastname": "Bad", "email": "BAD@x.com"})
    target = run(records, tmp_path)
    assert target.run.summaries["Contacts"].created == 7
    assert [(r["record"]["lastname"], r["error_code"]) for r in rejects(tmp_path)] == [
        ("Bad", "LOOKUP_FAILED")
    ]
    assert fake.calls["query"] <= 1 + 2 * 3  # halving: a few queries, not one per record


def test_a_record_deleted_between_lookup_and_write_is_rejected_with_the_api_reason(
    fake, tmp_path, monkeypatch
):
    run([{"lastname": "A", "email": "a@x.com"}], tmp_path)
    real_revise = fake.revise

    def revise_after_delete(element):
        fake.records.clear()
        return real_revise(element)

    monkeypatch.setattr(fake, "revise", revise_after_delete)
    target = run([{"lastname": "B", "email": "a@x.com"}], tmp_path)
    assert target.run.summaries["Contacts"].rejected == 1
    assert rejects(tmp_path)[-1]["error_code"] == "ACCESS_DENIED"


def test_describe_and_me_are_read_once_per_run(fake, tmp_path):
    records = [{"lastname": f"L{i}", "email": f"u{i}@x.com"} for i in range(250)]
    run(records, tmp_path)
    assert (fake.calls["describe"], fake.calls["me"], fake.calls["query"]) == (1, 1, 3)


def test_a_module_describe_calls_not_createable_gets_no_create_call(fake, tmp_path, monkeypatch):
    real = fake.describe

    def describe(module):
        return {**real(module), "createable": False}

    monkeypatch.setattr(fake, "describe", describe)
    target = run([{"lastname": "A", "email": "a@x.com"}], tmp_path)
    assert target.run.summaries["Contacts"].rejected == 1
    assert rejects(tmp_path)[0]["error_code"] == "NOT_PERMITTED"
    assert fake.calls["create"] == 0


def test_a_changed_record_is_revised_with_only_its_id_and_the_changed_fields(fake, tmp_path):
    full = {"lastname": "A", "firstname": "Ann", "email": "a@x.com", "phone": "123"}
    run([full], tmp_path)
    (rid,) = fake.records
    target = run([{**full, "firstname": "Anna", "phone": "456"}], tmp_path)
    assert target.run.summaries["Contacts"].updated == 1
    assert fake.revised == [{"id": rid, "firstname": "Anna", "phone": "456"}]
    assert fake.calls["create"] == 1  # the first run's only
