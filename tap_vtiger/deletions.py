"""Deletions ``sync`` cannot list, found by checking which delivered records still exist.

Where ``sync`` cannot report every deletion (a webservice.php server: its sync lists only the
calling user's own deleted records, and stock 8.2 on PHP 8 crashes on sync; or a module read
through ``query``, which cannot see deleted records), the only complete signal is the set of
ids that still exist. Per module the tap keeps, in its state (``vtiger_ids``), the record
numbers of every record it delivered as live and has not reported deleted since ("known"),
encoded by :mod:`tap_vtiger.idset`. Every ``deletion_check_hours`` it reads the ids that exist:

    select id from <Module> where id > '<P>x<last>' order by id limit 100;

keyset pages on the record number (ceil(N / 100) calls for N records: 10 calls per 1,000).
Each page covers the record numbers (last, highest id on the page]; a known number in that
range that the page does not hold did not exist when the page was read, so a deletion
``{id, modifiedtime, _sdc_deleted_at}`` is emitted for it at once and it leaves "known". The
last (short) page covers everything above ``last``. So:

- a check cut off at any point has reported only records that were gone when looked at; the
  cursor (``check_after``) is saved with those deletions, and the next run goes on from it;
- records created during the check get new, higher record numbers (Vtiger never reuses
  them): they are not in "known" and change nothing; records deleted during it are found now
  or by the next check;
- an empty answer where records are known is confirmed with one ``count(*)`` before anything
  is reported (a server glitch must not delete a warehouse).

The check's deletion records never move the bookmark: they are stamped with the server's time
of the check, which may be later than records not read yet.

"Known" starts complete when a module is read from the beginning; state from before this
existed (or a module that started being read through query mid-way) is "seeding": its first
check adds the ids it finds (deletions before that cannot be told any more).

A record reported deleted whose id exists again (restored from Vtiger's recycle bin, which
need not change its ``modifiedtime``) is read with one ``query`` and emitted live again.

A record moving out of the ids the caller can see (``sync_type`` user, or a server-side
permission change) is reported deleted like a deleted one; coming back, it changes its
``modifiedtime`` and is read again.
"""

from __future__ import annotations

import bisect
import logging
import time
import typing as t

from singer_sdk import typing as th

from tap_vtiger import idset
from vtiger_client import types as vtypes
from vtiger_client import vtql

STATE_KEY = "vtiger_ids"
DELETED_AT = "_sdc_deleted_at"
#: Rows per ``select id`` call (Vtiger's cap).
PAGE = 100
#: Up to this many known ids the set is saved with every page's STATE (about a millisecond).
SMALL = 2_000
#: Above it, the set is saved once the tap's CPU since the last save reaches this many times
#: what that save cost: encoding stays under a tenth of the tap's CPU at any size (a scattered
#: million ids takes seconds to encode), and a resumed run re-reads at most that much work.
SAVE_COST_RATIO = 9

DELETION_SETTINGS = [
    th.Property(
        "deletion_check_hours",
        th.IntegerType,
        default=24,
        description="How often (hours) to check which delivered records still exist, where "
        "sync cannot list every deletion: webservice.php servers (self-hosted Vtiger: sync "
        "lists only the caller's own deletions, stock 8.2 on PHP 8 has no sync) and modules "
        "read through query. Each check costs ceil(N/100) query calls for a module of N "
        "records (10 calls per 1,000 records) and keeps the delivered record numbers "
        "compressed in the state. 0: every run; -1: never (deletions of other owners' "
        "records are then never seen). Needs include_deleted.",
    ),
]


class CheckedStream(t.Protocol):
    """What the deletion check needs of the module stream whose ids it keeps."""

    module: str
    logger: logging.Logger
    config: t.Mapping[str, t.Any]
    id_prefix: str | None

    @property
    def client(self) -> t.Any:
        """The stream's API client."""

    @property
    def parser(self) -> t.Callable[[t.Mapping[str, t.Any]], dict]:
        """Wire record -> typed record, as the stream emits it."""

    def scope_where(self, where: vtql.Condition) -> vtql.Condition:
        """``where`` narrowed to the records the stream reads."""

    def query_columns(self) -> str | list[str]:
        """The columns the stream selects."""

    def write_page_state(self) -> None:
        """STATE for the page just delivered."""


class DeletionTracker:
    """One module's known ids and deletion check, for one run (see the module docstring)."""

    def __init__(self, stream: CheckedStream, state: dict[str, t.Any], *, fresh: bool) -> None:
        self.stream = stream
        self.logger: logging.Logger = stream.logger
        self.box: dict[str, t.Any] = state.setdefault(STATE_KEY, {})
        self.checking = False
        self._dirty = False
        self._saved_at = time.process_time()
        self._save_cost = 0.0
        self.known: set[int] = set()
        #: record numbers reported deleted: one seen again (a restore from Vtiger's recycle
        #: bin, which need not touch modifiedtime) is emitted live again by the check
        self.gone: set[int] = set()
        if "known" in self.box:
            try:
                self.known = set(idset.decode(self.box["known"]))
                self.gone = set(idset.decode(self.box.get("gone") or idset.PREFIX))
            except ValueError as exc:
                self.logger.warning("%s: the deletion check's state is unreadable (%s); "
                                    "starting it over", stream.module, exc)
                self.box.clear()
        if "known" not in self.box:
            self.box["known"] = idset.PREFIX
            if fresh:  # read from the beginning: every delivered id will be noted
                self.box["checked_at"] = int(stream.client.server_now())
            else:
                self.box["seeding"] = True
            self._dirty = True
        if not self.box.get("prefix") and stream.id_prefix:
            self.box["prefix"] = str(stream.id_prefix)

    # ------------------------------------------------------------------ delivered records

    def note(self, record: t.Mapping[str, t.Any]) -> None:
        """A record is being delivered: live ones join "known", deleted ones leave it."""
        record_id = str(record.get("id") or "")
        number = idset.crmid(record_id)
        if number is None:
            return
        if record.get(DELETED_AT):
            self.known.discard(number)
            self.gone.add(number)
        else:
            self.known.add(number)
            self.gone.discard(number)
            if not self.box.get("prefix"):
                self.box["prefix"] = record_id.partition("x")[0]
        self._dirty = True

    def save(self) -> None:
        """Put "known" into the state (before every STATE message)."""
        started = time.process_time()
        if self._dirty:
            self.box["known"] = idset.encode(self.known)
            if self.gone:
                self.box["gone"] = idset.encode(self.gone)
            else:
                self.box.pop("gone", None)
            self._dirty = False
        self._saved_at = time.process_time()
        self._save_cost = self._saved_at - started

    def state_due(self) -> bool:
        """Whether the page just delivered should be followed by a STATE message: always while
        "known" is small; for large sets once the CPU spent since the last save is
        ``SAVE_COST_RATIO`` times what that save cost.
        """
        if len(self.known) <= SMALL:
            return True
        return time.process_time() - self._saved_at >= SAVE_COST_RATIO * self._save_cost

    # ------------------------------------------------------------------ the check

    def due(self) -> bool:
        """A check is under way, "known" is seeding, or the last one is old enough."""
        box = self.box
        if "check_after" in box or box.get("seeding"):
            return True
        hours = float(self.stream.config.get("deletion_check_hours", 24))
        age = self.stream.client.server_now() - float(box.get("checked_at") or 0)
        return age >= hours * 3600

    def check(self) -> t.Iterator[dict[str, t.Any]]:
        """Deletion records for known ids that no longer exist (STATE after each page)."""
        stream = self.stream
        client = stream.client
        box = self.box
        module = stream.module
        if "check_after" not in box:
            box["check_after"] = 0
            box["check_started"] = int(client.server_now())
        after = int(box["check_after"])
        seeding = bool(box.get("seeding"))
        prefix = box.get("prefix") or stream.id_prefix
        if not prefix:
            prefix = self._learn_prefix()
            if not prefix:  # nothing to check against: no records at all
                self._finished(box)
                return
        ordered = sorted(self.known)
        found = calls = restored = 0
        self.checking = True
        try:
            while True:
                where = stream.scope_where(vtql.gt("id", f"{prefix}x{after}"))
                rows = client.query(vtql.select(module, ["id"], where=where, order_by=["id"],
                                                limit=PAGE))
                calls += 1
                page = sorted({n for n in (idset.crmid(r.get("id")) for r in rows or [])
                               if n is not None and n > after})
                end = len(rows or []) < PAGE
                if not end and not page:
                    self.logger.warning("%s: the deletion check got a page of ids not above "
                                        "%s; check stopped (nothing reported)", module, after)
                    return
                low = bisect.bisect_right(ordered, after)
                high = len(ordered) if end else bisect.bisect_right(ordered, page[-1])
                present = set(page)
                gone = [n for n in ordered[low:high] if n not in present]
                if gone and end and not page and not self._confirm_none_above(prefix, after):
                    return
                if seeding:
                    self.known.update(page)
                    self._dirty = True
                stamp = vtypes.unix_to_datetime(client.server_now())
                for number in gone:
                    record = {"id": f"{prefix}x{number}", "modifiedtime": stamp, DELETED_AT: stamp}
                    self.note(record)
                    found += 1
                    yield record
                back = [n for n in page if n in self.gone]
                if back and not seeding:
                    for record in self._records(prefix, back):
                        self.note(record)
                        restored += 1
                        yield record
                if end:
                    self._finished(box)
                else:
                    after = page[-1]
                    box["check_after"] = after
                stream.write_page_state()
                if end:
                    break
        finally:
            self.checking = False
        self.logger.info("%s: deletion check done: %d deleted records found, %d reported "
                         "deleted earlier found again, %d query calls, %d records known",
                         module, found, restored, calls, len(self.known))

    def _records(self, prefix: str, numbers: list[int]) -> list[dict[str, t.Any]]:
        """The current values of records reported deleted that exist again (one call)."""
        stream = self.stream
        where = vtql.in_clause("id", [f"{prefix}x{n}" for n in numbers])
        rows = stream.client.query(vtql.select(stream.module, stream.query_columns(),
                                               where=where, limit=PAGE))
        parse = stream.parser
        return [parse(row) for row in rows or []]

    def _finished(self, box: dict[str, t.Any]) -> None:
        box["checked_at"] = int(box.pop("check_started", None) or self.stream.client.server_now())
        box.pop("check_after", None)
        box.pop("seeding", None)
        self._dirty = True

    def _confirm_none_above(self, prefix: str, after: int) -> bool:
        """An empty last page would report known records deleted: one ``count(*)`` confirms
        that none exists above ``after`` (else the check stops and reports nothing).
        """
        stream = self.stream
        where = stream.scope_where(vtql.gt("id", f"{prefix}x{after}"))
        rows = stream.client.query(vtql.select(stream.module, "count(*)", where=where))
        count = int((rows or [{}])[0].get("count") or 0)
        if count:
            self.logger.warning("%s: the deletion check read no ids above %s, but count(*) "
                                "says %d exist; check stopped (nothing reported)",
                                stream.module, after, count)
        return not count

    def _learn_prefix(self) -> str | None:
        """The module's id prefix from one id (catalogs without ``x-vtiger-idPrefix``)."""
        stream = self.stream
        rows = stream.client.query(vtql.select(stream.module, ["id"], limit=1))
        if not rows:
            return None
        prefix = str(rows[0].get("id") or "").partition("x")[0]
        if prefix:
            self.box["prefix"] = prefix
        return prefix or None
