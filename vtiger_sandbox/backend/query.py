"""``query``: VTQL text (or a typed :class:`~vtiger_sandbox.vtql.Select`) over live records."""

from __future__ import annotations

from ..errors import access_denied
from ..vtql import CompiledQuery, Select, compile_query, compile_select
from .core import HIDDEN_USER_FIELDS, Core, User
from .wire import rows_to_records, wire_rows


class QueryBackend:
    """Runs compiled queries: the row cap, count rows, hidden user secrets, refused modules."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def row_cap(self) -> int:
        """Rows one query answers at most (the ``query_row_cap`` setting; Vtiger: 100)."""
        return int(self.core.settings.get("query_row_cap", 100))

    def query(self, user: User, text: object) -> list[dict]:
        """The rows of one VTQL statement."""
        if not isinstance(text, str) or not text.strip():
            raise access_denied("Permission to perform the operation is denied for query")
        return self.run(compile_query(text, self.core.modules, row_cap=self.row_cap()))

    def select(self, user: User, select: Select) -> list[dict]:
        """The rows of a typed select (what the VTQL it stands for would answer)."""
        return self.run(compile_select(select, self.core.modules, row_cap=self.row_cap()))

    def run(self, compiled: CompiledQuery) -> list[dict]:
        """Execute a compiled query as the ``query`` operation answers it."""
        core = self.core
        if core.refuses("query", compiled.module):
            raise access_denied("Permission to perform the operation is denied for query")
        cap = self.row_cap()
        with core.store.lock:
            cur = core.store.conn.execute(compiled.sql, compiled.params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        if compiled.is_count:  # an offset past the single count row leaves nothing, as in MySQL
            return [{"count": str(rows[0][0])}] if rows else []
        if len(rows) > cap:
            rows = rows[:cap]
        if compiled.module.name == "Users":
            keep = [i for i, n in enumerate(names) if n not in HIDDEN_USER_FIELDS]
            names = [names[i] for i in keep]
            rows = [tuple(r[i] for i in keep) for r in rows]
        m = compiled.module
        return wire_rows(core.modules, m, core.store.tables[m.name].fields, names,
                         rows_to_records(names, rows))
