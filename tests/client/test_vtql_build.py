"""The client's VTQL builder: exact text, refusals, and round trips through the sandbox's parser.

The round trips are the point: whatever a value holds (quotes, backslashes, wildcards, ``;``,
``--``, emoji, newlines), the statement built for ``field = value`` must find exactly the record
holding that value, when parsed by a VTQL implementation that agrees with a real Vtiger
(``vtiger_sandbox.vtql``, checked against the real server's corpus).
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vtiger_client import vtql
from vtiger_client.collation import same_text
from vtiger_client.vtql import (
    Condition,
    and_,
    chunks,
    eq,
    ge,
    gt,
    in_clause,
    le,
    like,
    like_literal,
    literal,
    lt,
    ne,
    or_,
    select,
)
from vtiger_sandbox.modules import load_modules
from vtiger_sandbox.vtql import compile_query, install_collation

MODULES = load_modules()
CONTACTS = MODULES["Contacts"]


# ----------------------------------------------------------------------------- exact text
def test_literals_are_quoted_and_escaped_as_vtiger_wants() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    assert literal("a\\b") == "'a\\\\b'"
    assert literal("\\'") == "'\\\\'''"
    assert literal(5) == "'5'"
    assert literal(Decimal("1000.50")) == "'1000.50'"
    assert literal(0.1) == "'0.1'"
    assert literal(1e-7) == "'0.0000001'"
    assert literal(True) == "'1'" and literal(False) == "'0'"
    assert literal(date(2026, 1, 2)) == "'2026-01-02'"
    plus_two = timezone(timedelta(hours=2))
    assert literal(datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_two)) == "'2026-01-02 01:04:05'"
    assert literal(datetime(2026, 1, 2, 3, 4, 5)) == "'2026-01-02 03:04:05'"


@pytest.mark.parametrize("bad", ["", None, float("nan"), float("inf"), Decimal("NaN")])
def test_values_without_a_vtql_form_are_refused(bad) -> None:
    with pytest.raises(ValueError):
        literal(bad)


def test_other_types_are_refused() -> None:
    with pytest.raises(TypeError):
        literal([1])  # type: ignore[arg-type]


def test_like_literal_escapes_wildcards_then_quotes() -> None:
    assert like_literal("100%") == "'100\\\\%'"
    assert like_literal("a_b", "prefix") == "'a\\\\_b%'"
    assert like_literal("x\\y", "contains") == "'%x\\\\\\\\y%'"
    assert like_literal("end", "suffix") == "'%end'"
    with pytest.raises(ValueError):
        like_literal("x", "fuzzy")


@pytest.mark.parametrize("name", ["", "1abc", "last name", "a;b", "a'b", "Contacts.id",
                                  "shipping_&_handling", "é"])
def test_names_that_cannot_stand_unquoted_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        select(name)
    with pytest.raises(ValueError):
        eq(name, "x")
    with pytest.raises(ValueError):
        select("Contacts", [name])
    with pytest.raises(ValueError):
        select("Contacts", name)
    with pytest.raises(ValueError):
        select("Contacts", order_by=name)


def test_select_statements() -> None:
    assert select("Contacts") == "select * from Contacts;"
    assert select("Contacts", "count(*)") == "select count(*) from Contacts;"
    assert select("Contacts", ["id", "lastname", "id"]) == "select id, lastname from Contacts;"
    assert select("Contacts", "id", where=eq("lastname", "x"), order_by=["modifiedtime", "id"],
                  limit=100, offset=200) == (
        "select id from Contacts where lastname = 'x' order by modifiedtime, id "
        "limit 200, 100;")
    assert select("Contacts", order_by="lastname", descending=True, limit=5) == (
        "select * from Contacts order by lastname desc limit 5;")
    assert select("Contacts", offset=300) == "select * from Contacts limit 300, 100;"
    for bad in [dict(limit=-1), dict(offset=-5), dict(limit=True), dict(descending=True),
                dict(fields=[]), dict(order_by=[])]:
        with pytest.raises(ValueError):
            select("Contacts", **bad)


def test_in_clause_and_chunks() -> None:
    assert in_clause("email", ["a@x", "b'@x", "a@x"]) == "email in ('a@x', 'b''@x')"
    with pytest.raises(ValueError):
        in_clause("email", [])
    assert list(chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([], 3)) == []
    assert [len(c) for c in chunks(range(250))] == [100, 100, 50]
    with pytest.raises(ValueError):
        list(chunks([1], 0))


def test_conditions_combine_without_parentheses() -> None:
    a, b, c = eq("lastname", "a"), eq("lastname", "b"), eq("firstname", "c")
    assert and_(or_(a, b), c) == "lastname = 'a' and firstname = 'c' or lastname = 'b' and " \
                                 "firstname = 'c'"
    assert (a | b) & c == and_(or_(a, b), c)
    assert or_(a, and_(b, c)) == "lastname = 'a' or lastname = 'b' and firstname = 'c'"
    assert isinstance(a, str) and isinstance(a, Condition)
    with pytest.raises(TypeError):
        and_(a, "lastname = 'x' or 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        and_(*[or_(eq("a", "1"), eq("a", "2"))] * 7)  # 2**7 alternatives


def test_times_are_written_as_hours_minutes_seconds() -> None:
    assert literal(time(9, 5, 7)) == "'09:05:07'"


def test_decimals_in_exponent_notation_are_written_in_plain_digits() -> None:
    assert literal(Decimal("1E+3")) == "'1000'"
    assert literal(Decimal("1.5E-7")) == "'0.00000015'"


def test_each_comparison_is_written_with_its_vtql_operator() -> None:
    assert [str(op("amount", 5)) for op in (eq, ne, lt, le, gt, ge)] == [
        "amount = '5'", "amount != '5'", "amount < '5'", "amount <= '5'", "amount > '5'",
        "amount >= '5'"]


def test_count_star_may_be_written_in_capitals() -> None:
    assert select("Contacts", "COUNT(*)") == "select COUNT(*) from Contacts;"


def test_offset_and_limit_zero_are_written() -> None:
    assert select("Contacts", offset=0) == "select * from Contacts limit 0, 100;"
    assert select("Contacts", limit=0) == "select * from Contacts limit 0;"


@pytest.mark.parametrize("name", ["limit", "offset"])
def test_a_bad_count_is_refused_naming_the_argument(name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a non-negative int"):
        select("Contacts", **{name: -1})


@pytest.mark.parametrize("where", ["", "   "])
def test_a_blank_where_condition_is_refused(where: str) -> None:
    with pytest.raises(ValueError, match="empty where"):
        select("Contacts", where=where)


def test_chunks_of_one_hold_one_value_each() -> None:
    assert list(chunks("abc", 1)) == [["a"], ["b"], ["c"]]


def test_combining_nothing_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="and_ needs at least one condition"):
        and_()
    with pytest.raises(ValueError, match="or_ needs at least one condition"):
        or_()


def test_a_condition_may_grow_to_64_alternatives_and_no_further() -> None:
    def alternatives(n: int) -> Condition:
        return or_(*(eq("lastname", str(i)) for i in range(n)))

    assert len(and_(alternatives(8), alternatives(8)).terms) == 64
    with pytest.raises(ValueError, match="past 64 alternatives"):
        and_(alternatives(5), alternatives(13))  # 65


def test_a_condition_combined_with_another_type_lets_that_type_answer() -> None:
    class Other:
        def __rand__(self, other: object) -> str:
            return "other and"

        def __ror__(self, other: object) -> str:
            return "other or"

    assert (eq("lastname", "a") & Other()) == "other and"  # type: ignore[operator]
    assert (eq("lastname", "a") | Other()) == "other or"  # type: ignore[operator]
    with pytest.raises(TypeError):
        eq("lastname", "a") & 1  # type: ignore[operator]


# ------------------------------------------------------------------- through the parser
def make_contacts(values: list[str]) -> sqlite3.Connection:
    """A Contacts table in the sandbox's storage layout, one record per value (lastname)."""
    conn = sqlite3.connect(":memory:")
    install_collation(conn)
    cols = [n for n in CONTACTS.fields if n not in ("id", "deleted")]
    conn.execute(f"CREATE TABLE {CONTACTS.table} (crmid INTEGER PRIMARY KEY, id TEXT, "
                 "deleted INTEGER DEFAULT 0, modified_epoch INTEGER DEFAULT 0, "
                 + ", ".join(f'"{c}" TEXT DEFAULT \'\'' for c in cols) + ")")
    for crmid, value in enumerate(values, start=1):
        conn.execute(f'INSERT INTO {CONTACTS.table} (crmid, id, lastname) VALUES (?, ?, ?)',
                     (crmid, f"12x{crmid}", value))
    return conn


def ids(conn: sqlite3.Connection, statement: str) -> list[str]:
    compiled = compile_query(statement, MODULES)
    return [row[0] for row in conn.execute(compiled.sql, compiled.params)]


NASTY = st.sampled_from(["'", "''", "\\", "\\'", "\\\\", "%", "_", ";", "--", "/*", '"', "\n",
                         "\r\n", "\t", "é", "日本語", "😀", " ", " or 1=1", "\\%", "\0",
                         "select", "from Accounts"])
VALUES = st.lists(st.one_of(NASTY, st.text(min_size=1, max_size=6)), min_size=1,
                  max_size=6).map("".join)


def neighbours(value: str) -> list[str]:
    """Values a broken escaping could match instead of (or besides) ``value`` (none that the
    server's collation calls equal to it)."""
    out = {value + "x", "x" + value, value[:-1] or "y", value[1:] or "z", value.upper(),
           value.replace("\\", ""), value.replace("\\", "\\\\"), value.replace("'", ""),
           value.replace("'", "''"), "%", "_", "'", "\\"}
    return sorted(o for o in out if not same_text(o, value))


@settings(max_examples=400, deadline=None)
@given(value=VALUES)
@example(value="'zz")  # its neighbour without the quote is "zz", the other value of the in list
def test_eq_finds_exactly_the_record_holding_the_value(value: str) -> None:
    stored = [value, *neighbours(value)]
    conn = make_contacts(stored)
    assert ids(conn, select("Contacts", "id", where=eq("lastname", value))) == ["12x1"]
    # a neighbour may itself be "zz" (value "'zz" without its quote): it is then found too
    holding = [f"12x{i}" for i, v in enumerate(stored, start=1) if v in (value, "zz")]
    assert ids(conn, select("Contacts", "id", where=in_clause("lastname", [value, "zz"]))) == (
        holding)
    assert "12x1" not in ids(conn, select("Contacts", "id", where=ne("lastname", value)))


@settings(max_examples=300, deadline=None)
@given(value=VALUES.filter(lambda v: "\0" not in v))  # SQLite's LIKE stops at NUL
def test_like_matches_the_value_literally(value: str) -> None:
    others = neighbours(value)
    conn = make_contacts([value, *others])
    found = ids(conn, select("Contacts", "id", where=like("lastname", value)))
    expected = [f"12x{i}" for i, v in enumerate([value, *others], start=1)
                if v.encode().lower() == value.encode().lower()]  # like ignores ASCII case
    assert found == expected
    assert "12x1" in ids(conn, select("Contacts", "id", where=like("lastname", value[1:] or value,
                                                                   "suffix")))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=8, unique=True))
def test_in_clause_finds_exactly_its_values(values: list[str]) -> None:
    conn = make_contacts(values + [v + "!" for v in values if v + "!" not in values])
    wanted = values[: max(1, len(values) // 2)]
    assert ids(conn, select("Contacts", "id", where=in_clause("lastname", wanted))) == [
        f"12x{i}" for i in range(1, len(wanted) + 1)]


LETTERS = ["a", "b", "c"]
ATOMS = st.builds(lambda f, op, v: (f, op, v), st.sampled_from(["lastname", "firstname"]),
                  st.sampled_from(["eq", "ne", "lt", "ge"]), st.sampled_from(LETTERS))
TREES = st.recursive(ATOMS, lambda kids: st.tuples(st.sampled_from(["and", "or"]),
                                                   st.lists(kids, min_size=1, max_size=3)),
                     max_leaves=6)
HELPERS = {"eq": eq, "ne": ne, "lt": lt, "ge": ge, "gt": gt}
PY_OPS = {"eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "lt": lambda x, y: x < y,
          "ge": lambda x, y: x >= y}


def build(tree) -> Condition:
    if tree[0] in ("and", "or"):
        parts = [build(t) for t in tree[1]]
        return and_(*parts) if tree[0] == "and" else or_(*parts)
    field, op, value = tree
    return HELPERS[op](field, value)


def holds(tree, record: dict) -> bool:
    if tree[0] in ("and", "or"):
        results = [holds(t, record) for t in tree[1]]
        return all(results) if tree[0] == "and" else any(results)
    field, op, value = tree
    return PY_OPS[op](record[field], value)


@settings(max_examples=300, deadline=None)
@given(tree=TREES)
def test_combined_conditions_mean_what_the_tree_means(tree) -> None:
    records = [{"lastname": a, "firstname": b} for a, b in itertools.product(LETTERS, LETTERS)]
    conn = make_contacts([r["lastname"] for r in records])
    for crmid, r in enumerate(records, start=1):
        conn.execute(f"UPDATE {CONTACTS.table} SET firstname = ? WHERE crmid = ?",
                     (r["firstname"], crmid))
    try:
        condition = build(tree)
    except ValueError:  # too many alternatives: refused, never silently wrong
        return
    expected = [f"12x{i}" for i, r in enumerate(records, start=1) if holds(tree, r)]
    assert ids(conn, select("Contacts", "id", where=condition)) == expected


def test_numbers_and_dates_round_trip(tmp_path) -> None:
    conn = make_contacts(["x"])
    conn.execute(f"UPDATE {CONTACTS.table} SET birthday = '1990-05-17', "
                 "modifiedtime = '2026-11-22 07:24:24'")
    assert ids(conn, select("Contacts", "id", where=eq("birthday", date(1990, 5, 17)))) == ["12x1"]
    assert ids(conn, select("Contacts", "id", where=ge(
        "modifiedtime", datetime(2026, 11, 22, 7, 24, 24, tzinfo=timezone.utc)))) == ["12x1"]
    assert ids(conn, select("Contacts", "id", where=gt(
        "modifiedtime", datetime(2026, 11, 22, 7, 24, 24)))) == []


def test_the_client_does_not_depend_on_the_sandbox() -> None:
    source = vtql.__file__
    with open(source, encoding="utf-8") as fh:
        assert "vtiger_sandbox" not in fh.read().split('"""', 2)[2]
