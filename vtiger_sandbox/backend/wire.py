"""Stored records -> the form a real server sends them in, which is not quite their describe."""

from __future__ import annotations

import html
from decimal import Decimal, InvalidOperation
from html.entities import codepoint2name
from typing import Any

from ..modules import Module

#: Fields real records carry although the describe does not list them (value on a new record).
UNDECLARED_FIELDS: dict[str, dict[str, str]] = {"HelpDesk": {"update_log": ""}}

#: Price/tax pseudo-fields the describe lists but that are no table columns on a real server:
#: records never carry ``tax1``-``tax3``; ``currency1`` (a JSON number) and ``currency_id`` (not
#: in the describe) come only with a single record (create, retrieve, update, revise), never
#: with query or sync rows (vtiger-reference create_Products, query_Products, sync_typed_Products).
PRICED_MODULES = frozenset({"Products", "Services"})
TAX_PSEUDO_FIELDS = ("tax1", "tax2", "tax3")


def htmlentities(text: str) -> str:
    """How Vtiger escapes record labels (PHP's htmlentities: ``&Uuml;``, ``&quot;``)."""
    out = html.escape(text, quote=True).replace("&#x27;", "&#039;")
    return "".join(
        f"&{codepoint2name[ord(ch)]};" if ord(ch) > 127 and ord(ch) in codepoint2name else ch
        for ch in out
    )


def label(m: Module, rec: dict) -> str:
    """Record label as Vtiger computes it (labelFields joined, HTML-entity encoded)."""
    names = [n.strip() for n in str(m.describe.get("labelFields", "")).split(",") if n]
    names = [n for n in names if n in m.fields]
    if not names:
        names = [
            f["name"] for f in m.describe["fields"]
            if f.get("mandatory") and f["type"]["name"] in ("string", "text")
        ][:1]
    text = " ".join(rec.get(n, "") for n in names if rec.get(n, "")).strip()
    return htmlentities(text)


def wire_record(modules: dict[str, Module], m: Module, rec: dict, single: bool,
                currency1: int | None = None) -> dict:
    """A stored record in the form a real server sends it, which is not its describe.

    ``single``: the form of one record (create, retrieve, update, revise); else the form of
    query and sync rows. ``currency1``: the number a priced module's single record carries
    (default: the whole part of its ``unit_price``).
    """
    extra = UNDECLARED_FIELDS.get(m.name)
    priced = m.name in PRICED_MODULES
    if not extra and not priced:
        return rec
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if priced and (k in TAX_PSEUDO_FIELDS or k == "currency1"):
            continue
        out[k] = v
        if extra and k == "ticketcategories":
            out.update(extra)
    if extra:
        for k, v in extra.items():
            out.setdefault(k, v)
    if priced and single:
        if currency1 is None:
            try:
                currency1 = int(Decimal(str(rec.get("unit_price") or "0")))
            except (InvalidOperation, ValueError):
                currency1 = 0
        out["currency1"] = currency1
        out["currency_id"] = f"{modules['Currency'].id_prefix}x1"
    return out


def with_label(modules: dict[str, Module], m: Module, rec: dict,
               currency1: int | None = None) -> dict:
    """A single record as create/update/revise (and retrieve) answer it."""
    out = wire_record(modules, m, rec, single=True, currency1=currency1)
    out["label"] = label(m, rec)
    if m.name in PRICED_MODULES:
        # after the label, as on the real server
        out["currency1"] = out.pop("currency1")
        out["currency_id"] = out.pop("currency_id")
    return out


def wire_rows(modules: dict[str, Module], m: Module, all_fields: list[str], names: list[str],
              rows: list[dict]) -> list[dict]:
    """Query/sync rows in the real server's form (only rows of every field change)."""
    if (m.name not in UNDECLARED_FIELDS and m.name not in PRICED_MODULES) or \
            names != all_fields:
        return rows
    return [wire_record(modules, m, r, single=False) for r in rows]


def rows_to_records(names: list[str], rows: list[tuple]) -> list[dict]:
    """SQLite rows -> wire dicts. Values are TEXT already; non-text ones are stringified."""
    if not rows:
        return []
    first = rows[0]
    if all(isinstance(v, str) for v in first):
        return [dict(zip(names, r, strict=False)) for r in rows]
    return [
        {n: _text(v) for n, v in zip(names, r, strict=False)}
        for r in rows
    ]


def _text(v: object) -> str:
    return "" if v is None else v if isinstance(v, str) else str(v)
