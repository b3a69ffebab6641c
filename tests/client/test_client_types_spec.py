"""The wire codec, specified value by value: what the tap emits and the target sends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from vtiger_client.types import datetime_to_unix, value_parser, value_serializer

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
