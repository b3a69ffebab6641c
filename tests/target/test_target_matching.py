"""Batch lookups: how many queries, what matches what (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

from target_vtiger.matching import lookup, record_key, row_key
from target_vtiger.validation import ModuleSpec
from vtiger_client.collation import text_key

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CONTACTS = ModuleSpec.from_describe(json.loads((SCHEMAS / "Contacts.json").read_text()))


class FakeQuery:
    """Answers ``field in values`` from an in-memory table and counts the queries."""

    def __init__(self, rows):
        self.rows = rows
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, module, field, values):
        assert len(values) <= 100, "VTQL in-lists are capped at 100 values"
        self.calls.append((field, values))
        # the server's collation
        wanted = {text_key(v) for v in values}
        return [r for r in self.rows if text_key(str(r.get(field, ""))) in wanted]


def email_key(value: str):
    return record_key(CONTACTS, ["email"], {"email": value})


def test_empty_or_missing_key_values_are_never_looked_up():
    assert record_key(CONTACTS, ["email"], {"email": ""}) is None
    assert record_key(CONTACTS, ["email"], {"lastname": "x"}) is None
    assert record_key(CONTACTS, ["email"], {"email": "   "}) is None  # the server's ''


def test_keys_are_equal_exactly_when_the_servers_collation_says_so():
    def key(value):
        return record_key(CONTACTS, ["email"], {"email": value})

    assert key("A@X.com ") == key("a@x.com") == key("a@X.COM   ")
    assert key("  a@x.com") != key("a@x.com")  # leading blanks count
    assert key("\ta@x.com") != key("a@x.com")
    assert key("a@x.com\t") != key("a@x.com")  # a trailing tab is not a blank
    assert key("straße@x.com") != key("strasse@x.com")
    assert key("STRAßE@x.com") == key("straße@x.com")


def test_250_keys_cost_3_queries():
    rows = [{"id": f"12x{i}", "email": f"u{i}@x.com"} for i in range(300)]
    q = FakeQuery(rows)
    keys = {email_key(f"u{i}@x.com"): [f"u{i}@x.com"] for i in range(250)}
    found = lookup(CONTACTS, [], ["email"], keys, q)
    assert found.queries == 3
    assert len(q.calls) == 3
    assert len(found.by_key) == 250


def test_150_ids_cost_2_queries():
    q = FakeQuery([{"id": f"12x{i}", "email": f"u{i}@x.com"} for i in range(200)])
    found = lookup(CONTACTS, [f"12x{i}" for i in range(150)], ["email"], {}, q)
    assert found.queries == len(q.calls) == 2
    assert len(found.by_id) == 150


def test_ids_and_keys_are_looked_up_separately():
    rows = [{"id": "12x1", "email": "a@x.com"}, {"id": "12x2", "email": "b@x.com"}]
    q = FakeQuery(rows)
    found = lookup(CONTACTS, ["12x1", "12x1"], ["email"], {email_key("b@x.com"): ["b@x.com"]}, q)
    assert set(found.by_id) == {"12x1"}
    assert found.by_key[email_key("b@x.com")][0]["id"] == "12x2"
    assert [c[0] for c in q.calls] == ["id", "email"]


def test_matching_ignores_case_like_the_server_does():
    q = FakeQuery([{"id": "12x1", "email": "Bob@X.com"}])
    found = lookup(CONTACTS, [], ["email"], {email_key("bob@x.com"): ["bob@x.com"]}, q)
    assert found.by_key[email_key("bob@x.com")][0]["id"] == "12x1"


def test_two_existing_records_with_the_same_key_are_both_reported():
    q = FakeQuery([{"id": "12x1", "email": "a@x.com"}, {"id": "12x2", "email": "a@x.com"}])
    found = lookup(CONTACTS, [], ["email"], {email_key("a@x.com"): ["a@x.com"]}, q)
    assert [r["id"] for r in found.by_key[email_key("a@x.com")]] == ["12x1", "12x2"]


def test_compound_keys_query_the_first_field_and_filter_on_all():
    rows = [
        {"id": "12x1", "firstname": "Ann", "lastname": "Lee"},
        {"id": "12x2", "firstname": "Ann", "lastname": "Kim"},
    ]
    q = FakeQuery(rows)
    key = record_key(CONTACTS, ["firstname", "lastname"], {"firstname": "Ann", "lastname": "Kim"})
    found = lookup(CONTACTS, [], ["firstname", "lastname"], {key: ["Ann", "Kim"]}, q)
    assert len(q.calls) == 1
    assert [r["id"] for r in found.by_key[key]] == ["12x2"]
    assert row_key(CONTACTS, ["firstname", "lastname"], rows[0]) != key
