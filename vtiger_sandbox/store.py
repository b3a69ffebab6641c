"""SQLite storage of the sandbox: one table per module, a global crmid sequence, bookkeeping.

Why SQLite: the sandbox must survive restarts (tests check that) and the VTQL compiler
translates queries straight into SQL over these tables, so the layout is a contract:

* ``m_<Module>`` (``Module.table``): ``crmid INTEGER PRIMARY KEY``, ``id TEXT`` (the full
  ``NxM`` id), ``deleted INTEGER`` (0/1), ``_mtime INTEGER`` (modifiedtime as unix seconds,
  what ``sync`` pages on) and one TEXT column per describe field, named like the field.
* ``crmentity``: the global sequence of entity record ids (``crmid`` -> module), so that an id
  with the wrong module prefix can be told apart from a missing one (Vtiger answers
  ``INVALID_ID_ATTRIBUTE`` vs ``ACCESS_DENIED``).
* ``tags``, ``relations``, ``settings``, ``custom_fields``, ``seq`` (auto-numbers), ``access_keys``.

All access goes through one connection guarded by ``self.lock`` (the server is one process);
every write operation commits at its end so a crash never leaves half a record behind.
"""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .modules import Module, load_modules
from .vtql import install_collation


def now_epoch() -> int:
    """Current time as whole unix seconds (Vtiger keeps second resolution)."""
    return int(time.time())


def epoch_to_text(epoch: int) -> str:
    """Unix seconds -> the wire format of datetimes, ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def text_to_epoch(text: str) -> int:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) -> unix seconds; raises ValueError when malformed."""
    dt = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    return int(dt.replace(tzinfo=timezone.utc).timestamp())


def qi(name: str) -> str:
    """Quote an SQL identifier (field names come from describes, never from requests)."""
    return '"' + name.replace('"', '""') + '"'


class ModuleTable:
    """Precomputed SQL for one module, so that hot paths do no string building per call."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.refresh()

    def refresh(self) -> None:
        """Recompute field lists (after a custom field was added)."""
        m = self.module
        names = [f["name"] for f in m.describe["fields"]]
        if "id" not in names:
            names.append("id")
        self.fields: list[str] = names
        # Currency has a describe field called "deleted": it is the bookkeeping column itself.
        self.data_columns = [n for n in names if n not in ("id", "deleted")]
        self.select_cols = ", ".join(qi(n) for n in names)
        self.select_sql = f"SELECT {self.select_cols} FROM {m.table}"


class Store:
    """The sandbox's database. Thread-safe through one re-entrant lock."""

    def __init__(self, path: str | Path, modules: dict[str, Module] | None = None) -> None:
        self.path = str(path)
        self.modules = modules if modules is not None else load_modules()
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=OFF")
        install_collation(self.conn)
        self.stats: Counter[str] = Counter()
        self.tables: dict[str, ModuleTable] = {}
        self.by_prefix: dict[str, Module] = {m.id_prefix: m for m in self.modules.values()}
        with self.lock:
            self._create_schema()
            self._load_custom_fields()
            for m in self.modules.values():
                self._create_module_table(m)

    # ----------------------------------------------------------------------------- schema
    def _create_schema(self) -> None:
        c = self.conn
        c.executescript(
            """
            CREATE TABLE IF NOT EXISTS crmentity (
                crmid INTEGER PRIMARY KEY AUTOINCREMENT, setype TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS tags (
                crmid INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (crmid, tag));
            CREATE TABLE IF NOT EXISTS relations (
                src INTEGER NOT NULL, dst INTEGER NOT NULL, label TEXT NOT NULL,
                PRIMARY KEY (src, dst, label));
            CREATE INDEX IF NOT EXISTS relations_dst ON relations (dst);
            CREATE TABLE IF NOT EXISTS custom_fields (
                module TEXT NOT NULL, name TEXT NOT NULL, describe TEXT NOT NULL,
                PRIMARY KEY (module, name));
            CREATE TABLE IF NOT EXISTS access_keys (
                user_crmid INTEGER PRIMARY KEY, access_key TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS converted_leads (
                crmid INTEGER PRIMARY KEY, result TEXT NOT NULL);
            """
        )

    def _load_custom_fields(self) -> None:
        for module_name, _name, describe in self.conn.execute(
            "SELECT module, name, describe FROM custom_fields ORDER BY rowid"
        ):
            m = self.modules.get(module_name)
            if m is not None and _name not in m.fields:
                m.add_field(json.loads(describe))

    def _create_module_table(self, m: Module) -> None:
        mt = ModuleTable(m)
        self.tables[m.name] = mt
        cols = ", ".join(f"{qi(n)} TEXT DEFAULT ''" for n in mt.data_columns)
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {m.table} (crmid INTEGER PRIMARY KEY, id TEXT NOT NULL,"
            f" deleted INTEGER NOT NULL DEFAULT 0, _mtime INTEGER NOT NULL DEFAULT 0, {cols})"
        )
        existing = {r[1] for r in self.conn.execute(f"PRAGMA table_info({m.table})")}
        for n in mt.data_columns:
            if n not in existing:
                self.conn.execute(f"ALTER TABLE {m.table} ADD COLUMN {qi(n)} TEXT DEFAULT ''")
        base = m.table.strip('"')
        self.conn.execute(
            f"CREATE INDEX IF NOT EXISTS {qi(base + '_mtime')} ON {m.table} (_mtime, crmid)"
        )
        self.conn.execute(f"CREATE INDEX IF NOT EXISTS {qi(base + '_id')} ON {m.table} (id)")
        if "modifiedtime" in mt.data_columns:
            # the tap's query paging (where modifiedtime > ... order by modifiedtime, id):
            # without it every page sorts the whole table (14 ms a page at 20k rows, not 6)
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {qi(base + '_modifiedtime')} "
                              f"ON {m.table} (modifiedtime, crmid)")

    def add_custom_field(self, module: Module, describe: dict) -> None:
        """Add a ``cf_*`` field: describe, column, and persistence across restarts."""
        with self.lock, self.transaction():
            module.add_field(describe)
            self.conn.execute(
                "INSERT OR REPLACE INTO custom_fields (module, name, describe) VALUES (?,?,?)",
                (module.name, describe["name"], json.dumps(describe)),
            )
            self._create_module_table(module)

    # ------------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write operation = one transaction (commit on success, rollback on error)."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    # ------------------------------------------------------------------------- sequences
    def next_seq(self, name: str, start: int = 1) -> int:
        """Next value of a named counter (auto-numbers like CON12); call inside a transaction."""
        row = self.conn.execute("SELECT value FROM seq WHERE name = ?", (name,)).fetchone()
        value = (row[0] + 1) if row else start
        self.conn.execute("INSERT OR REPLACE INTO seq (name, value) VALUES (?, ?)", (name, value))
        return value

    def reserve_seq(self, name: str, count: int, start: int = 1) -> int:
        """Reserve ``count`` values of a counter at once; returns the first."""
        row = self.conn.execute("SELECT value FROM seq WHERE name = ?", (name,)).fetchone()
        first = (row[0] + 1) if row else start
        self.conn.execute(
            "INSERT OR REPLACE INTO seq (name, value) VALUES (?, ?)", (name, first + count - 1)
        )
        return first

    def new_crmids(self, module: Module, count: int) -> list[int]:
        """Allocate crmids. Entity modules share the global sequence; others count alone."""
        if not module.is_entity or module.name == "Users":
            row = self.conn.execute(f"SELECT COALESCE(MAX(crmid), 0) FROM {module.table}")
            first = row.fetchone()[0] + 1
            return list(range(first, first + count))
        cur = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'crmentity'")
        row = cur.fetchone()
        first = (row[0] if row else 0) + 1
        self.conn.executemany(
            "INSERT INTO crmentity (crmid, setype) VALUES (?, ?)",
            [(i, module.name) for i in range(first, first + count)],
        )
        return list(range(first, first + count))

    def setype(self, crmid: int) -> str | None:
        """Module name of an entity crmid, or None when the id was never allocated."""
        row = self.conn.execute("SELECT setype FROM crmentity WHERE crmid = ?", (crmid,)).fetchone()
        return row[0] if row else None

    # --------------------------------------------------------------------------- records
    def insert_rows(self, module: Module, rows: Iterable[dict], mtime: int | None = None) -> list:
        """Insert records (values already normalized); returns their ``NxM`` ids.

        Each row may carry ``_mtime``; otherwise its modifiedtime text (or ``mtime``) is used.
        Must be called inside :meth:`transaction`.
        """
        rows = list(rows)
        mt = self.tables[module.name]
        crmids = self.new_crmids(module, len(rows))
        cols = ["crmid", "id", "deleted", "_mtime", *mt.data_columns]
        sql = (
            f"INSERT INTO {module.table} ({', '.join(qi(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})"
        )
        ids: list[str] = []
        params = []
        prefix = module.id_prefix
        for crmid, row in zip(crmids, rows, strict=False):
            rid = f"{prefix}x{crmid}"
            ids.append(rid)
            epoch = row.get("_mtime")
            if epoch is None:
                mt_text = row.get("modifiedtime")
                epoch = text_to_epoch(mt_text) if mt_text else (mtime or now_epoch())
            params.append(
                (crmid, rid, int(row.get("_deleted", 0)), epoch,
                 *[row.get(c, "") for c in mt.data_columns])
            )
        self.conn.executemany(sql, params)
        return ids

    def fetch(self, module: Module, crmid: int) -> tuple[dict, int] | None:
        """One record (as wire dict) and its deleted flag, or None."""
        mt = self.tables[module.name]
        cur = self.conn.execute(
            f"SELECT {mt.select_cols}, deleted FROM {module.table} WHERE crmid = ?", (crmid,)
        )
        row = cur.fetchone()
        if row is None:
            return None
        rec = {n: _wire(v) for n, v in zip(mt.fields, row, strict=False)}
        return rec, row[-1]

    def update_values(self, module: Module, crmid: int, values: dict, epoch: int) -> None:
        """Write changed field values plus the new modified time; inside a transaction."""
        mt = self.tables[module.name]
        values = {k: v for k, v in values.items() if k in mt.data_columns}
        values["modifiedtime"] = epoch_to_text(epoch)
        if "modifiedtime" not in mt.data_columns:
            values.pop("modifiedtime")
        sets = ", ".join(f"{qi(k)} = ?" for k in values)
        sep = ", " if sets else ""
        self.conn.execute(
            f"UPDATE {module.table} SET {sets}{sep}_mtime = ? WHERE crmid = ?",
            (*values.values(), epoch, crmid),
        )

    def mark_deleted(self, module: Module, crmid: int, epoch: int) -> None:
        """Soft delete: the row stays so that ``sync`` can report it."""
        mt = self.tables[module.name]
        if "modifiedtime" in mt.data_columns:
            self.conn.execute(
                f"UPDATE {module.table} SET deleted = 1, _mtime = ?, modifiedtime = ? "
                "WHERE crmid = ?",
                (epoch, epoch_to_text(epoch), crmid),
            )
        else:
            self.conn.execute(
                f"UPDATE {module.table} SET deleted = 1, _mtime = ? WHERE crmid = ?",
                (epoch, crmid),
            )

    def exists(self, module: Module, crmid: int) -> bool:
        """Whether a live (not deleted) record exists."""
        row = self.conn.execute(
            f"SELECT 1 FROM {module.table} WHERE crmid = ? AND deleted = 0", (crmid,)
        ).fetchone()
        return row is not None

    # ---------------------------------------------------------------------------- settings
    def get_setting(self, key: str, default: object = None) -> object:
        """A persisted setting (JSON value)."""
        with self.lock:
            row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: object) -> None:
        """Persist a setting (JSON value)."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    def close(self) -> None:
        """Checkpoint and close, so the file is complete on its own after shutdown."""
        with self.lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.conn.close()


def _wire(value: object) -> str:
    """Every value on the wire is a string; NULL is the empty string."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
