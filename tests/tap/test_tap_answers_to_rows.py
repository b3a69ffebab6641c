"""Answers of real Vtiger calls turned into the tap's rows (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tap_vtiger.streams.api_designer import infer_schema, rows_of
from tap_vtiger.streams.metadata import dependency_rows, hierarchy_rows, picklist_rows
from tap_vtiger.streams.related import relations_from_relatedtypes
from tap_vtiger.streams.tags import split_tags

REFERENCE = Path("/work/shared/vtiger-reference")


def test_relatedtypes_keeps_both_calendar_relations_apart():
    answer = {"types": ["Contacts", "Calendar", "Calendar"], "information": {
        "Contacts": {"name": "Contacts", "label": "Contacts", "isEntity": "1"},
        "Activities": {"name": "Calendar", "label": "Activities", "isEntity": "1"},
        "Activity History": {"name": "Calendar", "label": "Activity History", "isEntity": "1"},
    }}
    assert relations_from_relatedtypes(answer) == [
        ("Contacts", "Contacts"), ("Activities", "Calendar"), ("Activity History", "Calendar")]


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference not mounted")
def test_relatedtypes_of_a_real_server():
    body = json.loads((REFERENCE / "relatedtypes_Accounts.json").read_text())["response"]["body"]
    pairs = relations_from_relatedtypes(body["result"])
    assert ("Sales Order", "SalesOrder") in pairs
    assert len(pairs) == 18


def test_hierarchy_rows_derive_parent_and_root_from_depth_first_levels():
    answer = [
        {"id": "11x1", "name": "Top", "level": 0},
        {"id": "11x2", "name": "Mid", "level": 1},
        {"id": "11x3", "name": "Leaf &amp; Co", "level": 2},
        {"id": "11x4", "name": "Mid 2", "level": 1},
    ]
    rows = {r["account_id"]: r for r in hierarchy_rows(answer)}
    assert rows["11x1"]["parent_account_id"] is None
    assert rows["11x3"]["parent_account_id"] == "11x2"
    assert rows["11x4"]["parent_account_id"] == "11x1"
    assert {r["root_account_id"] for r in rows.values()} == {"11x1"}
    assert rows["11x3"]["account_name"] == "Leaf & Co"


def test_tags_field_splits_on_commas_and_drops_blanks_and_repeats():
    assert split_tags("vip, beta,,vip") == ["vip", "beta"]
    assert split_tags("") == []
    assert split_tags(None) == []
    assert split_tags(["a", "b"]) == ["a", "b"]


def test_picklist_rows_mark_the_default_and_keep_the_order():
    describe = {"fields": [
        {"name": "leadsource", "label": "Lead Source", "type": {
            "name": "picklist", "defaultValue": "Web",
            "picklistValues": [{"label": "Cold Call", "value": "Cold Call"},
                               {"label": "Web", "value": "Web"}]}},
        {"name": "lastname", "type": {"name": "string"}},
    ]}
    rows = list(picklist_rows("Contacts", describe))
    assert [(r["value"], r["position"], r["is_default"]) for r in rows] == [
        ("Cold Call", 0, False), ("Web", 1, True)]


def test_api_designer_rows_from_lists_and_objects():
    assert rows_of([{"a": 1}]) == [{"a": 1}]
    assert rows_of({"records": [{"a": 1}], "page": 1}) == [{"a": 1}]
    assert rows_of({"data": {"items": [{"a": 1}]}}, "data.items") == [{"a": 1}]
    assert rows_of({"id": "12x1"}) == [{"id": "12x1"}]
    assert rows_of(None) == []


def test_inferred_schema_is_nullable_and_widens_mixed_numbers():
    schema = infer_schema([{"id": "12x1", "n": 1, "x": None}, {"id": "12x2", "n": 1.5}])
    assert schema["properties"]["id"]["type"] == ["string", "null"]
    assert schema["properties"]["n"]["type"] == ["number", "null"]
    assert schema["properties"]["x"]["type"] == ["string", "null"]


def test_dependency_rows_follow_the_documented_answer():
    answer = {"sourcefield": "pipeline", "targetfield": "sales_stage", "valuemapping": [
        {"sourcevalue": "Standard", "targetvalues": ["Prospecting", "Closed Won"]},
        {"sourcevalue": "Renewal", "targetvalues": []},
        {"targetvalues": ["orphan"]},
    ]}
    rows = list(dependency_rows("Potentials", "pipeline", "sales_stage", answer))
    assert [(r["source_value"], r["target_values"]) for r in rows] == [
        ("Standard", ["Prospecting", "Closed Won"]), ("Renewal", [])]
    assert {(r["module"], r["source_field"], r["target_field"]) for r in rows} == {
        ("Potentials", "pipeline", "sales_stage")}
