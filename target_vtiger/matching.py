"""Finding the Vtiger records a batch of incoming records corresponds to.

The whole batch is looked up at once: one ``select * from M where k in (...)`` per 100 distinct
values (VTQL's row cap and the target's call budget), instead of one query per record. Values
are quoted by :func:`vtiger_client.vtql.literal`, never pasted.

Text keys are compared by one rule, the server's (:func:`vtiger_client.collation.text_key`:
case-insensitive, trailing blanks ignored, leading blanks and tabs significant, ``ß`` is not
``ss``), in the in-batch dedupe, in the lookup query (the server applies it) and in the
comparison of the rows that come back. Any other rule either misses a row the server found
(a duplicate is created) or merges two keys the server keeps apart (a record is dropped).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from target_vtiger.storedform import TEXT_TYPES, bmp_only
from target_vtiger.validation import ModuleSpec
from vtiger_client import types as vtypes
from vtiger_client.collation import text_key
from vtiger_client.vtql import ROW_CAP

#: Most values in one ``in (...)`` list.
LOOKUP_CHUNK = 100
#: Most rows one query returns: the server's cap, whatever ``limit`` asks.
QUERY_ROW_CAP = ROW_CAP

Key = tuple[str, ...]


def normalize_key_value(ftype: str, value: str) -> str:
    """Canonical form of one wire value for matching (see module docstring)."""
    if ftype in vtypes.NUMERIC_TYPES:
        try:
            return str(Decimal(value.strip()).normalize())
        except InvalidOperation:
            return value.strip()
    return text_key(value)


def record_key(module: ModuleSpec, keys: Sequence[str], wire: dict[str, str]) -> Key | None:
    """The match key of a record, or None when any key field is missing or empty.

    An empty key is never looked up: it would match every record with an empty field (and
    ``= ''`` crashes the real server's tokenizer).
    """
    parts = []
    for name in keys:
        value = wire.get(name)
        if value is None or text_key(value) == "":
            return None
        parts.append(normalize_key_value(module.field_type(name), value))
    return tuple(parts)


def stored_spellings(
    module: ModuleSpec, keys: Sequence[str], raw: Sequence[str]
) -> list[list[str]]:
    """The key values as sent, then as a default self-hosted server stores them (4-byte
    characters as ``?``): a key Vtiger stored altered must still find its record next run.
    """
    spellings = [list(raw)]
    altered = [
        bmp_only(v) if module.field_type(k) in TEXT_TYPES else v
        for k, v in zip(keys, raw, strict=False)
    ]
    if altered != spellings[0]:
        spellings.append(altered)
    return spellings


def key_variants(module: ModuleSpec, keys: Sequence[str], raw: Sequence[str]) -> list[Key]:
    """Every match key a record holding ``raw`` may be stored under (see stored_spellings)."""
    out: list[Key] = []
    for spelling in stored_spellings(module, keys, raw):
        key = record_key(module, keys, dict(zip(keys, spelling, strict=False)))
        if key is not None and key not in out:
            out.append(key)
    return out


def row_key(module: ModuleSpec, keys: Sequence[str], row: dict[str, Any]) -> Key | None:
    """The match key of an existing record (wire form, from ``query``)."""
    return record_key(module, keys, {k: str(row.get(k) or "") for k in keys})


@dataclass
class LookupResult:
    """Existing records of one batch, by id and by match key."""

    by_id: dict[str, dict[str, Any]]
    by_key: dict[Key, list[dict[str, Any]]]
    queries: int = 0


QueryFn = Callable[[str, str, list[str]], list[dict[str, Any]]]
"""``(module, field, values) -> rows``: runs ``select * from module where field in values``."""


def chunked(values: Sequence[str], size: int = LOOKUP_CHUNK) -> Iterable[list[str]]:
    """Split ``values`` into lists of at most ``size`` (order kept)."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def lookup(
    module: ModuleSpec,
    ids: Iterable[str],
    keys: Sequence[str],
    key_values: dict[Key, list[str]],
    query: QueryFn,
) -> LookupResult:
    """Find existing records by id and by match key with as few queries as possible.

    ``key_values`` maps each normalized key to the raw wire values of the record (so the query
    uses the record's own spelling). For compound keys only the first field goes into the
    ``in (...)`` list; rows are then filtered on the full key in Python, since VTQL has no
    tuple comparison and no parentheses.
    """
    result = LookupResult(by_id={}, by_key=defaultdict(list))
    unique_ids = sorted(set(ids))
    for chunk in chunked(unique_ids):
        result.queries += 1
        for row in query(module.name, "id", chunk):
            result.by_id[str(row.get("id"))] = row
    if keys and key_values:
        # each stored spelling of a key points back at the key the batch knows
        wanted: dict[Key, Key] = {}
        first_values: set[str] = set()
        for key, raw in key_values.items():
            for spelling in stored_spellings(module, keys, raw):
                first_values.add(spelling[0])
            for variant in key_variants(module, keys, raw):
                wanted.setdefault(variant, key)
        seen: set[tuple[Key, str]] = set()
        for chunk in chunked(sorted(first_values)):
            result.queries += 1
            for row in query(module.name, keys[0], chunk):
                rid = str(row.get("id"))
                k = row_key(module, keys, row)
                if k in wanted and (wanted[k], rid) not in seen:
                    seen.add((wanted[k], rid))
                    result.by_key[wanted[k]].append(row)
    result.by_key = dict(result.by_key)
    return result
