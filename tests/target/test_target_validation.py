"""Validation against describe, wire conversion and wire comparison (no server needed)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from target_vtiger.validation import (
    FieldSpec,
    InvalidValue,
    ModuleSpec,
    altered_fields,
    changed_fields,
    convert_record,
    missing_mandatory,
    to_wire,
    wire_equal,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def spec(module: str, extra_fields: list[dict] | None = None) -> ModuleSpec:
    describe = json.loads((SCHEMAS / f"{module}.json").read_text())
    describe["fields"] = describe["fields"] + (extra_fields or [])
    return ModuleSpec.from_describe(describe)


MULTI = {
    "name": "cf_tags",
    "label": "Tags",
    "mandatory": False,
    "editable": True,
    "type": {
        "name": "multipicklist",
        "picklistValues": [{"label": v, "value": v} for v in ("Red", "Green", "Blue")],
    },
}


@pytest.fixture(scope="module")
def contacts() -> ModuleSpec:
    return spec("Contacts", [MULTI])


def field(contacts: ModuleSpec, name: str) -> FieldSpec:
    return contacts.fields[name]


class TestToWire:
    def test_booleans_become_0_and_1(self, contacts):
        f = field(contacts, "emailoptout")
        assert [to_wire(f, v) for v in (True, False, 1, 0, "1", "0", "true", "no")] == [
            "1",
            "0",
            "1",
            "0",
            "1",
            "0",
            "1",
            "0",
        ]

    def test_dates_accept_date_objects_and_iso_strings(self, contacts):
        f = field(contacts, "birthday")
        assert to_wire(f, dt.date(1990, 5, 17)) == "1990-05-17"
        assert to_wire(f, "1990-05-17") == "1990-05-17"
        assert to_wire(f, "1990-05-17T00:00:00+00:00") == "1990-05-17"
        assert to_wire(f, None) == ""

    @pytest.mark.parametrize("bad", ["not-a-date", "1990-02-30", "17/05/1990", 19900517])
    def test_invalid_dates_are_refused_not_emptied(self, contacts, bad):
        # Vtiger would silently store an invalid date as empty (vtiger-notes.md)
        with pytest.raises(InvalidValue) as err:
            to_wire(field(contacts, "birthday"), bad)
        assert err.value.code == "INVALID_TYPE"

    def test_datetimes_are_converted_to_utc_wire_format(self):
        f = FieldSpec("when", "datetime")
        assert to_wire(f, "2026-11-22T09:24:24+02:00") == "2026-11-22 07:24:24"
        assert to_wire(f, "2026-11-22T07:24:24Z") == "2026-11-22 07:24:24"
        assert to_wire(f, "2026-11-22 07:24:24") == "2026-11-22 07:24:24"
        aware = dt.datetime(2026, 11, 22, 7, 24, 24, tzinfo=dt.timezone.utc)
        assert to_wire(f, aware) == "2026-11-22 07:24:24"

    def test_numbers_use_plain_decimal_notation(self):
        cur = FieldSpec("amount", "currency")
        assert to_wire(cur, 1000.5) == "1000.5"
        assert to_wire(cur, Decimal("1E+3")) == "1000"
        assert to_wire(cur, "1000.50000000") == "1000.5"
        assert to_wire(cur, 1e16) == "10000000000000000"
        assert to_wire(cur, 0.1 + 0.2) == "0.3"  # float noise is not a change
        assert to_wire(FieldSpec("n", "integer"), 42.0) == "42"
        with pytest.raises(InvalidValue):
            to_wire(FieldSpec("n", "integer"), 4.5)
        with pytest.raises(InvalidValue):
            to_wire(cur, float("nan"))
        with pytest.raises(InvalidValue):
            to_wire(cur, True)
        with pytest.raises(InvalidValue):
            to_wire(cur, "1,234.56")  # the real server answers HTTP 500 to this

    def test_picklist_values_are_checked_against_describe(self, contacts):
        f = field(contacts, "leadsource")
        assert to_wire(f, "Cold Call") == "Cold Call"
        assert to_wire(f, "") == ""
        with pytest.raises(InvalidValue) as err:
            to_wire(f, "NotAValidSource")
        assert err.value.code == "INVALID_PICKLIST_VALUE"

    def test_multipicklists_are_joined_with_the_vtiger_separator(self, contacts):
        f = field(contacts, "cf_tags")
        assert to_wire(f, ["Red", "Blue"]) == "Red |##| Blue"
        assert to_wire(f, "Red |##| Blue") == "Red |##| Blue"
        assert to_wire(f, []) == ""
        with pytest.raises(InvalidValue):
            to_wire(f, ["Red", "Purple"])

    def test_references_must_be_vtiger_ids(self, contacts):
        f = field(contacts, "account_id")
        assert to_wire(f, "11x2") == "11x2"
        assert to_wire(f, "") == ""
        with pytest.raises(InvalidValue):
            to_wire(f, "Acme Inc")

    def test_times_gain_seconds(self):
        assert to_wire(FieldSpec("t", "time"), "9:05") == "09:05:00"

    def test_text_keeps_hostile_characters_verbatim(self, contacts):
        f = field(contacts, "lastname")
        for text in ["O'Brien", "back\\slash", "100%_", "emoji 😀", "line1\nline2", '"q"']:
            assert to_wire(f, text) == text

    def test_nul_characters_are_refused(self, contacts):
        with pytest.raises(InvalidValue):
            to_wire(field(contacts, "lastname"), "a\x00b")

    def test_objects_are_not_text(self, contacts):
        with pytest.raises(InvalidValue):
            to_wire(field(contacts, "description"), {"a": 1})


class TestConvertRecord:
    def test_splits_id_fields_and_metadata(self, contacts):
        conv = convert_record(
            contacts,
            {
                "id": "12x3",
                "lastname": "Tester",
                "createdtime": "2026-01-01T00:00:00+00:00",
                "contact_no": "CON1",
                "label": "Alice Tester",
                "_sdc_deleted_at": None,
                "_sdc_sequence": 1,
            },
        )
        assert conv.problems == []
        assert conv.id == "12x3"
        assert conv.wire == {"lastname": "Tester"}
        assert set(conv.ignored_readonly) == {"createdtime", "contact_no", "label"}
        assert not conv.deleted

    def test_deleted_marker_is_seen(self, contacts):
        conv = convert_record(contacts, {"id": "12x3", "_sdc_deleted_at": "2026-01-01T00:00:00Z"})
        assert conv.deleted

    def test_every_problem_is_reported_not_just_the_first(self, contacts):
        conv = convert_record(
            contacts, {"lastname": "X", "birthday": "nope", "leadsource": "Bad", "shoe_size": 44}
        )
        assert {(p.field, p.code) for p in conv.problems} == {
            ("birthday", "INVALID_TYPE"),
            ("leadsource", "INVALID_PICKLIST_VALUE"),
            ("shoe_size", "UNKNOWN_FIELD"),
        }

    def test_unknown_fields_can_be_ignored(self, contacts):
        conv = convert_record(contacts, {"lastname": "X", "shoe_size": 44}, unknown_fields="ignore")
        assert conv.problems == []
        assert conv.ignored_unknown == ["shoe_size"]

    def test_ids_of_another_module_are_refused(self, contacts):
        conv = convert_record(contacts, {"id": "11x2", "lastname": "X"})
        assert [p.code for p in conv.problems] == ["INVALID_ID"]


class TestMandatory:
    def test_create_needs_every_mandatory_field(self, contacts):
        assert missing_mandatory(contacts, {"firstname": "A"}, creating=True) == [
            "lastname",
            "assigned_user_id",
        ]

    def test_revise_only_must_not_empty_one(self, contacts):
        assert missing_mandatory(contacts, {"firstname": "A"}, creating=False) == []
        assert missing_mandatory(contacts, {"lastname": ""}, creating=False) == ["lastname"]


class TestWireEqual:
    @pytest.mark.parametrize(
        ("ftype", "ours", "theirs"),
        [
            ("currency", "1000.5", "1000.50000000"),
            ("double", "0", "0.000"),
            ("currency", "", "0.00000000"),  # Vtiger stores an empty number as 0
            ("integer", "42", "42"),
            ("boolean", "1", "on"),
            ("boolean", "", "0"),
            ("time", "09:00:00", "09:00"),
            ("multipicklist", "Red |##| Blue", "Blue |##| Red"),
            ("date", "", "0000-00-00"),
            ("string", None, ""),
        ],
    )
    def test_same_stored_value(self, ftype, ours, theirs):
        assert wire_equal(ftype, ours, theirs)

    @pytest.mark.parametrize(
        ("ftype", "ours", "theirs"),
        [
            ("currency", "1000.5", "1001.00000000"),
            ("string", "O'Brien", "O?Brien"),
            ("string", "a", "A"),
            ("string", "emoji 😀", "emoji ?"),
            ("boolean", "1", "0"),
            ("reference", "11x2", ""),
        ],
    )
    def test_different_stored_value(self, ftype, ours, theirs):
        assert not wire_equal(ftype, ours, theirs)

    def test_changed_fields_keeps_only_the_differences(self, contacts):
        existing = {"id": "12x3", "lastname": "Tester", "emailoptout": "0", "firstname": "A"}
        wire = {"lastname": "Tester", "emailoptout": "1", "firstname": "A"}
        assert changed_fields(contacts, wire, existing) == {"emailoptout": "1"}

    def test_altered_fields_reports_rounding_and_replacement(self):
        potentials = spec("Potentials")
        sent = {"amount": "1000.5", "potentialname": "Deal 😀", "sales_stage": "Prospecting"}
        returned = {
            "amount": "1001.00000000",
            "potentialname": "Deal ?",
            "sales_stage": "Prospecting",
        }
        assert [
            (a.field, a.sent, a.stored) for a in altered_fields(potentials, sent, returned)
        ] == [
            ("amount", "1000.5", "1001.00000000"),
            ("potentialname", "Deal 😀", "Deal ?"),
        ]


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=8, min_value=-(10**12), max_value=10**12
    )
)
def test_numbers_compare_equal_to_their_padded_wire_form(number):
    wire = to_wire(FieldSpec("x", "currency"), number)
    padded = f"{Decimal(wire):.8f}"
    assert wire_equal("currency", wire, padded)


@given(st.datetimes(timezones=st.just(dt.timezone.utc)))
def test_datetimes_round_trip_through_wire_format(moment):
    wire = to_wire(FieldSpec("x", "datetime"), moment.isoformat())
    assert wire == moment.replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S")
