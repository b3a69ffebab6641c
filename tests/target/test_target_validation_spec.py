"""What the target refuses or reports before and after a write, one behaviour per test."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from target_vtiger.validation import (
    Alteration,
    FieldProblem,
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

MODULE = ModuleSpec(
    name="Contacts",
    id_prefix="12",
    fields={
        "lastname": FieldSpec("lastname", "string", mandatory=True),
        "email": FieldSpec("email", "email"),
        "birthday": FieldSpec("birthday", "date"),
        "support_start": FieldSpec("support_start", "datetime"),
        "calltime": FieldSpec("calltime", "time"),
        "emailoptout": FieldSpec("emailoptout", "boolean"),
    },
)


def field(name: str) -> FieldSpec:
    return MODULE.fields[name]


def test_a_changed_date_is_written() -> None:
    assert changed_fields(MODULE, {"birthday": "2026-01-02"}, {"birthday": "2026-01-01"}) == {
        "birthday": "2026-01-02"}


def test_a_changed_datetime_is_written() -> None:
    assert changed_fields(MODULE, {"support_start": "2026-01-01 10:00:00"},
                          {"support_start": "2026-01-01 10:00:01"}) == {
        "support_start": "2026-01-01 10:00:00"}


@pytest.mark.parametrize("text", ["24:00", "23:60", "12:00:60"])
def test_times_past_the_clock_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("calltime"), text)


def test_an_address_without_at_is_no_email() -> None:
    with pytest.raises(InvalidValue, match="e-mail"):
        to_wire(field("email"), "bob")


def test_a_datetime_is_no_date() -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("birthday"), "2026-01-01T10:30:00")


def test_a_bare_date_is_no_datetime() -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("support_start"), "2026-01-01")


def test_the_int_2_is_no_boolean() -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("emailoptout"), 2)


def test_an_empty_mandatory_field_is_missing_on_create() -> None:
    assert missing_mandatory(MODULE, {"lastname": ""}, creating=True) == ["lastname"]


def test_a_field_the_server_did_not_return_is_reported_altered() -> None:
    altered = altered_fields(MODULE, {"lastname": "Smith", "email": "a@b.c"},
                             {"lastname": "Smith"})
    assert [(a.field, a.stored) for a in altered] == [("email", None)]


# ----------------------------------------------------------------------------- numbers
CURRENCY = FieldSpec("amount", "currency")
INTEGER = FieldSpec("qty", "integer")


@pytest.mark.parametrize("ftype", ["integer", "double", "currency", "percentage", "decimal"])
def test_every_number_type_is_written_in_plain_digits(ftype: str) -> None:
    assert to_wire(FieldSpec("n", ftype), Decimal("1E+3")) == "1000"
    assert to_wire(FieldSpec("n", ftype), 7) == "7"


@pytest.mark.parametrize("ftype", ["integer", "double", "currency", "percentage", "decimal"])
def test_a_blank_number_empties_the_field(ftype: str) -> None:
    assert to_wire(FieldSpec("n", ftype), "") == ""
    assert to_wire(FieldSpec("n", ftype), "  ") == ""


@pytest.mark.parametrize("ftype", ["integer", "double", "currency", "percentage", "decimal"])
def test_every_number_type_reads_the_servers_padding_as_the_same_number(ftype: str) -> None:
    assert wire_equal(ftype, "5", "5.00000000")
    assert wire_equal(ftype, "", "0")  # Vtiger stores an empty number as 0


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), "NaN", "-Infinity",
                                 math.inf, [1], {"n": 1}, dt.date(2026, 1, 1)])
def test_values_that_are_no_finite_number_are_refused(bad: object) -> None:
    for spec in (CURRENCY, INTEGER):
        with pytest.raises(InvalidValue):
            to_wire(spec, bad)


@pytest.mark.parametrize("ftype", ["integer", "double", "currency", "percentage", "decimal"])
@pytest.mark.parametrize("too_big", [Decimal("1E+999"), 1e300, "-100000000000000000", 10**17])
def test_a_number_no_vtiger_column_holds_is_refused_naming_the_limit(ftype: str,
                                                                       too_big: object) -> None:
    with pytest.raises(InvalidValue, match="17 digits"):
        to_wire(FieldSpec("n", ftype), too_big)


def test_the_largest_number_a_vtiger_column_holds_is_written() -> None:
    assert to_wire(CURRENCY, "99999999999999999.99") == "99999999999999999.99"
    assert to_wire(INTEGER, -99999999999999999) == "-99999999999999999"


def test_negative_zero_is_written_as_zero() -> None:
    assert to_wire(CURRENCY, -0.0) == "0"
    assert to_wire(CURRENCY, "-0.000") == "0"


def test_float_noise_is_dropped_above_one_too() -> None:
    assert to_wire(CURRENCY, 1.1 + 2.2) == "3.3"


def test_a_float_in_exponent_form_is_written_whole() -> None:
    assert to_wire(CURRENCY, 1e16) == "10000000000000000"
    assert to_wire(CURRENCY, 5e16) == "50000000000000000"


def test_a_number_that_is_no_number_never_equals_one() -> None:
    assert not wire_equal("currency", "abc", "1")
    assert not wire_equal("currency", "1", "abc")


def test_blank_numbers_on_either_side_are_zero() -> None:
    assert wire_equal("currency", "  ", "0.00000000")
    assert wire_equal("currency", "0", "")
    assert wire_equal("currency", "0", " ")
    assert not wire_equal("currency", "1", "")


# ----------------------------------------------------------------------------- booleans
@pytest.mark.parametrize(("text", "wire"), [
    ("1", "1"), ("true", "1"), ("on", "1"), ("yes", "1"), (" TRUE ", "1"), ("Yes", "1"),
    ("0", "0"), ("false", "0"), ("off", "0"), ("no", "0"), ("OFF", "0"), (" No", "0"),
    ("", "0")])
def test_every_boolean_spelling_is_read_in_any_case(text: str, wire: str) -> None:
    assert to_wire(field("emailoptout"), text) == wire


@pytest.mark.parametrize(("ours", "theirs"), [("1", "ON"), ("Yes", "1"), ("1 ", " on"),
                                              ("0", "Off"), ("FALSE", "0")])
def test_the_servers_boolean_spellings_compare_equal(ours: str, theirs: str) -> None:
    assert wire_equal("boolean", ours, theirs)


@pytest.mark.parametrize("theirs", ["maybe", "2"])
def test_a_stored_value_that_is_no_boolean_is_a_change(theirs: str) -> None:
    assert not wire_equal("boolean", "0", theirs)
    assert not wire_equal("boolean", "1", theirs)


# ----------------------------------------------------------------------------- dates, times
def test_a_datetime_object_at_midnight_is_a_date() -> None:
    assert to_wire(field("birthday"), dt.datetime(2026, 1, 2)) == "2026-01-02"
    utc_midnight = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    assert to_wire(field("birthday"), utc_midnight) == "2026-01-02"


@pytest.mark.parametrize("moment", [
    dt.datetime(2026, 1, 2, 10, 30), dt.datetime(2026, 1, 2, 1, 0),
    dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))])
def test_a_datetime_object_with_a_time_is_no_date(moment: dt.datetime) -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("birthday"), moment)


@pytest.mark.parametrize("text", ["2026-01-02T00:00:00Z", "2026-01-02T00:00:00",
                                  "2026-01-02 00:00:00", " 2026-01-02 "])
def test_a_date_may_come_as_midnight_or_with_blanks(text: str) -> None:
    assert to_wire(field("birthday"), text) == "2026-01-02"


@pytest.mark.parametrize("name", ["birthday", "support_start", "calltime"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_date_or_time_empties_the_field(name: str, blank: str) -> None:
    assert to_wire(field(name), blank) == ""


@pytest.mark.parametrize("text", ["20260101", "2026-W01-4", "2026-01-01Z"])
def test_a_date_in_any_iso_spelling_is_no_datetime(text: str) -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("support_start"), text)


@pytest.mark.parametrize(("text", "wire"), [
    (" 2026-11-22T07:24:24z ", "2026-11-22 07:24:24"),
    ("2026-11-22 07:24", "2026-11-22 07:24:00"),
    ("2026-11-22T09:24:24+02:00", "2026-11-22 07:24:24")])
def test_datetimes_are_read_in_rfc_3339_spellings(text: str, wire: str) -> None:
    assert to_wire(field("support_start"), text) == wire


@pytest.mark.parametrize("bad", ["not a time", "2026-13-01T00:00:00", 20260101,
                                 "2026-11-22T07:24:24+02:00Z"])
def test_values_that_are_no_datetime_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("support_start"), bad)


def test_time_objects_and_padded_texts_are_times() -> None:
    assert to_wire(field("calltime"), dt.time(9, 5, 7)) == "09:05:07"
    assert to_wire(field("calltime"), " 9:05 ") == "09:05:00"
    assert to_wire(field("calltime"), "23:59:59") == "23:59:59"


@pytest.mark.parametrize("bad", [905, 9.5, "9h05"])
def test_values_that_are_no_time_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValue):
        to_wire(field("calltime"), bad)


def test_emptying_a_date_or_datetime_is_a_change() -> None:
    assert not wire_equal("date", "", "2026-01-01")
    assert not wire_equal("datetime", "", "2026-01-01 10:00:00")
    assert not wire_equal("date", "2026-01-01", "0000-00-00")


def test_the_servers_empty_datetime_is_empty() -> None:
    assert wire_equal("datetime", "", "0000-00-00 00:00:00")
    assert wire_equal("datetime", "", None)


def test_a_date_read_back_with_blanks_is_the_same_date() -> None:
    assert wire_equal("date", "2026-01-01", "2026-01-01 ")
    assert wire_equal("date", " 2026-01-01", "2026-01-01")


def test_a_time_that_cannot_be_read_is_a_change() -> None:
    assert not wire_equal("time", "09:00:00", "later")
    assert not wire_equal("time", "later", "09:00:00")


# ----------------------------------------------------------------------------- text
PHONE = FieldSpec("phone", "phone")


def test_numbers_sent_for_text_are_written_in_plain_digits() -> None:
    assert to_wire(PHONE, 5550123) == "5550123"
    assert to_wire(PHONE, Decimal("12.50")) == "12.50"
    assert to_wire(PHONE, 1e16) == "10000000000000000"
    assert to_wire(PHONE, 2.5) == "2.5"


@pytest.mark.parametrize("bad", [math.nan, math.inf, dt.date(2026, 1, 1), object(), True])
def test_values_that_are_no_text_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValue):
        to_wire(PHONE, bad)


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidValue, match="surrogate"):
        to_wire(PHONE, "a\ud800b")


def test_a_refusal_reads_as_its_reason() -> None:
    with pytest.raises(InvalidValue) as err:
        to_wire(field("email"), "bob")
    assert str(err.value) == err.value.message == "'bob' is not an e-mail address"
    assert err.value.code == "INVALID_TYPE"


@pytest.mark.parametrize("address", ["a@b.c", " a@b.c ", ""])
def test_addresses_with_an_at_and_no_inner_blank_are_emails(address: str) -> None:
    assert to_wire(field("email"), address) == address


def test_an_address_with_a_blank_inside_is_no_email() -> None:
    with pytest.raises(InvalidValue, match="e-mail"):
        to_wire(field("email"), "a b@c.d")


# ----------------------------------------------------------------------------- ids, picklists
ACCOUNT = FieldSpec("account_id", "reference")
OWNER = FieldSpec("assigned_user_id", "owner")


@pytest.mark.parametrize("spec", [ACCOUNT, OWNER])
def test_reference_and_owner_fields_take_vtiger_ids(spec: FieldSpec) -> None:
    assert to_wire(spec, " 19x1 ") == "19x1"
    assert to_wire(spec, "") == ""
    for bad in ("Administrator", 11, ["19x1"]):
        with pytest.raises(InvalidValue):
            to_wire(spec, bad)


TAGS = FieldSpec("tags", "multipicklist", picklist_values=("Red", "Green", "Blue"))


def test_multipicklist_values_may_come_joined_without_blanks() -> None:
    assert to_wire(TAGS, "Red|##|Blue") == "Red |##| Blue"
    assert to_wire(TAGS, ("Green",)) == "Green"


def test_a_multipicklist_value_must_be_text_or_a_list() -> None:
    with pytest.raises(InvalidValue):
        to_wire(TAGS, 5)


def test_a_picklist_without_listed_values_takes_any_text() -> None:
    assert to_wire(FieldSpec("p", "picklist"), "Anything") == "Anything"


def test_an_empty_item_of_a_stored_multipicklist_is_no_value() -> None:
    assert wire_equal("multipicklist", "Red", "Red |##| ")
    assert wire_equal("multipicklist", "Red |##| ", "Red")
    assert wire_equal("multipicklist", "", " ")
    assert not wire_equal("multipicklist", "Red", "Red |##| Blue")


@pytest.mark.parametrize(("ftype", "ours", "theirs"), [
    ("string", "a", "b"), ("string", "", None), ("boolean", "1", "maybe"),
    ("time", "x", "09:00"), ("date", "", "2026-01-01"), ("multipicklist", "Red", "Blue"),
    ("currency", "1", "2"), ("boolean", "1", "0"), ("time", "09:00", "09:00:00")])
def test_the_answer_to_same_value_is_a_bool(ftype: str, ours: str, theirs: str | None) -> None:
    assert isinstance(wire_equal(ftype, ours, theirs), bool)


def test_a_field_returned_empty_equals_an_empty_value() -> None:
    assert wire_equal("string", "", None)
    assert wire_equal("string", None, None)
    assert not wire_equal("string", "x", None)


# ----------------------------------------------------------------------------- describe
def test_a_field_described_without_type_or_editable_is_editable_text() -> None:
    spec = FieldSpec.from_describe({"name": "note"})
    assert (spec.type, spec.editable, spec.mandatory, spec.picklist_values, spec.refers_to) == (
        "string", True, False, None, ())


def test_an_autogenerated_field_is_read_only_even_when_described_editable() -> None:
    spec = FieldSpec.from_describe({"name": "contact_no", "editable": True,
                                    "type": {"name": "autogenerated"}})
    assert not spec.editable


def test_a_reference_field_knows_the_modules_it_refers_to() -> None:
    spec = FieldSpec.from_describe({"name": "account_id", "type": {
        "name": "reference", "refersTo": ["Accounts", "Leads"]}})
    assert spec.refers_to == ("Accounts", "Leads")


def test_a_module_reads_its_name_prefix_and_permissions_from_describe() -> None:
    module = ModuleSpec.from_describe({"name": "Contacts", "idPrefix": "12", "fields": [],
                                       "createable": False, "updateable": False,
                                       "deleteable": False})
    assert (module.name, module.id_prefix, module.createable, module.updateable,
            module.deleteable) == ("Contacts", "12", False, False, False)


def test_a_module_described_without_permissions_allows_everything() -> None:
    module = ModuleSpec.from_describe({"fields": []})
    assert (module.name, module.id_prefix, module.createable, module.updateable,
            module.deleteable) == ("", "", True, True, True)


def test_a_pseudo_field_has_the_type_string() -> None:
    assert MODULE.field_type("label") == "string"


def test_padded_numbers_and_boolean_spellings_are_no_change() -> None:
    module = ModuleSpec("Products", "14", {"unit_price": FieldSpec("unit_price", "currency"),
                                           "discontinued": FieldSpec("discontinued", "boolean")})
    assert changed_fields(module, {"unit_price": "1000.5", "discontinued": "1"},
                          {"unit_price": "1000.50000000", "discontinued": "on"}) == {}


# ----------------------------------------------------------------------------- records
def test_an_empty_deletion_mark_is_no_deletion() -> None:
    assert not convert_record(MODULE, {"lastname": "X", "_sdc_deleted_at": ""}).deleted


@pytest.mark.parametrize("empty", [None, ""])
def test_an_empty_id_is_no_id(empty: str | None) -> None:
    conv = convert_record(MODULE, {"id": empty, "lastname": "X"})
    assert (conv.id, conv.problems) == (None, [])


def test_an_id_with_blanks_around_it_is_the_id() -> None:
    assert convert_record(MODULE, {"id": " 12x3 ", "lastname": "X"}).id == "12x3"


def test_an_id_of_another_module_is_a_problem_of_the_id_field() -> None:
    conv = convert_record(MODULE, {"id": "11x2", "lastname": "X"})
    assert [(p.field, p.code) for p in conv.problems] == [("id", "INVALID_ID")]
    assert str(conv.problems[0]).startswith("id: '11x2' is not an id of module Contacts")


def test_an_id_with_two_x_is_refused() -> None:
    conv = convert_record(MODULE, {"id": "12x3x4", "lastname": "X"})
    assert [p.code for p in conv.problems] == ["INVALID_ID"]


def test_a_problem_reads_as_field_then_reason() -> None:
    assert str(FieldProblem("birthday", "INVALID_TYPE", "not a date")) == "birthday: not a date"


def test_an_alteration_reads_as_field_sent_and_stored() -> None:
    assert str(Alteration("amount", "1000.5", "1001.00000000")) == (
        "amount: sent '1000.5', stored '1001.00000000'")


def test_the_id_sent_is_never_reported_altered() -> None:
    assert altered_fields(MODULE, {"id": "12x3", "lastname": "S"}, {"lastname": "S"}) == []
    assert altered_fields(MODULE, {"id": "12x3"}, {"id": "12x4"}) == []


def test_a_field_returned_as_null_is_reported_stored_as_none() -> None:
    altered = altered_fields(MODULE, {"email": "a@b.c"}, {"email": None})
    assert [(a.field, a.sent, a.stored) for a in altered] == [("email", "a@b.c", None)]


def test_a_refused_date_or_time_text_is_quoted_with_the_form_expected() -> None:
    with pytest.raises(InvalidValue) as err:
        to_wire(field("birthday"), "17/05/1990")
    assert err.value.message == "'17/05/1990' is not a date (YYYY-MM-DD)"
    with pytest.raises(InvalidValue) as err:
        to_wire(field("calltime"), "9h05")
    assert err.value.message == "'9h05' is not a time (HH:MM:SS)"
