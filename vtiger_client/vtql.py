r"""Building VTQL statements safely; shared by the tap and the target.

Why this module exists: VTQL has no bound parameters, so every value a record or a user
supplies is pasted into the statement text. One mis-escaped quote turns "find the contact
with this e-mail" into "find nothing" or "find something else". Everything here is a pure
function; values go through :func:`literal`, names through :func:`identifier`.

What Vtiger wants (``/work/shared/vtiger-notes.md``, "VTQL"):

* Strings are single-quoted; a quote is doubled (``''``), a backslash doubled (``\\``).
  Inside ``like`` a backslash escapes ``%`` and ``_``, so a literal backslash in a pattern is
  ``\\\\`` on the wire (:func:`like_literal` does both levels).
* The empty string cannot be written at all (the real server's lexer fails on ``''`` with
  ``INTERNAL_SERVER_ERROR``), so :func:`literal` refuses it with ``ValueError``.
* Decimal numbers must be quoted; we quote every value (``emailoptout = '1'`` works too).
* Names (modules, fields) cannot be quoted, so they must look like ``[A-Za-z_][A-Za-z0-9_]*``.
* No parentheses around conditions and MySQL precedence (``and`` before ``or``): a
  :class:`Condition` is kept as an OR of ANDs and rendered without parentheses; ``and_`` of
  alternatives distributes (``(a or b) and c`` -> ``a and c or b and c``), which means the same.
* One trailing ``asc``/``desc`` in ``order by`` applies to the last column only.
* ``limit [offset,] n``; the server returns at most 100 rows whatever ``n`` says.

This module must not import ``vtiger_sandbox`` (the client runs against real servers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import TypeVar

__all__ = [
    "MAX_DISJUNCTS", "ROW_CAP", "Condition", "and_", "chunks", "eq", "ge", "gt", "identifier",
    "in_", "in_clause", "le", "like", "like_literal", "literal", "lt", "ne", "or_", "select",
]

#: Rows a real server returns per query at most, whatever ``limit`` asks.
ROW_CAP = 100
#: Bound on the alternatives ``and_`` may produce by distributing; beyond it, split the query.
MAX_DISJUNCTS = 64

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_T = TypeVar("_T")

Value = str | int | float | Decimal | bool | datetime | date | time


def identifier(name: str) -> str:
    """``name`` unchanged when it can stand unquoted in VTQL; ``ValueError`` otherwise."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"not a VTQL name: {name!r}")
    return name


def _text(value: Value) -> str:
    """The wire text of a value (what the server stores), before quoting."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no VTQL literal for {value!r}")
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"no VTQL literal for {value!r}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, str):
        return value
    raise TypeError(f"no VTQL literal for a {type(value).__name__}")


def _quote(text: str) -> str:
    if text == "":
        raise ValueError("VTQL cannot express the empty string ('' is a lexer error on Vtiger)")
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def literal(value: Value) -> str:
    r"""A quoted VTQL literal: ``O'Brien`` -> ``'O''Brien'``, ``a\b`` -> ``'a\\b'``.

    Numbers, booleans (``'1'``/``'0'``), dates (``'YYYY-MM-DD'``) and datetimes (UTC,
    ``'YYYY-MM-DD HH:MM:SS'``) are written as the server stores them, quoted. ``None`` and the
    empty string have no VTQL form and raise ``ValueError``.
    """
    if value is None:
        raise ValueError("VTQL has no null literal")
    return _quote(_text(value))


def like_literal(value: Value, match: str = "exact") -> str:
    r"""A quoted ``like`` pattern matching ``value`` literally (``%``, ``_``, ``\\`` escaped).

    ``match``: ``"exact"``, ``"prefix"`` (value%), ``"suffix"`` (%value) or ``"contains"``.
    Note that ``like`` ignores ASCII case on Vtiger (MySQL's default collation).
    """
    text = _text(value)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if match == "exact":
        pattern = escaped
    elif match == "prefix":
        pattern = escaped + "%"
    elif match == "suffix":
        pattern = "%" + escaped
    elif match == "contains":
        pattern = "%" + escaped + "%"
    else:
        raise ValueError(f"match must be exact, prefix, suffix or contains, not {match!r}")
    return _quote(pattern)


class Condition(str):
    """A VTQL condition: its text is the ``where`` clause body, ready to use as a ``str``.

    Kept as alternatives of conjunctions (``terms``) so that :func:`and_` / :func:`or_` can
    combine conditions without parentheses, which VTQL does not allow.
    """

    terms: tuple[tuple[str, ...], ...]

    def __new__(cls, terms: Iterable[Iterable[str]]) -> Condition:
        """Build from alternatives, each a sequence of atoms (``field op literal``)."""
        frozen = tuple(tuple(conj) for conj in terms)
        if not frozen or any(not conj for conj in frozen):
            raise ValueError("empty condition")
        obj = super().__new__(cls, " or ".join(" and ".join(conj) for conj in frozen))
        obj.terms = frozen
        return obj

    def __and__(self, other: object) -> Condition:
        if not isinstance(other, Condition):
            return NotImplemented
        return and_(self, other)

    def __or__(self, other: object) -> Condition:
        if not isinstance(other, Condition):
            return NotImplemented
        return or_(self, other)


def _atom(field: str, op: str, rendered: str) -> Condition:
    return Condition([[f"{identifier(field)} {op} {rendered}"]])


def eq(field: str, value: Value) -> Condition:
    """``field = value``."""
    return _atom(field, "=", literal(value))


def ne(field: str, value: Value) -> Condition:
    """``field != value`` (VTQL has no ``<>``)."""
    return _atom(field, "!=", literal(value))


def lt(field: str, value: Value) -> Condition:
    """``field < value``."""
    return _atom(field, "<", literal(value))


def le(field: str, value: Value) -> Condition:
    """``field <= value``."""
    return _atom(field, "<=", literal(value))


def gt(field: str, value: Value) -> Condition:
    """``field > value``."""
    return _atom(field, ">", literal(value))


def ge(field: str, value: Value) -> Condition:
    """``field >= value``."""
    return _atom(field, ">=", literal(value))


def like(field: str, value: Value, match: str = "exact") -> Condition:
    """``field like <pattern>`` with ``value`` matched literally (see :func:`like_literal`)."""
    return _atom(field, "like", like_literal(value, match))


def in_clause(field: str, values: Iterable[Value]) -> Condition:
    """``field in ('a', 'b', ...)``; at least one value (``in ()`` is a syntax error).

    Duplicates are dropped. Keep lists short (see :func:`chunks`): the whole statement
    travels in a URL.
    """
    rendered = list(dict.fromkeys(literal(v) for v in values))
    if not rendered:
        raise ValueError("in_clause needs at least one value")
    return _atom(field, "in", "(" + ", ".join(rendered) + ")")


in_ = in_clause


def _as_condition(cond: Condition | str) -> Condition:
    if isinstance(cond, Condition):
        return cond
    raise TypeError("combine Condition objects built by eq/in_clause/...; raw text could "
                    "change meaning without parentheses")


def and_(*conditions: Condition) -> Condition:
    """All of ``conditions``; alternatives are distributed so no parentheses are needed."""
    if not conditions:
        raise ValueError("and_ needs at least one condition")
    terms: list[tuple[str, ...]] = [()]
    for cond in map(_as_condition, conditions):
        terms = [left + right for left in terms for right in cond.terms]
        if len(terms) > MAX_DISJUNCTS:
            raise ValueError(f"condition grows past {MAX_DISJUNCTS} alternatives; split it "
                             "into several queries")
    return Condition(terms)


def or_(*conditions: Condition) -> Condition:
    """Any of ``conditions``."""
    if not conditions:
        raise ValueError("or_ needs at least one condition")
    return Condition([conj for cond in map(_as_condition, conditions) for conj in cond.terms])


def _count(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, not {value!r}")
    return value


def select(
    module: str,
    fields: str | Sequence[str] = "*",
    where: Condition | str | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    *,
    descending: bool = False,
) -> str:
    """One complete VTQL statement, ``;`` included.

    ``fields``: ``"*"``, ``"count(*)"``, a field name or a sequence of names. ``where``: a
    :class:`Condition` (or its text). ``order_by``: a name or names; ``descending`` applies to
    the last one (VTQL allows a single trailing direction). ``offset`` without ``limit`` asks
    for the server's cap (100 rows).
    """
    identifier(module)
    if fields == "*" or (isinstance(fields, str) and fields.lower() == "count(*)"):
        columns = fields
    else:
        names = [fields] if isinstance(fields, str) else list(fields)
        if not names:
            raise ValueError("select needs at least one field")
        columns = ", ".join(dict.fromkeys(identifier(n) for n in names))
    # VTQL text for the server, not SQL; names are checked by identifier(), values quoted.
    parts = [f"select {columns} from {module}"]  # noqa: S608
    if where is not None:
        text = str(where)
        if not text.strip():
            raise ValueError("empty where condition")
        parts.append(f"where {text}")
    if order_by is not None:
        keys = [order_by] if isinstance(order_by, str) else list(order_by)
        if not keys:
            raise ValueError("order_by needs at least one field")
        clause = "order by " + ", ".join(identifier(k) for k in keys)
        parts.append(clause + (" desc" if descending else ""))
    elif descending:
        raise ValueError("descending needs order_by")
    limit = _count(limit, "limit")
    offset = _count(offset, "offset")
    if offset is not None:
        parts.append(f"limit {offset}, {ROW_CAP if limit is None else limit}")
    elif limit is not None:
        parts.append(f"limit {limit}")
    return " ".join(parts) + ";"


def chunks(values: Iterable[_T], size: int = ROW_CAP) -> Iterator[list[_T]]:
    """``values`` in lists of at most ``size`` (for ``in`` lists: one query per chunk)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, not {size!r}")
    batch: list[_T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
