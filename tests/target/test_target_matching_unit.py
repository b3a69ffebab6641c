"""Match keys: a record finds the stored record the server would find, and only that one."""

from __future__ import annotations

from target_vtiger.matching import lookup, record_key
from target_vtiger.validation import FieldSpec, ModuleSpec

PRODUCTS = ModuleSpec(
    name="Products",
    id_prefix="14",
    fields={"unit_price": FieldSpec("unit_price", "currency"),
            "productname": FieldSpec("productname", "string")},
)


def test_a_number_key_matches_its_padded_stored_form() -> None:
    stored = [{"id": "14x1", "unit_price": "1.50000000", "productname": "A"}]
    key = record_key(PRODUCTS, ["unit_price"], {"unit_price": "1.5"})
    assert key is not None
    found = lookup(PRODUCTS, [], ["unit_price"], {key: ["1.5"]}, lambda m, f, v: stored)
    assert [r["id"] for r in found.by_key[key]] == ["14x1"]


def test_a_blank_only_key_is_never_looked_up() -> None:
    assert record_key(PRODUCTS, ["productname"], {"productname": "   "}) is None
