"""Match keys: a record finds the stored record the server would find, and only that one."""

from __future__ import annotations

import pytest

from target_vtiger.matching import key_variants, lookup, record_key, row_key
from target_vtiger.storedform import bmp_only
from target_vtiger.validation import FieldSpec, ModuleSpec
from vtiger_client.collation import text_key

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


def test_different_numbers_do_not_match() -> None:
    stored = [{"id": "14x1", "unit_price": "2.50000000", "productname": "A"}]
    key = record_key(PRODUCTS, ["unit_price"], {"unit_price": "1.5"})
    found = lookup(PRODUCTS, [], ["unit_price"], {key: ["1.5"]}, lambda m, f, v: stored)
    assert found.by_key == {}


def test_a_number_key_that_is_no_number_is_compared_as_trimmed_text() -> None:
    def key(value: str):
        return record_key(PRODUCTS, ["unit_price"], {"unit_price": value})

    assert key("n/a ") == key(" n/a") != key("tbd")


def test_a_key_stored_with_question_marks_for_emoji_is_found() -> None:
    # a default self-hosted server (3-byte utf8) stores 4-byte characters as "?"
    stored = [{"id": "14x1", "productname": "Mug ?"}, {"id": "14x2", "productname": "Mug !"}]
    key = record_key(PRODUCTS, ["productname"], {"productname": "Mug 😀"})
    found = lookup(PRODUCTS, [], ["productname"], {key: ["Mug 😀"]}, lambda m, f, v: stored)
    assert [r["id"] for r in found.by_key[key]] == ["14x1"]


def test_a_record_found_by_two_spellings_of_its_key_is_one_match() -> None:
    stored = [{"id": "14x1", "productname": "Mug ?"}]
    stored += [{"id": f"14x{i + 2}", "productname": f"Mug a{i:03d}"} for i in range(100)]

    def server(module: str, field: str, values: list[str]) -> list[dict[str, str]]:
        # reads "Mug 😀" in a query as "Mug ?", as it stored it
        wanted = {text_key(bmp_only(v)) for v in values}
        return [r for r in stored if text_key(r[field]) in wanted]

    raw = {"Mug 😀": ["Mug 😀"]} | {f"Mug a{i:03d}": [f"Mug a{i:03d}"] for i in range(100)}
    key_values = {record_key(PRODUCTS, ["productname"], {"productname": v[0]}): v
                  for v in raw.values()}
    found = lookup(PRODUCTS, [], ["productname"], key_values, server)
    assert found.queries == 2  # the two spellings of the key went out in different queries
    key = record_key(PRODUCTS, ["productname"], {"productname": "Mug 😀"})
    assert [r["id"] for r in found.by_key[key]] == ["14x1"]


def test_a_record_with_an_empty_key_has_no_match_key() -> None:
    assert key_variants(PRODUCTS, ["productname"], [""]) == []
    assert key_variants(PRODUCTS, ["productname"], ["  "]) == []


def test_a_stored_record_with_an_empty_key_field_has_no_match_key() -> None:
    assert row_key(PRODUCTS, ["productname"], {"id": "14x1"}) is None
    assert row_key(PRODUCTS, ["productname"], {"id": "14x1", "productname": None}) is None
    assert row_key(PRODUCTS, ["productname"], {"id": "14x1", "productname": ""}) is None


def test_a_key_that_found_no_record_is_absent_from_the_matches() -> None:
    key = record_key(PRODUCTS, ["productname"], {"productname": "Lamp"})
    found = lookup(PRODUCTS, [], ["productname"], {key: ["Lamp"]}, lambda m, f, v: [])
    with pytest.raises(KeyError):
        found.by_key[key]
    assert found.by_key == {}
