"""Module streams: one per Vtiger module.

Three ways to read a module, chosen per module and per run:

``sync`` (default for entity modules)
    Vtiger's change feed. Bookmark: the server's ``lastModifiedTime`` (unix seconds), stored as
    the replication key value ``modifiedtime`` (RFC 3339). Each run starts at bookmark - 1 s:
    Vtiger's ``sync`` asks for strictly newer records, so a record changed later within the
    bookmark second would be missed forever by a naive client (vtiger-notes.md). Re-reading that
    second may repeat a record across runs (at-least-once), never loses one. Within a run, pages
    are disjoint windows (Vtiger never splits a tie second across pages), so every record comes
    exactly once.

``query`` (fallback)
    Keyset paging on (``modifiedtime``, ``id``): ``where modifiedtime > L and modifiedtime <= U
    order by modifiedtime, id limit 100``, then from the page's last row (T, X): ``where
    modifiedtime = T and id > X and modifiedtime <= U or modifiedtime > T and modifiedtime <= U``
    (VTQL has no parentheses; AND binds first, as on the real server). Every row is read once,
    in ceil(N / 100) calls, whatever the ties (no offsets, so rows leaving a second while it is
    paged cannot shift others past the cursor). ``U`` = now - 1 s leaves the running second to
    the next run, so no row can be added behind the keyset while paging (records changed
    meanwhile move to a later second and are read by the next run). Deletions are invisible to
    ``query``.

full table (Users, Groups, Currency and other non-entity modules)
    ``select * ... order by id`` with offsets; a module the API cannot query is skipped with a
    warning.

Fallback decisions (logged as warnings):
- ``sync`` answers HTTP 500 with an empty body (stock self-hosted 8.2) or refuses the module:
  query. Remembered in state for a day (``vtiger_sync``), then ``sync`` is tried again.
- webservice.php servers return only the caller's own records from ``sync``. The first page
  proves completeness when it holds a record owned by someone else; otherwise one
  ``select count(*) ... where assigned_user_id != <me> and modifiedtime > L`` decides: other
  owners' records exist -> query (remembered for a day). Owner-limited sync is a property of
  the server's build (self-hosted), not of a module, so one proof holds for every module and
  is remembered for good in the state (``vtiger_sync_complete``): after it, no module spends a
  ``count(*)`` and the id check of :mod:`tap_vtiger.deletions` is not needed (sync lists every
  deletion). REST (Vtiger Cloud) ``sync`` with ``syncType=application`` returns every record
  and is not checked.

State: records are emitted in ``modifiedtime`` order (sync pages sorted, deletions stamped with
the page's ``lastModifiedTime``), so the SDK's sorted-stream bookmark never passes an undelivered
record; a STATE message is written after every page.

Speed: see :class:`tap_vtiger.client.VtigerStream` (typed once, written per page, the next
page fetched while this one is written).
"""


from __future__ import annotations

import time
import typing as t

from tap_vtiger.client import VtigerStream, utc_now_text
from tap_vtiger.deletions import STATE_KEY as DELETIONS_KEY
from tap_vtiger.deletions import DeletionTracker
from tap_vtiger.emitted import BookmarkSecond, TableDigests
from tap_vtiger.schema import DELETED_AT, UNDECLARED, module_schema
from tap_vtiger.schema_drift import SchemaDrift
from vtiger_client import types as vtypes
from vtiger_client import vtql
from vtiger_client.errors import (
    FatalError,
    QuerySyntaxError,
    RetryableError,
    UnknownModuleError,
    VtigerError,
)

#: Rows per query call (Vtiger's cap whatever ``limit`` says).
QUERY_PAGE = 100
#: How long a "sync cannot serve this module" verdict is trusted before sync is tried again.
VERDICT_TTL = 86400
#: Tap state key: proof that this server's ``sync`` lists every owner's records (a sync page
#: held a record owned by someone else than the caller): {"module", "proven_at"}.
SYNC_PROOF_KEY = "vtiger_sync_complete"
#: Modules whose ``sync`` answers but never lists anything (Users): read as full tables.
NON_SYNC_MODULES = frozenset({"Users"})
#: A bookmark may lead the server's clock estimate by this much (HTTP dates are whole
#: seconds) before it counts as in the future.
CLOCK_SLACK = 2


class TapDescribes:
    """Describes for schema drift: the tap's discovery cache (0 calls) and its describe call."""

    def __init__(self, tap: t.Any) -> None:
        self.tap = tap

    def cached_describe(self, module: str) -> dict | None:
        """The discovery cache's describe of ``module`` whatever its age (0 calls)."""
        cache = getattr(self.tap, "discovery_cache", None)
        return cache.any_describe(module) if cache is not None else None

    def fresh_describe(self, module: str) -> dict:
        """One ``describe`` call, kept in the cache."""
        return self.tap.fresh_describe(module)

    def schema_of(self, describe: t.Mapping[str, t.Any], *, deletions: bool) -> dict:
        """The module's stream schema."""
        return module_schema(describe, deletions=deletions)


class ModuleStream(VtigerStream):
    """An entity module, read incrementally through ``sync`` (or ``query`` as fallback)."""

    replication_key = "modifiedtime"
    is_sorted = True
    #: True while sync re-reads a gap left by query runs (see :meth:`_keeps_bookmark`).
    rereading_gap = False
    #: The deletion check of this run (None where sync lists every deletion).
    deletion_tracker: DeletionTracker | None = None
    #: Whether a bookmark ahead of the server's clock was reported in this run.
    _future_warned = False
    #: The records of the bookmark second emitted so far (this run and the previous one).
    _emitted: BookmarkSecond | None = None
    #: Fields found in records that the schema lacked (tap_vtiger.schema_drift).
    _drift: SchemaDrift | None = None

    def _keeps_bookmark(self, record: dict) -> bool:
        """While a gap is re-read, records older than the bookmark leave it where it is: the
        SDK would take them for unsorted output, and a resumed run re-reads from ``gap_from``
        (still in state until sync has covered the gap) anyway. Deletions found by the id
        check never move it (stamped with the check's time, later than records not read yet).
        """
        if self.deletion_tracker is not None and self.deletion_tracker.checking:
            return True
        if not self.rereading_gap:
            return False
        bookmark = self.get_context_state(self.context).get("replication_key_value")
        value = record.get(self.replication_key or "")
        return bool(bookmark and value) and (
            vtypes.datetime_to_unix(str(value)) < vtypes.datetime_to_unix(str(bookmark)))

    # ------------------------------------------------------------------ start point

    def start_seconds(self, context: t.Mapping[str, t.Any] | None) -> int:
        """Exclusive lower bound (unix seconds) of this run: the starting value - 1 (the
        bookmark second is re-read; start_date is inclusive), else 0. The SDK's starting value
        is the bookmark, or start_date when there is none or start_date is later.
        """
        value = self.get_starting_replication_key_value(context)
        if not value:
            return 0
        seconds = vtypes.datetime_to_unix(str(value))
        now = int(self.client.server_now())
        if seconds > now + CLOCK_SLACK:  # ahead of our clock: ask the server's
            now = int(self.client.server_now(ask=True))
        if seconds > now + CLOCK_SLACK:
            self._warn_future(str(value), now, "the state's bookmark")
            seconds = now
            self.get_context_state(context)["replication_key_value"] = (
                vtypes.unix_to_datetime(now))
        return max(0, seconds - 1)

    def _bookmark_moved(self) -> None:
        """Keep the bookmark at or before the server's clock: a record stamped in the future
        (clock skew, imports) would otherwise make every later run skip the changes made
        until then. The next run re-reads from the server's time (that record comes again).
        """
        state = self.get_context_state(self.context)
        value = state.get("replication_key_value")
        if not value:
            return
        now = int(self.client.server_now())
        if vtypes.datetime_to_unix(str(value)) > now + CLOCK_SLACK:
            state["replication_key_value"] = vtypes.unix_to_datetime(now)
            self._warn_future(str(value), now, "a record's modifiedtime")

    def _warn_future(self, value: str, now: int, what: str) -> None:
        if not self._future_warned:
            self._future_warned = True
            self.logger.warning("%s: %s %s is later than the server's time %s; the bookmark "
                                "is kept at the server's time so that later changes are not "
                                "skipped", self.module, what, value, vtypes.unix_to_datetime(now))

    # ------------------------------------------------------------------ deletion check

    def _start_tracking(self, state: dict[str, t.Any], *, fresh: bool) -> None:
        """Keep the delivered ids for the deletion check where sync cannot list every
        deletion (see :mod:`tap_vtiger.deletions`); drop them where it can.
        """
        hours = self.config.get("deletion_check_hours", 24)
        allowed = (self.config.get("include_deleted", True) and hours is not None
                   and float(hours) >= 0
                   and type(self).scope_where is ModuleStream.scope_where)
        if not allowed:
            state.pop(DELETIONS_KEY, None)
            return
        if self.deletion_tracker is None:
            self.deletion_tracker = DeletionTracker(self, state, fresh=fresh)

    def _needs_id_check(self, state: dict[str, t.Any]) -> bool:
        """Whether sync may miss deletions of this module (see the module docstring)."""
        verdict = state.get("vtiger_sync") or {}
        if verdict.get("mode") == "query":
            return True
        return self.client.config.api_style == "webservice" and not self._sync_proven(state)

    def _sync_proven(self, state: dict[str, t.Any]) -> bool:
        """Whether sync is known to list every owner's records of this module: proven by
        this module, or by any module of this server (``SYNC_PROOF_KEY``) while ``sync_type``
        is application (a user-scoped sync lists the user's records only, by design).
        """
        if (state.get("vtiger_sync") or {}).get("complete") is True:
            return True
        sync_type = self.config.get("sync_type") or "application"
        return sync_type == "application" and bool(self.tap_state.get(SYNC_PROOF_KEY))

    def _prove_sync_complete(self, state: dict[str, t.Any]) -> None:
        """A sync page held another owner's record: this server's sync is not owner-limited."""
        self._verdict(state)["complete"] = True
        if not self.tap_state.get(SYNC_PROOF_KEY):
            self.tap_state[SYNC_PROOF_KEY] = {"module": self.module,
                                              "proven_at": int(time.time())}
            self.logger.info("%s: sync returned another owner's record: this server's sync "
                             "lists every owner's records (no owner check for any module "
                             "from now on)", self.module)

    def _tracked(self, records: t.Generator[dict, None, t.Any]) -> t.Generator[dict, None, t.Any]:
        """The records of ``records`` (and its return value), noted by the deletion check."""
        tracker = self.deletion_tracker
        if tracker is None:
            return (yield from records)
        try:
            record = next(records)
            while True:
                tracker.note(record)
                yield record
                record = next(records)
        except StopIteration as stop:
            return stop.value

    def write_state(self) -> None:
        """The delivered ids go into the state with the bookmark they belong to."""
        if self.deletion_tracker is not None:
            self.deletion_tracker.save()
        super().write_state()

    def _verdict(self, state: dict[str, t.Any]) -> dict[str, t.Any]:
        """How this module was read last time (kept in its state between runs)."""
        return state.setdefault("vtiger_sync", {})

    def _sync_usable(self, state: dict[str, t.Any]) -> bool:
        verdict = self._verdict(state)
        if verdict.get("mode") == "query":
            age = time.time() - float(verdict.get("checked_at") or 0)
            if age < VERDICT_TTL:
                self.logger.info("%s: reading through query (%s, decided %d s ago)",
                                 self.module, verdict.get("reason"), int(age))
                return False
        return True

    def _remember(self, state: dict[str, t.Any], mode: str, reason: str) -> None:
        verdict = self._verdict(state)
        verdict.update({"mode": mode, "reason": reason, "checked_at": int(time.time())})

    def _note_gap(self, state: dict[str, t.Any], since: int) -> None:
        """Remember the earliest second read through ``query`` instead of ``sync``: query
        cannot see deletions, so the next run that can use sync starts there (the records
        changed since then come again; upserting targets take them as no-ops) and reports the
        deletions in between instead of losing them.
        """
        verdict = self._verdict(state)
        gap = verdict.get("gap_from")
        verdict["gap_from"] = since if gap is None else min(int(gap), since)

    # ------------------------------------------------------------------ records

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """Sync pages (or query pages), typed, in modifiedtime order."""
        state = self.get_context_state(context)
        since = self.start_seconds(context)
        fresh = not state.get("replication_key_value")  # nothing delivered before this run
        self.deletion_tracker = None
        if DELETIONS_KEY in state or self._needs_id_check(state):
            self._start_tracking(state, fresh=fresh)
        emitted = self._emitted = BookmarkSecond(state, self.replication_key or "modifiedtime")
        try:
            resume: int | None = since
            if self._sync_usable(state):
                resume = yield from self._tracked(emitted.filter(self._sync_pages(state, since)))
            elif self.config.get("include_deleted", True):
                self._note_gap(state, since)
            if resume is not None:
                # sync cannot serve (any more): query cannot see deletions, the check can
                self._start_tracking(state, fresh=fresh and resume == since)
                yield from self._tracked(emitted.filter(self._query_pages(resume)))
            tracker = self.deletion_tracker
            if tracker is not None and not self._needs_id_check(state):
                state.pop(DELETIONS_KEY, None)  # sync proved it lists every deletion
                self.deletion_tracker = None
            elif tracker is not None and tracker.due():
                yield from tracker.check()
        finally:
            self._finish()
            if state.get("vtiger_sync") == {}:
                del state["vtiger_sync"]
            if emitted.skipped:
                self.logger.info("%s: %d records of the bookmark second skipped (emitted "
                                 "unchanged by the previous run)", self.module, emitted.skipped)
            self._emitted = None

    def _fields_checked(
        self, wires: list[dict], parse: t.Callable[[t.Mapping[str, t.Any]], dict]
    ) -> t.Callable[[t.Mapping[str, t.Any]], dict]:
        """The parser for a page: a new one (after a new SCHEMA message) when the page's
        records carry fields the schema lacks that describe declares (tap_vtiger.schema_drift).
        """
        if self._drift is None:
            self._drift = SchemaDrift(TapDescribes(self.tap))
        new = self._drift.undeclared(self, wires)
        if not new or not self._drift.adopt(self, new):
            return parse
        self._parser = None
        self.write_schema()
        return self.parser

    def write_page_state(self) -> None:
        """The page just delivered is done: its STATE goes out (when due) even though no
        record of it moved the bookmark (deletion-check pages carry ids only).
        """
        self.mark_state_unwritten()
        self._page_done()

    def _page_done(self) -> None:
        """Remember the page's last-second records in the state before its STATE message;
        large deletion-check states are written every few pages only.
        """
        if self._emitted is not None:
            self._emitted.remember()
        tracker = self.deletion_tracker
        if tracker is None or tracker.state_due():
            super()._page_done()
            return
        self._flush_records()
        self._time_extracted = utc_now_text()

    def _sync_pages(
        self, state: dict[str, t.Any], since: int
    ) -> t.Generator[dict, None, int | None]:
        """Yield sync pages; return None when done, or the unix second from which ``query``
        must continue (sync cannot serve the module).
        """
        client = self.client
        sync_type = self.config.get("sync_type") or "application"
        include_deleted = self.config.get("include_deleted", True)
        parse = self.parser
        check_owner = (
            client.config.api_style == "webservice"
            and sync_type == "application"
            and not self._sync_proven(state)
        )
        resume_from = since  # where query goes on from, should sync not serve
        gap = self._verdict(state).get("gap_from") if include_deleted else None
        if gap is not None and int(gap) < since:
            self.logger.info(
                "%s: sync from %s: earlier runs read through query, which cannot see "
                "deletions; the records changed since then come again", self.module,
                vtypes.unix_to_datetime(max(1, int(gap))))
            since = int(gap)
            self.rereading_gap = True
        since = max(1, since)  # the modifiedTime sync is asked for: 0 crashes the server
        try:
            page = client.sync(self.module, since, sync_type)
        except (RetryableError, UnknownModuleError) as exc:
            if isinstance(exc, RetryableError) and exc.code not in ("EMPTY_RESPONSE", "HTTP_500"):
                raise
            crashed: set[str] = self.tap.sync_crashed_modules  # type: ignore[attr-defined]
            if exc.code == "EMPTY_RESPONSE" and crashed:
                # one warning per run for a server whose sync crashes (stock 8.2 on PHP 8)
                self.logger.info("%s: sync crashes here too; reading through query instead",
                                 self.module)
            else:
                self.log_fallback("sync is not available (%s); reading through query instead",
                                  exc)
            if exc.code == "EMPTY_RESPONSE":
                crashed.add(self.module)
            if exc.code != "HTTP_500":
                # a crash on every call (stock 8.2) or a module sync does not know: trusted
                # for a day. A plain 500 that outlived the retries may pass: this run only.
                self._remember(state, "query", f"sync failed: {exc.code}")
            if include_deleted:
                self._note_gap(state, resume_from)
            return resume_from
        if check_owner and not self._sync_is_complete(state, page, resume_from):
            return resume_from
        if self._verdict(state).pop("mode", None) == "query":  # sync works (again)
            for key in ("reason", "checked_at"):
                self._verdict(state).pop(key, None)
        while True:
            last = int(page.get("lastModifiedTime") or since)
            more = bool(page.get("more"))
            ahead = self._prefetch(client.sync, self.module, last, sync_type) if (
                more and last > since) else None
            updated = page.get("updated") or []
            if updated:
                parse = self._fields_checked(updated, parse)
                updated.sort(key=lambda r: r.get("modifiedtime") or "")
                for wire in updated:
                    yield parse(wire)
            deleted = page.get("deleted") or []
            if deleted and include_deleted:
                stamp = vtypes.unix_to_datetime(max(last, since + 1))
                for record_id in deleted:
                    yield {"id": record_id, "modifiedtime": stamp, DELETED_AT: stamp}
            self._page_done()
            if not more:
                self._verdict(state).pop("gap_from", None)  # sync has covered it all
                self.rereading_gap = False
                return None
            if ahead is None:
                msg = (f"{self.module}: sync says more but lastModifiedTime did not advance "
                       f"({last} <= {since})")
                raise VtigerError("SYNC_STUCK", msg, operation="sync")
            since = last
            try:
                page = ahead.result()
            except RetryableError as exc:
                if exc.code not in ("EMPTY_RESPONSE", "HTTP_500"):
                    raise
                self.log_fallback("sync failed mid-run (%s); continuing through query", exc)
                if include_deleted:
                    self._note_gap(state, since)
                return since

    def _sync_is_complete(self, state: dict[str, t.Any], page: dict, since: int) -> bool:
        """webservice.php: is this server's sync returning every owner's records?"""
        client = self.client
        me = client.user_id
        props = self.effective_schema.get("properties", {})
        if not me or "assigned_user_id" not in props:
            return True
        owners = {r.get("assigned_user_id") for r in page.get("updated") or []}
        if owners - {me, "", None}:
            self._prove_sync_complete(state)  # someone else's record came back
            return True
        where = vtql.ne("assigned_user_id", me)
        if since >= 1:
            where = where & vtql.gt("modifiedtime", vtypes.unix_to_wire(since))
        try:
            rows = client.query(vtql.select(self.module, "count(*)", where=where))
            others = int((rows or [{}])[0].get("count") or 0)
        except VtigerError as exc:
            if isinstance(exc, FatalError):
                raise
            self.logger.info("%s: completeness check failed (%s); trusting sync", self.module,
                             exc)
            return True
        if others:
            self.log_fallback(
                "sync returned only records of the calling user, but %d records of other "
                "owners changed since then (self-hosted Vtiger); reading through query instead",
                others)
            self._remember(state, "query", "sync returns only own records")
            return False
        return True

    # ------------------------------------------------------------------ query fallback

    def scope_where(self, where: vtql.Condition) -> vtql.Condition:
        """Hook: narrow every query of this stream (custom query streams AND their own
        ``where`` here; ``vtql`` distributes it over OR terms, VTQL having no parentheses).

        ``sync_type`` holds for the query fallback too: ``user`` reads the calling user's
        records, ``userandgroup`` those and the group-owned ones (VTQL cannot tell group
        membership; the groups the user can see stand in for it), as sync would.
        """
        owners = self._owners()
        return where if owners is None else where & vtql.in_clause("assigned_user_id", owners)

    def _owners(self) -> list[str] | None:
        """Owner ids ``sync_type`` limits this module to (None: every owner). Asked once per
        run: ``me`` for ``user``, and ``select id from Groups`` for ``userandgroup``.
        """
        sync_type = self.config.get("sync_type") or "application"
        if sync_type == "application" or "assigned_user_id" not in self.schema.get(
                "properties", {}):
            return None
        cache: dict[str, list[str]] = self.tap.owner_scope  # type: ignore[attr-defined]
        if sync_type not in cache:
            client = self.client
            owners = [str(client.me()["id"])]
            offset = 0
            while sync_type == "userandgroup":  # every group, 100 a page (no "order by":
                # non-entity modules may refuse it; a group seen twice does no harm)
                page = client.query(vtql.select("Groups", "id", limit=vtql.ROW_CAP,
                                                offset=offset)) or []
                owners += [str(r["id"]) for r in page if str(r["id"]) not in owners]
                if len(page) < vtql.ROW_CAP:
                    break
                offset += vtql.ROW_CAP
            cache[sync_type] = owners
            self.logger.info("%s: query limited to sync_type %s owners %s", self.module,
                             sync_type, ", ".join(owners))
        return cache[sync_type]

    def query_columns(self) -> str | list[str]:
        """The columns queries of this stream ask for (``*`` when every field is selected)."""
        return self._columns()

    def _columns(self) -> str | list[str]:
        fields = [n for n in self.selected_fields() if n != DELETED_AT]
        props = self.effective_schema.get("properties", {})
        if len(fields) == len([p for p in props if p != DELETED_AT]):
            return "*"
        undeclared = {f["name"] for f in vtypes.UNDECLARED_FIELDS.get(self.module, ())}
        return list(dict.fromkeys(["id", "modifiedtime", *(
            n for n in fields
            if n not in undeclared and not props.get(n, {}).get(UNDECLARED))]))

    def _query_pages(self, since: int) -> t.Generator[dict, None, None]:
        """Keyset paging on (modifiedtime, id) (see the module docstring): every row is read
        once, in one call per 100 rows, and the next page is fetched while this one is written.
        """
        client = self.client
        parse = self.parser
        columns = self._columns()
        key = self.replication_key or "modifiedtime"
        upper = vtql.le(key, vtypes.unix_to_wire(int(time.time()) - 1))
        first = vtql.gt(key, vtypes.unix_to_wire(since)) & upper if since >= 1 else upper

        def fetch(after: tuple[str, str] | None) -> list[dict]:
            where = first
            if after is not None:  # past the last row read: same second and higher id, or later
                value, rid = after
                where = (vtql.eq(key, value) & vtql.gt("id", rid) | vtql.gt(key, value)) & upper
            return client.query(vtql.select(self.module, columns, where=self.scope_where(where),
                                            order_by=[key, "id"], limit=QUERY_PAGE))

        rows = fetch(None)
        while True:
            ahead = None
            if len(rows) >= QUERY_PAGE:
                last = rows[-1]
                ahead = self._prefetch(fetch, (last.get(key) or "", last.get("id")))
            if rows and columns == "*":
                parse = self._fields_checked(rows, parse)
            for wire in rows:
                yield parse(wire)
            self._page_done()
            if ahead is None:
                return
            rows = ahead.result()


class FullTableStream(VtigerStream):
    """Users, Groups, Currency and other non-entity modules, read whole each run.

    One ``select * from M limit 100;`` first: these tables are small, so usually that is the
    only call, and it uses nothing but the plain syntax Vtiger is known to accept for them. A
    full page continues with ``order by id`` offset pages (stable order); a server refusing that
    ordering gets plain offset pages, deduplicated by id, with a warning.
    """

    replication_key = None
    is_entity = False

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """Every row, or nothing (with a warning) when the API cannot query the module."""
        parse = self.parser
        table = self._unchanged_rows(context)
        try:
            rows = self.client.query(vtql.select(self.module, limit=QUERY_PAGE))
            if len(rows) < QUERY_PAGE:
                records: t.Iterator[dict] = (parse(wire) for wire in rows)
            else:
                records = self._paged(parse)
            for record in records:
                if table is None or table.changed(record):
                    yield record
            if table is not None:
                table.remember()
        except (QuerySyntaxError, UnknownModuleError) as exc:
            self.logger.warning("%s: cannot be read through query (%s); skipped", self.module,
                                exc)
        except RetryableError as exc:
            if exc.code != "EMPTY_RESPONSE":
                raise
            self.logger.warning("%s: the server crashes on query (%s); skipped", self.module,
                                exc)
        finally:
            self._finish()
        self._page_done()

    def _unchanged_rows(self, context: t.Mapping[str, t.Any] | None) -> TableDigests | None:
        """Digests of the rows the previous run emitted: unchanged rows are not emitted again.
        None (every row, every run) when ACTIVATE_VERSION messages are on: a target replacing
        the table with each version needs them all.
        """
        if self.config.get("emit_activate_version_messages"):
            return None
        return TableDigests(self.get_context_state(context))

    def _paged(self, parse: t.Callable[[t.Mapping[str, t.Any]], dict]) -> t.Iterator[dict]:
        seen: set[str] = set()
        try:
            for wire in self.client.query_all(self.module):
                seen.add(wire.get("id"))
                yield parse(wire)
            return
        except QuerySyntaxError as exc:
            self.logger.warning("%s: 'order by id' refused (%s); paging without an order",
                                self.module, exc)
        offset = 0
        while True:
            rows = self.client.query(vtql.select(self.module, limit=QUERY_PAGE, offset=offset))
            for wire in rows:
                if wire.get("id") not in seen:
                    seen.add(wire.get("id"))
                    yield parse(wire)
            if len(rows) < QUERY_PAGE:
                return
            offset += len(rows)
