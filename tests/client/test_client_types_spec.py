"""The wire codec, specified value by value: what the tap emits and the target sends."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

import pytest

from vtiger_client.types import (
    PARSE_PROBLEMS,
    InvalidValue,
    datetime_to_unix,
    record_parser,
    record_serializer,
    serialize_datetime,
    unix_to_datetime,
    unix_to_wire,
    value_parser,
    value_serializer,
    wire_value,
)

BOOLEAN = {"name": "emailoptout", "type": {"name": "boolean"}}
CURRENCY = {"name": "amount", "type": {"name": "currency"}}


@pytest.mark.parametrize("wire", ["false", "off", "no", "0", "False"])
def test_falsy_wire_booleans_read_as_false(wire: str) -> None:
    assert value_parser(BOOLEAN)(wire) is False


@pytest.mark.parametrize("wire", ["true", "on", "yes", "1", "True"])
def test_truthy_wire_booleans_read_as_true(wire: str) -> None:
    assert value_parser(BOOLEAN)(wire) is True


@pytest.mark.parametrize(("typed", "wire"), [("yes", "1"), ("off", "0"), (True, "1"),
                                             (False, "0"), (None, "")])
def test_booleans_go_out_as_0_or_1(typed: object, wire: str) -> None:
    assert value_serializer(BOOLEAN)(typed) == wire


def test_a_boolean_that_is_no_boolean_is_refused_on_the_way_out() -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        value_serializer(BOOLEAN)("maybe")


def test_numbers_go_out_without_an_exponent() -> None:
    assert value_serializer(CURRENCY)(Decimal("1E+3")) == "1000"


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_an_offset_in_a_bookmark_counts_whatever_the_machine_zone(tz, monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert datetime_to_unix("2026-01-01T02:00:00+02:00") == datetime_to_unix(
            "2026-01-01 00:00:00")
        assert datetime_to_unix("2026-01-01T00:00:00") == 1767225600
    finally:
        monkeypatch.undo()
        time.tzset()


# ---------------------------------------------------------------------------- helpers

INTEGER = {"name": "n", "type": {"name": "integer"}}
DOUBLE = {"name": "d", "type": {"name": "double"}}
DATE = {"name": "day", "type": {"name": "date"}}
DATETIME = {"name": "at", "type": {"name": "datetime"}}
TIME = {"name": "hour", "type": {"name": "time"}}
MULTI = {"name": "tags2", "type": {"name": "multipicklist"}}
REFERENCE = {"name": "account_id", "type": {"name": "reference"}}
OWNER = {"name": "assigned_user_id", "type": {"name": "owner"}}
TEXT = {"name": "s", "type": {"name": "string"}}


@pytest.fixture
def problems():
    """The parse-problem counter, empty at the start of the test."""
    PARSE_PROBLEMS.clear()
    yield PARSE_PROBLEMS
    PARSE_PROBLEMS.clear()


@pytest.fixture
def machine_zone(monkeypatch):
    """Run the test on a machine whose local time is not UTC (New York)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------------------- wire -> typed


@pytest.mark.parametrize("field", [INTEGER, DOUBLE, BOOLEAN, DATE, DATETIME, TIME])
@pytest.mark.parametrize("wire", ["", None])
def test_an_empty_typed_value_reads_as_null_and_is_no_problem(field, wire, problems):
    assert value_parser(field, "Things")(wire) is None
    assert not problems


@pytest.mark.parametrize(("field", "wire", "kind"), [
    (INTEGER, "abc", "integer"), (DOUBLE, "abc", "number"), (DOUBLE, "NaN", "number"),
    (DOUBLE, "Infinity", "number"), (BOOLEAN, "maybe", "boolean"),
    (DATE, "22.11.2026", "date"), (DATETIME, "yesterday", "datetime"),
    (TIME, "12.30.00", "time"), (TIME, "noon", "time"),
])
def test_a_value_that_is_not_its_type_reads_as_null_counted_under_module_field_and_type(
        field, wire, kind, problems):
    assert value_parser(field, "Things")(wire) is None
    assert problems == {("Things", field["name"], kind): 1}


def test_parse_problems_of_a_record_are_counted_under_its_module(problems):
    describe = {"name": "Things", "fields": [INTEGER]}
    assert record_parser(describe)({"n": "abc"}) == {"n": None}
    assert problems == {("Things", "n", "integer"): 1}


def test_a_codec_built_without_names_counts_problems_under_empty_names(problems):
    assert value_parser({"type": {"name": "integer"}})("abc") is None
    assert record_parser({"fields": [INTEGER]})({"n": "abc"}) == {"n": None}
    assert problems == {("", "", "integer"): 1, ("", "n", "integer"): 1}


@pytest.mark.parametrize(("wire", "typed"), [
    ("506", 506), ("-3", -3), (" 7 ", 7), ("1.0", 1), ("12.00000000", 12), ("1e3", 1000),
])
def test_integers_read_as_ints_also_when_written_as_whole_decimals(wire, typed, problems):
    assert value_parser(INTEGER)(wire) == typed
    assert not problems


@pytest.mark.parametrize("wire", ["1.5", "Infinity", "-inf", "NaN"])
def test_an_integer_field_holding_no_whole_number_reads_as_null(wire, problems):
    assert value_parser(INTEGER, "Things")(wire) is None
    assert problems == {("Things", "n", "integer"): 1}


@pytest.mark.parametrize(("wire", "typed"), [
    ("1000.50000000", Decimal("1000.5")), ("1,234.50", Decimal("1234.5")),
    ("-0.1", Decimal("-0.1")),
    (0.1, Decimal("0.1")), (3, Decimal(3)),
])
def test_numbers_read_as_exact_decimals(wire, typed, problems):
    assert value_parser(DOUBLE)(wire) == typed
    assert not problems


@pytest.mark.parametrize(("wire", "typed"), [
    (True, True), (False, False), (1, True), (0, False), (" yes ", True), (" off ", False),
    ("TRUE", True), ("FALSE", False),
])
def test_booleans_that_are_no_wire_strings_read_as_their_truth(wire, typed):
    assert value_parser(BOOLEAN)(wire) is typed


@pytest.mark.parametrize("wire", ["2", 2, "y"])
def test_a_boolean_field_holding_anything_else_reads_as_null(wire, problems):
    assert value_parser(BOOLEAN, "Things")(wire) is None
    assert problems == {("Things", "emailoptout", "boolean"): 1}


@pytest.mark.parametrize("field", [DATE, DATETIME])
@pytest.mark.parametrize("wire", ["0000-00-00", "0000-00-00 00:00:00", "00:00:00"])
def test_zero_dates_read_as_null_and_are_no_problem(field, wire, problems):
    assert value_parser(field)(wire) is None
    assert not problems


@pytest.mark.parametrize(("wire", "typed"), [
    ("2026-11-22 07:24:24", "2026-11-22T07:24:24+00:00"),
    ("2026-11-22T07:24:24", "2026-11-22T07:24:24+00:00"),
    ("2026-11-22T08:24:24+01:00", "2026-11-22T07:24:24+00:00"),
    ("2026-11-22 08:24:24+01:00", "2026-11-22T07:24:24+00:00"),
    ("2026-11-22T07:24:24Z", "2026-11-22T07:24:24+00:00"),
    ("2026-11-22 07:24:24.750", "2026-11-22T07:24:24+00:00"),
    ("2026-11-22", "2026-11-22T00:00:00+00:00"),
])
def test_datetimes_read_as_utc_rfc3339_to_the_second(wire, typed, machine_zone, problems):
    assert value_parser(DATETIME)(wire) == typed
    assert not problems


@pytest.mark.parametrize(("wire", "typed"), [
    ("2026-11-22", "2026-11-22"), ("2026-11-22 00:00:00", "2026-11-22"),
    ("2026-11-22T23:30:00+00:00", "2026-11-22"),
])
def test_dates_read_as_the_calendar_day(wire, typed, problems):
    assert value_parser(DATE)(wire) == typed
    assert not problems


@pytest.mark.parametrize(("wire", "typed"), [("09:30:00", "09:30:00"), ("09:30", "09:30:00")])
def test_times_read_with_seconds(wire, typed, problems):
    assert value_parser(TIME)(wire) == typed
    assert not problems


@pytest.mark.parametrize(("wire", "typed"), [
    ("a |##| b c", ["a", "b c"]), ("one", ["one"]), ("", []), (None, []),
    (["a", 1], ["a", "1"]),
])
def test_multipicklists_read_as_lists_of_strings(wire, typed):
    assert value_parser(MULTI)(wire) == typed


@pytest.mark.parametrize("field", [REFERENCE, OWNER])
@pytest.mark.parametrize(("wire", "typed"), [("11x2", "11x2"), ("", None), ("0", None),
                                             (None, None)])
def test_references_read_as_ids_and_no_reference_as_null(field, wire, typed):
    assert value_parser(field)(wire) == typed


def test_text_fields_need_no_conversion():
    assert value_parser(TEXT) is None


def test_a_record_parser_converts_a_multipicklist_sent_as_a_list():
    describe = {"name": "Things", "fields": [MULTI, INTEGER]}
    assert record_parser(describe)({"tags2": ["a", "b"], "n": "2"}) == {
        "tags2": ["a", "b"], "n": 2}


def test_a_record_parser_adds_no_fields_the_record_does_not_hold():
    describe = {"name": "Things", "fields": [INTEGER, BOOLEAN, DATE, MULTI]}
    assert record_parser(describe)({"id": "1x1"}) == {"id": "1x1"}


def test_a_record_parser_leaves_unselected_fields_out_and_converts_the_selected_ones():
    describe = {"name": "Things", "fields": [INTEGER, BOOLEAN, DATE]}
    wire = {"id": "1x1", "n": "5", "emailoptout": "yes", "day": "2026-01-02"}
    assert record_parser(describe, fields=["id", "n"])(wire) == {"id": "1x1", "n": 5}
    assert wire == {"id": "1x1", "n": "5", "emailoptout": "yes", "day": "2026-01-02"}


def test_an_inplace_parser_converts_the_wire_dict_itself_when_it_holds_only_selected_fields():
    describe = {"name": "Things", "fields": [INTEGER, BOOLEAN]}
    parse = record_parser(describe, fields=["id", "n", "emailoptout"], inplace=True)
    wire = {"id": "1x1", "n": "5", "emailoptout": "yes"}
    assert parse(wire) is wire
    assert wire == {"id": "1x1", "n": 5, "emailoptout": True}


def test_an_inplace_parser_still_leaves_unselected_fields_out():
    describe = {"name": "Things", "fields": [INTEGER, BOOLEAN]}
    parse = record_parser(describe, fields=["id", "n"], inplace=True)
    assert parse({"id": "1x1", "n": "5", "emailoptout": "yes"}) == {"id": "1x1", "n": 5}


def test_an_inplace_parser_of_every_field_converts_the_wire_dict_itself():
    describe = {"name": "Things", "fields": [INTEGER]}
    wire = {"id": "1x1", "n": "5"}
    assert record_parser(describe, inplace=True)(wire) is wire
    assert wire == {"id": "1x1", "n": 5}


# ---------------------------------------------------------------------------- typed -> wire


@pytest.mark.parametrize("typed", ["1", "true", "on", "yes", "True", "TRUE", " yes ", 1, True])
def test_true_in_any_spelling_goes_out_as_1(typed):
    assert value_serializer(BOOLEAN)(typed) == "1"


@pytest.mark.parametrize("typed", ["0", "false", "off", "no", "False", "FALSE", " no ", 0,
                                   False])
def test_false_in_any_spelling_goes_out_as_0(typed):
    assert value_serializer(BOOLEAN)(typed) == "0"


@pytest.mark.parametrize(("typed", "wire"), [
    (None, ""), ("", ""), (5, "5"), (Decimal("1E+3"), "1000"), ("1.50", "1.5"),
    (" 2.5 ", "2.5"), (0.1, "0.1"), (1e-7, "0.0000001"), (0.1 + 0.2, "0.3"),
    (10**17 - 1, str(10**17 - 1)),
])
def test_numbers_go_out_in_plain_notation_and_empty_as_empty(typed, wire):
    assert value_serializer(DOUBLE)(typed) == wire


@pytest.mark.parametrize(("typed", "code"), [
    (True, "INVALID_TYPE"), ("abc", "INVALID_TYPE"), (float("nan"), "INVALID_TYPE"),
    (Decimal("Infinity"), "INVALID_TYPE"), ([1], "INVALID_TYPE"), (10**17, "INVALID_VALUE"),
    (-(10**17), "INVALID_VALUE"),
])
def test_a_value_that_is_no_storable_number_is_refused(typed, code):
    with pytest.raises(InvalidValue) as refused:
        value_serializer(DOUBLE)(typed)
    assert refused.value.code == code


@pytest.mark.parametrize(("typed", "wire"), [
    (None, ""), ("", ""), (3, "3"), (3.0, "3"), (Decimal("3.00"), "3"), ("7", "7"),
])
def test_integers_go_out_without_decimals_when_whole(typed, wire):
    assert value_serializer(INTEGER)(typed) == wire


@pytest.mark.parametrize("typed", [True, False, 2.5, Decimal("2.5"), "2.5"])
def test_a_value_that_is_no_integer_is_refused_for_an_integer_field(typed):
    with pytest.raises(InvalidValue):
        value_serializer(INTEGER)(typed)


@pytest.mark.parametrize(("typed", "wire"), [
    (None, ""), ("", ""),
    ("2026-11-22 07:24:24", "2026-11-22 07:24:24"),
    (" 2026-11-22T08:24:24+01:00 ", "2026-11-22 07:24:24"),
    ("2026-11-22 08:24:24+01:00", "2026-11-22 07:24:24"),
    ("2026-11-22T07:24:24", "2026-11-22 07:24:24"),
    ("2026-11-22T07:24:24Z", "2026-11-22 07:24:24"),
    (dt.datetime(2026, 11, 22, 8, 24, 24, tzinfo=dt.timezone(dt.timedelta(hours=1))),
     "2026-11-22 07:24:24"),
    (dt.datetime(2026, 11, 22, 7, 24, 24), "2026-11-22 07:24:24"),
])
def test_datetimes_go_out_as_utc_wire_text(typed, wire, machine_zone):
    assert value_serializer(DATETIME)(typed) == wire
    assert serialize_datetime(typed) == wire


@pytest.mark.parametrize(("typed", "wire"), [
    (None, ""), ("", ""), ("2026-11-22", "2026-11-22"), (" 2026-11-22 ", "2026-11-22"),
    ("2026-11-22T00:00:00Z", "2026-11-22"), (dt.date(2026, 11, 22), "2026-11-22"),
    (dt.datetime(2026, 11, 22), "2026-11-22"),
])
def test_dates_go_out_as_the_calendar_day(typed, wire):
    assert value_serializer(DATE)(typed) == wire


@pytest.mark.parametrize("typed", ["2026-11-22T07:24:24+00:00", dt.datetime(2026, 11, 22, 7, 24),
                                   "2026-02-30", "22.11.2026", 20261122])
def test_a_date_time_or_an_impossible_date_is_refused_for_a_date_field(typed):
    with pytest.raises(InvalidValue):
        value_serializer(DATE)(typed)


@pytest.mark.parametrize(("typed", "wire"), [
    (None, ""), ("", ""), ("09:30", "09:30:00"), ("9:30", "09:30:00"), (" 09:30:00 ", "09:30:00"),
    (dt.time(9, 30, 5, 500), "09:30:05"),
])
def test_times_go_out_with_seconds_and_no_fraction(typed, wire):
    assert value_serializer(TIME)(typed) == wire


@pytest.mark.parametrize(("typed", "wire"), [
    (None, ""), ("", ""), (["a", "b c"], "a |##| b c"), (("x", 1), "x |##| 1"),
    ("a |##| b", "a |##| b"),
])
def test_multipicklists_go_out_joined(typed, wire):
    assert value_serializer(MULTI)(typed) == wire


@pytest.mark.parametrize(("typed", "wire"), [(None, ""), ("x", "x"), (" x ", " x "), (5, "5"),
                                             (2.50, "2.5")])
def test_text_goes_out_as_text(typed, wire):
    assert value_serializer(TEXT)(typed) == wire


@pytest.mark.parametrize("typed", [True, {"a": 1}, ["a"], "a\x00b", "half \ud83d emoji"])
def test_what_is_no_storable_text_is_refused(typed):
    with pytest.raises(InvalidValue):
        value_serializer(TEXT)(typed)


def test_a_record_goes_out_field_by_field_and_unknown_fields_unchanged():
    describe = {"name": "Things", "fields": [INTEGER, BOOLEAN, TIME, TEXT]}
    out = record_serializer(describe)({"n": 3.0, "emailoptout": "yes", "hour": "09:30",
                                       "s": None, "other": 7})
    assert out == {"n": "3", "emailoptout": "1", "hour": "09:30:00", "s": "", "other": 7}


# ------------------------------------------------------------- by Python type, no describe


@pytest.mark.parametrize(("typed", "wire"), [
    (True, "1"), (False, "0"), (7, "7"), (2.50, "2.5"), (Decimal("1E+3"), "1000"),
    (Decimal("-0.000001"), "-0.000001"),
    (dt.datetime(2026, 1, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "2026-01-01 07:30:00"),
    (dt.date(2026, 1, 1), "2026-01-01"), (dt.time(9, 5), "09:05:00"),
    (["a", 1, True], "a |##| 1 |##| 1"), ({"k": "é"}, '{"k": "é"}'), ("text", "text"),
    (None, None),
])
def test_a_value_without_a_describe_goes_out_by_its_python_type(typed, wire):
    assert wire_value(typed) == wire


@pytest.mark.parametrize("typed", [float("nan"), float("inf"), Decimal("NaN"), [float("nan")]])
def test_a_number_no_wire_text_carries_is_refused_without_a_describe(typed):
    with pytest.raises(InvalidValue):
        wire_value(typed)


# ---------------------------------------------------------------------------- bookmark clock


@pytest.mark.parametrize(("text", "seconds"), [
    ("2026-01-01T00:00:00+00:00", 1767225600), ("2026-01-01 00:00:00", 1767225600),
    ("2026-01-01T00:00:00Z", 1767225600), (" 2026-01-01T00:00:00Z ", 1767225600),
    ("2026-01-01", 1767225600), ("2026-01-01T02:00:00+02:00", 1767225600),
    ("2025-12-31T19:00:00-05:00", 1767225600), ("2026-01-01T00:00:07", 1767225607),
])
def test_bookmark_texts_count_as_the_same_instant_whatever_the_machine_zone(text, seconds,
                                                                            machine_zone):
    assert datetime_to_unix(text) == seconds


def test_unix_seconds_come_back_as_utc_text():
    assert unix_to_datetime(1767225607.9) == "2026-01-01T00:00:07+00:00"
    assert unix_to_wire(1767225607) == "2026-01-01 00:00:07"


def test_the_first_bad_value_of_a_field_is_a_warning_naming_it_and_later_ones_are_counted(
        problems, caplog):
    parse = value_parser(INTEGER, "Things")
    with caplog.at_level(logging.WARNING, logger="vtiger_client.types"):
        for wire in ["x" * 50, "abc", "def"]:
            assert parse(wire) is None
    [warning] = caplog.records
    assert warning.getMessage() == (f"Things.n: value {'x' * 40!r} is not a valid integer; "
                                    "emitted as null (further ones counted silently)")
    assert problems == {("Things", "n", "integer"): 3}


def test_a_bad_value_of_a_parser_built_without_a_module_names_the_field_only(problems,
                                                                              caplog):
    with caplog.at_level(logging.WARNING, logger="vtiger_client.types"):
        value_parser(BOOLEAN)("maybe")
    assert caplog.records[0].getMessage().startswith("?.emailoptout: value 'maybe'")


@pytest.mark.parametrize("typed", ["2026-02-30 07:24:24", "2026-11-22 25:00:00", "soon"])
def test_an_impossible_datetime_is_refused_on_the_way_out(typed):
    with pytest.raises(ValueError):
        value_serializer(DATETIME)(typed)


def test_without_inplace_the_wire_record_is_left_as_it_was():
    describe = {"name": "Things", "fields": [INTEGER]}
    wire = {"id": "1x1", "n": "5"}
    assert record_parser(describe)(wire) == {"id": "1x1", "n": 5}
    assert wire == {"id": "1x1", "n": "5"}


def test_a_negative_zero_goes_out_as_zero():
    assert value_serializer(DOUBLE)(Decimal("-0.000")) == "0"
    assert value_serializer(INTEGER)("-0") == "0"

