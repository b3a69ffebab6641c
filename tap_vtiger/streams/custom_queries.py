"""Custom query streams: your own VTQL, paged and bookmarked like the module streams.

Configured with the ``custom_queries`` setting::

    "custom_queries": [{
        "name": "big_deals",
        "query": "select id, potentialname, amount, modifiedtime from Potentials
                  where amount > '10000'",       # (one line in JSON)
        "replication_key": "modifiedtime",     # optional, any datetime field; without it:
                                               # full table every run
        "primary_keys": ["id"]                 # default ["id"]
    }]

The query is ``select <columns | *> from <Module> [where <conditions>]``; paging, ordering and
the bookmark are added here, so ``order by`` and ``limit`` are refused. Reading reuses the
module streams' code (:mod:`tap_vtiger.streams.modules`): with a replication key, the same
keyset paging as the query fallback (on that key and ``id``: 100 rows a call, ties included,
the bookmark second re-read); without one, ``VtigerClient.query_all`` (pages ordered by id).
Cost: ceil(rows / 100) ``query`` calls per run.

Your ``where`` is combined with the paging conditions without parentheses (VTQL has none):
``a or b`` becomes ``a and <page> or b and <page>``, which is what MySQL precedence then reads
correctly. Values in your query are yours to quote (``amount > '10000'``).

The schema comes from the module's ``describe`` (cached, shared with the module streams),
limited to the selected columns plus ``id`` and the replication key.
"""

from __future__ import annotations

import re
import typing as t

from singer_sdk import typing as th

from tap_vtiger.schema import module_schema
from tap_vtiger.streams.modules import FullTableStream, ModuleStream
from vtiger_client import vtql
from vtiger_client.errors import ConfigError

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

CUSTOM_QUERY_SETTINGS = [
    th.Property(
        "custom_queries",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True, description="Stream name."),
                th.Property(
                    "query",
                    th.StringType,
                    required=True,
                    description="select <columns|*> from <Module> [where ...] (no order by, "
                    "no limit: paging is added).",
                ),
                th.Property(
                    "replication_key",
                    th.StringType,
                    description="A datetime field (modifiedtime, createdtime...) for "
                    "incremental reads; omit for a full table.",
                ),
                th.Property("primary_keys", th.ArrayType(th.StringType)),
            )
        ),
        default=[],
        description="Streams defined by your own VTQL queries.",
    ),
]

_QUERY = re.compile(
    r"^\s*select\s+(?P<columns>.+?)\s+from\s+(?P<module>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\s+where\s+(?P<where>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FORBIDDEN = re.compile(r"\b(order\s+by|limit)\b", re.IGNORECASE)
_GLUE = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)


class ParsedQuery(t.NamedTuple):
    """The parts of a custom query."""

    module: str
    columns: list[str] | None  # None: *
    condition: vtql.Condition | None


def _outside_quotes(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` outside single-quoted literals (doubled and escaped quotes stay
    inside).
    """
    spans, start, i, quoted = [], 0, 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 2
                continue
            if ch == "'":
                if text[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                quoted = False
                start = i + 1
        elif ch == "'":
            spans.append((start, i))
            quoted = True
        i += 1
    if quoted:
        msg = "unterminated string literal"
        raise ValueError(msg)
    spans.append((start, len(text)))
    return spans


def split_condition(where: str) -> vtql.Condition:
    """A where clause as alternatives of conjunctions (``and`` binds tighter than ``or``)."""
    glue: list[tuple[int, int, str]] = []
    for lo, hi in _outside_quotes(where):
        glue += [(m.start(), m.end(), m.group(1).lower()) for m in _GLUE.finditer(where, lo, hi)]
        if "(" in where[lo:hi] and not re.search(r"\bin\s*\(", where[lo:hi], re.IGNORECASE):
            msg = "parentheses around conditions are not VTQL"
            raise ValueError(msg)
    terms: list[list[str]] = [[]]
    pos = 0
    for start, end, word in glue:
        terms[-1].append(where[pos:start].strip())
        if word == "or":
            terms.append([])
        pos = end
    terms[-1].append(where[pos:].strip())
    if any(not atom for conj in terms for atom in conj):
        msg = "empty condition next to and/or"
        raise ValueError(msg)
    return vtql.Condition(terms)


def parse_custom_query(query: str) -> ParsedQuery:
    """Split a custom query; ValueError says what is wrong."""
    query = query or ""
    if _FORBIDDEN.search("".join(query[lo:hi] for lo, hi in _outside_quotes(query))):
        msg = "order by / limit are added by the tap; remove them"
        raise ValueError(msg)
    match = _QUERY.match(query)
    if not match:
        msg = "expected: select <columns|*> from <Module> [where ...]"
        raise ValueError(msg)
    where = match.group("where")
    raw_columns = match.group("columns").strip()
    columns = None
    if raw_columns != "*":
        columns = [vtql.identifier(c.strip()) for c in raw_columns.split(",")]
    condition = split_condition(where) if where else None
    return ParsedQuery(vtql.identifier(match.group("module")), columns, condition)


class IncrementalQueryStream(ModuleStream):
    """A custom query read with the module streams' keyset paging."""

    def _sync_usable(self, state: dict[str, t.Any]) -> bool:
        return False  # sync cannot filter; always query

    def scope_where(self, where: vtql.Condition) -> vtql.Condition:
        """The paging condition and the user's ``where``."""
        return where & self.condition if self.condition is not None else where

    def _columns(self) -> str | list[str]:
        return _columns_of(self)


class FullQueryStream(FullTableStream):
    """A custom query without replication key: every row each run, offset pages."""

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """Every row of the query, in offset pages."""
        parse = self.parser
        for wire in self.client.query_all(self.module, _columns_of(self),
                                          where=self.condition):
            yield parse(wire)
        self._page_done()


def _columns_of(stream: t.Any) -> str | list[str]:
    selected = [n for n in stream.selected_fields() if not n.startswith("_sdc_")]
    if stream.columns is None and len(selected) == len(
        [p for p in stream.effective_schema.get("properties", {}) if not p.startswith("_sdc_")]
    ):
        return "*"
    keys = ["id"] + ([stream.replication_key] if stream.replication_key else [])
    return list(dict.fromkeys([*keys, *selected]))


def custom_query_streams(tap: Tap) -> list[Stream]:
    """One stream per ``custom_queries`` entry (ConfigError naming the entry when invalid)."""
    out: list[Stream] = []
    for i, spec in enumerate(tap.config.get("custom_queries") or []):
        where = f"custom_queries[{i}] ({spec.get('name')!r})"
        try:
            parsed = parse_custom_query(str(spec.get("query", "")))
        except ValueError as exc:
            raise ConfigError("CONFIG", f"{where}: {exc}") from None
        key = spec.get("replication_key") or None
        describe = tap.describe(parsed.module)  # type: ignore[attr-defined]
        types = {f.get("name"): (f.get("type") or {}).get("name") for f in describe["fields"]}
        if key is not None and types.get(key) != "datetime":
            datetimes = ", ".join(sorted(n for n, ty in types.items() if ty == "datetime"))
            msg = (f"{where}: replication_key must be a datetime field of {parsed.module} "
                   f"({datetimes})")
            raise ConfigError("CONFIG", msg)
        schema = module_schema(describe)
        props = schema.get("properties", {})
        wanted = None if parsed.columns is None else {"id", *(parsed.columns), *([key] if key
                                                                                   else [])}
        unknown = sorted(c for c in (parsed.columns or []) if c not in props)
        if unknown:
            msg = f"{where}: {parsed.module} has no field {', '.join(unknown)}"
            raise ConfigError("CONFIG", msg)
        if wanted is not None:
            schema["properties"] = {k: v for k, v in props.items() if k in wanted}
        cls = IncrementalQueryStream if key else FullQueryStream
        stream = cls(tap, str(spec["name"]), schema, id_prefix=describe.get("idPrefix"))
        stream.module = parsed.module  # the stream is named after the query, reads the module
        stream.replication_key = key
        stream.columns = parsed.columns
        stream.condition = parsed.condition
        stream.primary_keys = list(spec.get("primary_keys") or ["id"])
        stream.is_entity = False  # no link/tag children below a custom query
        out.append(stream)
    return out
