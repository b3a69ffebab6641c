"""What the previous run already emitted, so that re-reading it emits nothing twice.

Vtiger's ``sync`` (and our ``query`` paging) ask for records modified strictly after a second.
A record modified later within the bookmark second would be missed forever, so every run
re-reads that second (vtiger-notes.md), which must not emit its records again.

The exact method kept here: for the records of the bookmark second, the state keeps
``id -> digest of the record as emitted`` (:class:`BookmarkSecond`). On the re-read, a record of
that second whose digest is unchanged is skipped; a record modified again within the same
second after the previous run read it has a different digest (its values changed, even though
its ``modifiedtime`` did not) and is emitted. Remembering ids alone would lose exactly that
record; a content digest cannot. Bounded: beyond :data:`MAX_REMEMBERED` records in one second
(a bulk import), nothing is remembered and the second is re-emitted whole (at-least-once, as
before).

Full-table modules (Users, Groups, Currency...) and ``picklist_values`` have no ``modifiedtime``
and are read whole every run; :class:`TableDigests` keeps one digest per row and emits only new
or changed rows (not used when ``emit_activate_version_messages`` is on: a target that replaces
the table with each version must receive every row).

Cost: one string comparison per record; a digest (msgspec encode + 8-byte BLAKE2b) only for the
records of the last second of each page, and on a re-read for the records of the remembered
second.
"""

from __future__ import annotations

import hashlib
import typing as t

import msgspec

#: At most this many records of one second are remembered (beyond: that second is re-emitted).
MAX_REMEMBERED = 2000
#: At most this many rows of a full-table module are remembered (beyond: emitted every run).
MAX_TABLE_ROWS = 20000
#: The digest a deletion is remembered by (a deletion carries no values worth comparing).
DELETED = "deleted"
#: State key (in the module's stream state).
STATE_KEY = "vtiger_emitted"

_encode = msgspec.json.Encoder(order="sorted").encode


def digest(record: t.Mapping[str, t.Any]) -> str:
    """A stable fingerprint of a record as emitted (key order does not matter)."""
    if record.get("_sdc_deleted_at"):
        return DELETED
    return hashlib.blake2b(_encode(record), digest_size=8).hexdigest()


class BookmarkSecond:
    """Records of the bookmark second already emitted (kept in the stream state)."""

    def __init__(self, state: dict[str, t.Any], key: str = "modifiedtime") -> None:
        self.state = state
        self.key = key
        kept = state.get(STATE_KEY) or {}
        #: the second (as emitted: the record's modifiedtime) the digests belong to
        self.second: str | None = kept.get("second")
        self.digests: dict[str, str] = dict(kept.get("digests") or {})
        self._tail: list[dict[str, t.Any]] = []
        self._tail_second: str | None = None
        #: records skipped because the previous run emitted them unchanged
        self.skipped = 0

    def already_emitted(self, record: t.Mapping[str, t.Any]) -> bool:
        """True for a record the previous run emitted with these very values."""
        if not self.digests:
            return False
        rid = record.get("id")
        known = self.digests.get(rid)  # type: ignore[arg-type]
        if known is None:
            return False
        if known == DELETED:
            return bool(record.get("_sdc_deleted_at"))
        return record.get(self.key) == self.second and digest(record) == known

    def filter(self, records: t.Generator[dict, None, t.Any]) -> t.Generator[dict, None, t.Any]:
        """Pass ``records`` on, minus those already emitted; returns what ``records`` returns."""
        key = self.key
        tail = self._tail
        while True:
            try:
                record = next(records)
            except StopIteration as stop:
                return stop.value
            if self.digests and self.already_emitted(record):
                self.skipped += 1
                continue
            value = record.get(key)
            if value != self._tail_second:
                if value is not None and (self._tail_second is None or value > self._tail_second):
                    tail.clear()
                    self._tail_second = value
                    tail.append(record)
            else:
                tail.append(record)
            yield record

    def remember(self) -> None:
        """At the end of a page (before its STATE): keep the digests of the last second's
        records in the state, merged with what the previous run left for the same second.
        """
        if not self._tail:
            return
        second = self._tail_second
        digests = self.digests if second == self.second else {}
        for record in self._tail:
            digests[str(record.get("id"))] = digest(record)
        self._tail.clear()
        self.second, self.digests = second, digests
        if len(digests) > MAX_REMEMBERED:
            self.digests = {}
            self.state[STATE_KEY] = {"second": second, "overflow": len(digests)}
        else:
            self.state[STATE_KEY] = {"second": second, "digests": dict(digests)}


class TableDigests:
    """Rows of a full-table module already emitted, one digest each (kept in the state)."""

    def __init__(self, state: dict[str, t.Any],
                 key: t.Callable[[t.Mapping[str, t.Any]], str] | None = None) -> None:
        self.state = state
        self.key = key or (lambda record: str(record.get("id")))
        self.before: dict[str, str] = dict((state.get(STATE_KEY) or {}).get("rows") or {})
        self.now: dict[str, str] = {}
        self.skipped = 0

    def changed(self, record: t.Mapping[str, t.Any]) -> bool:
        """Note the row; True when it is new or its values changed since the last run."""
        rid = self.key(record)
        value = digest(record)
        self.now[rid] = value
        if self.before.get(rid) == value:
            self.skipped += 1
            return False
        return True

    def remember(self) -> None:
        """After the whole table was read: the rows as they are now."""
        if len(self.now) > MAX_TABLE_ROWS:
            self.state.pop(STATE_KEY, None)
        else:
            self.state[STATE_KEY] = {"rows": dict(self.now)}
