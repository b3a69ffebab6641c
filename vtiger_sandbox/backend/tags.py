"""Record tags (Vtiger Cloud's ``tags_add`` / ``tags_retrieve`` / ``tags_delete``)."""

# SQL is built only from identifiers out of the module describes (Module.table); every value
# goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

from ..modules import Module
from .core import Core, User
from .values import to_text


class TagsBackend:
    """Tags live in their own table; a module's ``tags`` field mirrors them."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _clean(self, tags: Sequence[object]) -> list[str]:
        return [to_text(self.core.settings, t, "string").strip() for t in tags if str(t).strip()]

    def _sync_tags_field(self, m: Module, crmid: int) -> list[str]:
        store = self.core.store
        tags = [r[0] for r in store.conn.execute(
            "SELECT tag FROM tags WHERE crmid = ? ORDER BY rowid", (crmid,))]
        if "tags" in store.tables[m.name].data_columns:
            store.conn.execute(f"UPDATE {m.table} SET tags = ? WHERE crmid = ?",
                               (",".join(tags), crmid))
        return tags

    def tags_add(self, user: User, record_id: object, tags: Sequence[object]) -> dict:
        """Add tags to a record."""
        m, crmid, _ = self.core.load_live(record_id)
        clean = self._clean(tags)
        with self.core.store.transaction():
            self.core.store.conn.executemany(
                "INSERT OR IGNORE INTO tags (crmid, tag) VALUES (?, ?)",
                [(crmid, t) for t in clean])
            self._sync_tags_field(m, crmid)
        return {"message": "tags added"}

    def tags_retrieve(self, user: User, record_id: object) -> dict:
        """Tags of a record."""
        _m, crmid, _ = self.core.load_live(record_id)
        with self.core.store.lock:
            tags = [r[0] for r in self.core.store.conn.execute(
                "SELECT tag FROM tags WHERE crmid = ? ORDER BY rowid", (crmid,))]
        return {"tags": tags}

    def tags_delete(self, user: User, record_id: object, tags: Sequence[object],
                    delete_all: bool = False) -> dict:
        """Remove some tags, or all with ``delete_all``."""
        m, crmid, _ = self.core.load_live(record_id)
        clean = self._clean(tags)
        with self.core.store.transaction():
            if delete_all:
                self.core.store.conn.execute("DELETE FROM tags WHERE crmid = ?", (crmid,))
            else:
                self.core.store.conn.executemany("DELETE FROM tags WHERE crmid = ? AND tag = ?",
                                                 [(crmid, t) for t in clean])
            self._sync_tags_field(m, crmid)
        return {"message": "tags deleted"}
