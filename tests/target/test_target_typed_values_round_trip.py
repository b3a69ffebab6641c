"""What the tap reads, the target writes back unchanged.

Round trip at the value level: a wire value the server holds -> the tap's typed value ->
the target's wire value -> the same stored value (and the tap parses it back to the same
typed value). This is what makes tap -> target -> tap exact and "unchanged" cost no write.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from target_vtiger.validation import FieldSpec, to_wire, wire_equal
from vtiger_client.types import value_parser

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
WIRE = {
    "integer": st.integers(-(10**12), 10**12).map(str),
    "currency": st.decimals(-(10**9), 10**9, places=8, allow_nan=False).map(lambda d: f"{d:.8f}"),
    "double": st.decimals(-(10**6), 10**6, places=3, allow_nan=False).map(lambda d: f"{d:.3f}"),
    "boolean": st.sampled_from(["0", "1"]),
    "date": st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(dt.date.isoformat),
    "datetime": st.datetimes(dt.datetime(1970, 1, 2), dt.datetime(2100, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    ),
    "time": st.times().map(lambda t: t.strftime("%H:%M:%S")),
    "string": TEXT,
    "text": TEXT,
    "reference": st.builds(lambda a, b: f"{a}x{b}", st.integers(1, 99), st.integers(1, 10**6)),
    "multipicklist": st.lists(st.sampled_from(["Red", "Green", "Blue"]), unique=True).map(
        " |##| ".join
    ),
}


def check(ftype: str, wire: str) -> None:
    field = {"name": "f", "type": {"name": ftype}}
    parse = value_parser(field) or (lambda v: v)
    typed = parse(wire)
    ours = to_wire(FieldSpec("f", ftype), typed)
    assert wire_equal(ftype, ours, wire), (ftype, wire, typed, ours)
    assert parse(ours) == typed


@settings(max_examples=600)
@given(st.data())
def test_every_type_round_trips_through_the_tap_representation(data):
    ftype = data.draw(st.sampled_from(sorted(WIRE)))
    check(ftype, data.draw(WIRE[ftype]))


def test_typed_examples():
    check("currency", "1000.50000000")
    check("boolean", "1")
    assert to_wire(FieldSpec("f", "currency"), Decimal("1000.50000000")) == "1000.5"
