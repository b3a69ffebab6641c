"""What the target refuses or reports before and after a write, one behaviour per test."""

from __future__ import annotations

import pytest

from target_vtiger.validation import (
    FieldSpec,
    InvalidValue,
    ModuleSpec,
    altered_fields,
    changed_fields,
    missing_mandatory,
    to_wire,
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
