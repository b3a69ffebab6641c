"""One sink per stream writing a Vtiger module: validate -> match -> diff -> write -> verify.

Per batch (``batch_size_rows``, default 100 = one lookup query):

1. every record is checked against the module's ``describe`` (read once per run) and converted
   to wire strings; a bad record is rejected here and never sent;
2. duplicates inside the batch collapse to the last one (one write, not two);
3. existing records are found for the whole batch (``id in (...)`` / ``<key> in (...)``);
4. each record becomes a create, a ``revise`` of only the changed fields, a delete, or nothing;
5. what ``create``/``revise`` returns is compared with what was sent: Vtiger silently rounds,
   drops and replaces values, and each altered field is reported;
6. per-record API errors reject that record and the batch goes on; fatal errors stop the run.
"""

from __future__ import annotations

import random
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from target_vtiger.matching import (
    QUERY_ROW_CAP,
    Key,
    chunked,
    key_variants,
    lookup,
    normalize_key_value,
    record_key,
    row_key,
    stored_spellings,
)
from target_vtiger.run import TargetConfigError
from target_vtiger.sinks.base import RunSink
from target_vtiger.storedform import changed_fields_as_stored
from target_vtiger.validation import (
    ConvertedRecord,
    altered_fields,
    convert_record,
    missing_mandatory,
)
from vtiger_client import vtql
from vtiger_client.errors import (
    FatalError,
    RateLimitError,
    RecordError,
    RetryableError,
    VtigerError,
    refused_before_work,
)
from vtiger_client.session import BULK_LIMIT


class CreateUnconfirmed(Exception):
    """A create without a match key whose answer was lost: retrying could duplicate it."""


class LookupFailed(Exception):
    """A lookup value the server refuses to query (reported on the records carrying it)."""

    def __init__(self, value: str, code: str, message: str) -> None:
        super().__init__(message)
        self.value = value
        self.code = code
        self.message = message


@dataclass
class Planned:
    """One incoming record on its way through the batch."""

    raw: dict[str, t.Any]
    conv: ConvertedRecord
    #: ("id", id) or ("key", normalized key) or None (cannot be matched: create only)
    identity: tuple[str, t.Any] | None = None
    key_raw: list[str] = field(default_factory=list)
    action: str = ""  # create | revise | delete | unchanged | skip
    existing: dict[str, t.Any] | None = None
    changes: dict[str, str] = field(default_factory=dict)


class VtigerSink(RunSink):
    """Writes one stream into one Vtiger module."""

    #: Values reach the sink as received: validation converts dates itself and rejects bad
    #: ones, where the SDK would stop the run or null them (a silent change).
    parse_timestamps = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_mode = self.config.get("write_mode", "upsert")
        bulk = (self.config.get("api_designer_upsert") or {}).get(self.stream_name)
        self.bulk: dict[str, t.Any] | None = dict(bulk) if bulk else None
        self._warned: set[str] = set()
        self.write_concurrency = max(1, int(self.config.get("write_concurrency") or 1))

    def open_destination(self) -> str:
        """The stream's module, its ``describe`` read and the stream's match keys checked
        against it.
        """
        module_name = self.run.module_for(self.stream_name)
        self.module = self.run.module_spec(module_name)
        self.match_keys = self.run.match_keys_for(self.stream_name)
        unknown = [k for k in self.match_keys if k not in self.module.fields]
        if unknown:
            msg = (
                f"match_keys for stream {self.stream_name!r}: module {module_name} has no "
                f"field {', '.join(unknown)}"
            )
            raise TargetConfigError(msg)
        return module_name

    # ------------------------------------------------------------------ SDK hooks

    def activate_version(self, new_version: int) -> None:
        """Ignored on purpose: ACTIVATE_VERSION tells a table target to drop rows the latest
        full sync did not send. Deleting CRM records by omission would be a hazard; deletes
        come only from ``_sdc_deleted_at`` with ``hard_delete``.
        """
        self.logger.debug("Stream %s: ACTIVATE_VERSION %s ignored", self.stream_name, new_version)


    # ------------------------------------------------------------------ helpers

    def _warn_once(self, key: str, message: str, *args: t.Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning(message, *args)

    def reference(self, record: dict[str, t.Any]) -> str | None:
        """How a person finds the record: its id, else its match key values."""
        if record.get("id"):
            return f"id {record['id']}"
        shown = [f"{k}={record[k]!r}" for k in self.match_keys if record.get(k) not in (None, "")]
        return " ".join(shown) or None

    # ------------------------------------------------------------------ the batch

    def settle(self, records: list[dict]) -> None:
        """Validate, match, diff and write one batch (see module docstring)."""
        plans = self._validate(records)
        plans = self._dedupe(plans)
        self._match(plans)
        self._decide(plans)
        self._execute(plans)

    def _validate(self, records: list[dict]) -> list[Planned]:
        unknown_mode = self.config.get("unknown_fields", "reject")
        hard_delete = bool(self.config.get("hard_delete", False))
        plans: list[Planned] = []
        for raw in records:
            conv = convert_record(self.module, raw, unknown_fields=unknown_mode)
            if conv.problems:
                self.reject(
                    raw,
                    conv.problems[0].code,
                    "; ".join(str(p) for p in conv.problems),
                    fields=[p.field for p in conv.problems],
                )
                continue
            for name in conv.ignored_unknown:
                self._warn_once(
                    f"unknown:{name}",
                    "Stream %s: field %r is not a field of %s; ignored (unknown_fields=ignore)",
                    self.stream_name,
                    name,
                    self.module_name,
                )
            for name in conv.ignored_readonly:
                if name not in ("createdtime", "modifiedtime", "label"):
                    self._warn_once(
                        f"readonly:{name}",
                        "Stream %s: field %r of %s is read-only in Vtiger; not written",
                        self.stream_name,
                        name,
                        self.module_name,
                    )
            if conv.deleted and not hard_delete:
                self.count("skipped")
                self._warn_once(
                    "deleted",
                    "Stream %s: records carrying _sdc_deleted_at are skipped "
                    "(set hard_delete to delete them in Vtiger)",
                    self.stream_name,
                )
                continue
            plan = Planned(raw=raw, conv=conv)
            if conv.id:
                plan.identity = ("id", conv.id)
            elif self.match_keys:
                key = record_key(self.module, self.match_keys, conv.wire)
                if key is None:
                    self.reject(
                        plan.raw,
                        "MATCH_KEY_MISSING",
                        f"record has no id and no value for match key {', '.join(self.match_keys)}",
                    )
                    continue
                plan.identity = ("key", key)
                plan.key_raw = [conv.wire[k] for k in self.match_keys]
            elif self.write_mode == "update" or conv.deleted:
                self.reject(
                    plan.raw,
                    "MATCH_KEY_MISSING",
                    "record has no id and the stream has no match_keys, so no existing "
                    "record can be found",
                )
                continue
            else:
                self._warn_once(
                    "no-identity",
                    "Stream %s: records without id and no match_keys are always created; "
                    "a re-run will create them again (set match_keys to make it idempotent)",
                    self.stream_name,
                )
            plans.append(plan)
        return plans

    def _dedupe(self, plans: list[Planned]) -> list[Planned]:
        """Within a batch the last record for an identity wins: writing both would create
        twice (neither exists yet at lookup time) or write a value that is then overwritten.
        """
        last: dict[tuple[str, t.Any], int] = {}
        for index, plan in enumerate(plans):
            if plan.identity is not None:
                last[plan.identity] = index
        kept = []
        for index, plan in enumerate(plans):
            if plan.identity is not None and last[plan.identity] != index:
                self.tally_duplicate_merged()
                self.count("skipped")
                continue
            kept.append(plan)
        return kept

    def _match(self, plans: list[Planned]) -> None:
        ids = [p.identity[1] for p in plans if p.identity and p.identity[0] == "id"]
        key_values: dict[Key, list[str]] = {
            p.identity[1]: p.key_raw for p in plans if p.identity and p.identity[0] == "key"
        }
        if not ids and not key_values:
            return
        failed: dict[str, LookupFailed] = {}

        def query(module: str, fieldname: str, values: list[str]) -> list[dict[str, t.Any]]:
            return self._query_in(module, fieldname, values, failed)

        found = lookup(self.module, ids, self.match_keys, key_values, query)
        for plan in plans:
            if plan.identity is None:
                continue
            kind, ident = plan.identity
            probe = ident if kind == "id" else plan.key_raw[0]
            if probe in failed:
                err = failed[probe]
                self.reject(plan.raw, "LOOKUP_FAILED", f"{err.code}: {err.message}")
                plan.action = "rejected"
                continue
            if kind == "id":
                row = found.by_id.get(ident)
                plan.existing = row
                if row is None:
                    plan.action = "" if plan.conv.deleted else "not-found-id"
            else:
                rows = found.by_key.get(ident, [])
                if len(rows) > 1:
                    ids_text = ", ".join(str(r.get("id")) for r in rows[:5])
                    self.reject(
                        plan.raw,
                        "AMBIGUOUS_MATCH",
                        f"{len(rows)} {self.module_name} records match "
                        f"{self._key_text(plan)} ({ids_text}); not guessing which to write",
                    )
                    plan.action = "rejected"
                    continue
                plan.existing = rows[0] if rows else None

    def _key_text(self, plan: Planned) -> str:
        return " and ".join(
            f"{k}={v!r}" for k, v in zip(self.match_keys, plan.key_raw, strict=False)
        )

    def _decide(self, plans: list[Planned]) -> None:
        skip_unchanged = bool(self.config.get("skip_unchanged", True))
        for plan in plans:
            if plan.action == "rejected":
                continue
            if plan.conv.deleted:
                plan.action = "delete" if plan.existing else "unchanged"
                continue
            if plan.action == "not-found-id":
                self.reject(
                    plan.raw,
                    "RECORD_NOT_FOUND",
                    f"no {self.module_name} record has id {plan.conv.id} (deleted, or an id "
                    f"from another instance; drop `id` and set match_keys to match by value)",
                )
                plan.action = "rejected"
                continue
            if plan.existing is not None:
                if self.write_mode == "create":
                    plan.action = "skip"
                    continue
                wire = dict(plan.conv.wire)
                if wire.get("assigned_user_id") == "":
                    # no owner in the source means "keep it": a Vtiger record always has one
                    del wire["assigned_user_id"]
                plan.changes = (
                    changed_fields_as_stored(
                        self.module, wire, plan.existing, self.run.user_preferences
                    )
                    if skip_unchanged
                    else wire
                )
                plan.action = "revise" if plan.changes else "unchanged"
            elif self.write_mode == "update":
                self.reject(
                    plan.raw,
                    "NO_MATCH",
                    f"write_mode is update and no {self.module_name} record matches "
                    f"{self._key_text(plan)}",
                )
                plan.action = "rejected"
            else:
                plan.action = "create"

    # ------------------------------------------------------------------ writing

    def _execute(self, plans: list[Planned]) -> None:
        creates = [p for p in plans if p.action == "create"]
        revises = [p for p in plans if p.action == "revise"]
        for plan in plans:
            if plan.action == "unchanged":
                self.count("unchanged")
            elif plan.action == "skip":
                self.count("skipped")
        permissions = (
            ("create", self.module.createable, creates),
            ("update", self.module.updateable, revises),
            ("delete", self.module.deleteable, [p for p in plans if p.action == "delete"]),
        )
        for verb, allowed, group in permissions:
            if not allowed:  # describe says so: no call would succeed
                for plan in group:
                    self.reject(
                        plan.raw, "NOT_PERMITTED", f"module {self.module_name} is not {verb}able"
                    )
                    plan.action = "rejected"
                group.clear()
        # mandatory fields are checked before any call: the server would refuse anyway
        ready_creates = []
        for plan in creates:
            element = dict(plan.conv.wire)
            if not element.get("assigned_user_id"):
                element["assigned_user_id"] = self.run.default_owner()
            missing = missing_mandatory(self.module, element, creating=True)
            if missing:
                self.reject(
                    plan.raw,
                    "MANDATORY_FIELDS_MISSING",
                    f"{', '.join(missing)} must have a value to create a {self.module_name} record",
                )
                continue
            plan.changes = element
            ready_creates.append(plan)
        ready_revises = []
        for plan in revises:
            emptied = missing_mandatory(self.module, plan.changes, creating=False)
            if emptied:
                self.reject(
                    plan.raw,
                    "MANDATORY_FIELDS_MISSING",
                    f"{', '.join(emptied)} is mandatory and cannot be emptied",
                )
                continue
            ready_revises.append(plan)
        deletes = [p for p in plans if p.action == "delete"]

        if self.dry_run:
            self.count("created", len(ready_creates))
            self.count("updated", len(ready_revises))
            self.count("deleted", len(deletes))
            return

        if self.bulk:
            self._bulk_upsert(ready_creates + ready_revises)
            self._run_writes([(self._delete, p) for p in deletes])
        else:
            self._run_writes(
                [(self._create, p) for p in ready_creates]
                + [(self._revise, p) for p in ready_revises]
                + [(self._delete, p) for p in deletes]
            )

    def _run_writes(self, work: list[tuple[t.Callable[[Planned], None], Planned]]) -> None:
        """One API call per record, ``write_concurrency`` at a time.

        Parallel writes are safe here because a batch holds each identity once (see
        ``_dedupe``); the batch still ends only when every write has ended, so STATE keeps
        its meaning. A fatal error in any write stops the run after the running ones finish.
        """
        if self.write_concurrency <= 1 or len(work) <= 1:
            for action, plan in work:
                action(plan)
            return
        with ThreadPoolExecutor(max_workers=self.write_concurrency) as pool:
            futures = [pool.submit(action, plan) for action, plan in work]
            for future in futures:
                future.result()

    def _create(self, plan: Planned) -> None:

        try:
            returned = self._create_once(plan)
        except RecordError as err:
            self.reject(plan.raw, err.code, err.message)
            return
        except CreateUnconfirmed as err:
            self.reject(plan.raw, "CREATE_UNCONFIRMED", str(err))
            return
        except RetryableError as err:
            if not self._record_crashes_server(err):
                raise
            self._reject_server_error(plan, err, "create", " (the record was looked up by its "
                                      "match key after each answer: Vtiger does not hold it)")
            return
        self._after_write(plan, returned, "created")

    @staticmethod
    def _record_crashes_server(err: RetryableError) -> bool:
        """An HTTP 500 (or Vtiger's INTERNAL_SERVER_ERROR) that outlived the retries: the
        server answers, but fails on this record. Other transient errors (timeouts, refused
        connections, 502-504, 429) say the server is unreachable or busy: they stop the run.
        """
        return not isinstance(err, RateLimitError) and (
            err.http_status == 500 or err.code == "INTERNAL_SERVER_ERROR")

    def _reject_server_error(self, plan: Planned, err: RetryableError, verb: str,
                             detail: str = "") -> None:
        """Reject the record the server keeps failing on (``SERVER_ERROR``), unless
        ``stop_on_server_error`` says the run must stop there (``FatalError``: exit 1).
        """
        tries = int(self.config.get("max_retries", 5)) + 1
        message = (f"Vtiger failed on this record's {verb} {tries} time(s): {err.detail()}; "
                   f"not written{detail}. Fix the record's values (or the server) and send it "
                   "again")
        if self.config.get("stop_on_server_error", False):
            ref = self.reference(plan.raw)
            which = f"record {ref}" if ref else "a record"
            raise FatalError("SERVER_ERROR", f"stream {self.stream_name}, {which}: {message} "
                             "(stop_on_server_error is on)", err.http_status, verb)
        self.reject(plan.raw, "SERVER_ERROR", message)
        self.run.note_server_error()

    def _create_once(self, plan: Planned) -> dict[str, t.Any]:
        """Create without ever creating twice.

        A transport failure (timeout, dropped connection, truncated answer, 5xx) after the
        request left says nothing about whether the record exists now. With a match key we
        look before trying again. Without one there is nothing to look for: the create is
        retried only when the server certainly did not act (429, 503 refuse before any work),
        otherwise the record is rejected as ``CREATE_UNCONFIRMED`` (kept with its reason)
        rather than risk a duplicate in the CRM.
        """
        run = self.run
        keyed = plan.identity is not None and plan.identity[0] == "key"
        attempts = int(self.config.get("max_retries", 5)) + 1
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                return run.no_retry_client.create(self.module_name, plan.changes)
            except RateLimitError as err:  # refused before any write: just wait
                last = err
                time.sleep(float(err.retry_after) if err.retry_after is not None
                           else self._retry_wait(attempt))
            except RetryableError as err:
                last = err
                if not keyed:
                    if refused_before_work(err):
                        time.sleep(self._retry_wait(attempt))
                        continue
                    raise CreateUnconfirmed(
                        f"the answer to the create was lost ({err.code}): Vtiger may or may not "
                        "hold the record; check before re-sending it (set match_keys to make "
                        "creates safe to retry)") from None
                existing = self._find_created(plan, err)
                if existing is not None:
                    self.logger.info(
                        "%s: the answer to a create was lost but the record exists (%s); "
                        "not creating it again",
                        self.stream_name,
                        existing.get("id"),
                    )
                    return existing
                time.sleep(self._retry_wait(attempt))
        assert last is not None
        raise last

    def _retry_wait(self, attempt: int) -> float:
        """The client's retry policy (full jitter, ``backoff_base`` doubling up to
        ``backoff_max``) for the create retries done here too, so the settings govern every
        wait of the run.
        """
        base = float(self.config.get("backoff_base", 1.0))
        cap = float(self.config.get("backoff_max", 60))
        return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))

    def _find_created(self, plan: Planned, err: RetryableError) -> dict[str, t.Any] | None:
        """After a lost create answer: the record if the create happened, None if it certainly
        did not, ``CreateUnconfirmed`` if that cannot be told.

        An answer that came back broken (5xx, HTML, truncated) or a refused connection means
        the server is done with the request: one look decides. A timeout means the server may
        still be working on it, and a look now could miss a create that lands a moment later
        (then a retry would make a second record): the record is looked for again, with
        growing pauses, until ``request_timeout`` more seconds have passed. Not found by
        then, it is rejected as ``CREATE_UNCONFIRMED`` rather than sent again; the next run
        finds it if the server did write it.
        """
        existing = self._find_by_key(plan)
        if existing is not None or err.code != "TIMEOUT":
            return existing
        budget = float(self.config.get("request_timeout") or 60)
        deadline = time.monotonic() + budget
        pause = min(0.25, budget)
        while time.monotonic() < deadline:
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            existing = self._find_by_key(plan)
            if existing is not None:
                return existing
            pause *= 2
        raise CreateUnconfirmed(
            f"the create got no answer within request_timeout ({budget:g} s) and the record "
            f"was still not in Vtiger {budget:g} s later: the server may still write it. Not "
            "sent again; a re-run matches it if it was written (raise request_timeout for a "
            "slow server)"
        )

    def _find_by_key(self, plan: Planned) -> dict[str, t.Any] | None:
        variants = key_variants(self.module, self.match_keys, plan.key_raw)
        probes = [s[0] for s in stored_spellings(self.module, self.match_keys, plan.key_raw)]
        rows = self._query_in(self.module_name, self.match_keys[0], probes, {})
        matches = [r for r in rows if row_key(self.module, self.match_keys, r) in variants]
        return matches[0] if len(matches) == 1 else None

    def _revise(self, plan: Planned) -> None:

        assert plan.existing is not None
        element = {"id": str(plan.existing["id"]), **plan.changes}
        try:
            returned = self.run.client.revise(element)
        except RecordError as err:
            self.reject(plan.raw, err.code, err.message)
            return
        except RetryableError as err:  # revise sends the same values again: safe to retry
            if not self._record_crashes_server(err):
                raise
            self._reject_server_error(plan, err, "revise")
            return
        self._after_write(plan, returned, "updated")

    def _delete(self, plan: Planned) -> None:

        assert plan.existing is not None
        try:
            self.run.client.delete(str(plan.existing["id"]))
        except RecordError as err:
            if err.code != "ACCESS_DENIED":
                self.reject(plan.raw, err.code, err.message)
                return
            # Vtiger says ACCESS_DENIED for "already deleted": the goal state holds
        except RetryableError as err:
            if not self._record_crashes_server(err):
                raise
            self._reject_server_error(plan, err, "delete")
            return
        self.run.note_written()
        self.count("deleted")

    def _after_write(self, plan: Planned, returned: t.Any, outcome: str) -> None:
        """Compare what Vtiger stored with what was sent; report every altered field."""
        self.run.note_written()
        stored = returned if isinstance(returned, dict) else {}
        alterations = altered_fields(self.module, plan.changes, stored)
        if alterations:
            self.count("altered")
            text = "; ".join(str(a) for a in alterations)
            record_id = stored.get("id") or (plan.existing or {}).get("id")
            if self.config.get("strict_writes", False):
                self.reject(
                    plan.raw,
                    "WRITE_ALTERED",
                    f"{outcome} as {record_id}, but Vtiger stored other values: {text}",
                    id=record_id,
                    altered=[a.__dict__ for a in alterations],
                )
                return
            self.logger.warning(
                "%s record %s %s, but Vtiger altered %d field(s): %s",
                self.stream_name,
                record_id,
                outcome,
                len(alterations),
                text,
            )
            self.run.altered.write(
                self.stream_name,
                self.module_name,
                None if record_id is None else str(record_id),
                outcome,
                [a.__dict__ for a in alterations],
            )
        self.count(outcome)

    # ------------------------------------------------------------------ API Designer bulk

    def _bulk_upsert(self, plans: list[Planned]) -> None:
        """Creates and updates through an API Designer ``<upsert bulk="true">`` endpoint.

        Up to 50 records a request instead of one call each. The records were already matched,
        so updates carry the ``id`` (which wins over the endpoint's ``<where>``) and creates
        carry the endpoint's match field (a re-sent request after a lost answer matches what
        the first one created: no duplicates). Two kinds of record go through the core API
        instead: values to *empty* (API Designer drops empty parameters, so nothing would be
        cleared) and creates without a match-field value (an empty ``<where>`` matches
        anything). Fields the endpoint's ``<record>`` does not list are not written by it; the
        comparison of what came back reports them as altered.
        """
        assert self.bulk is not None
        path = str(self.bulk["path"])
        match_field = str(self.bulk.get("match_field") or "")
        size = int(self.bulk.get("batch_size") or BULK_LIMIT)
        bulk: list[Planned] = []
        direct: list[Planned] = []
        for plan in plans:
            clears = any(v == "" for v in plan.changes.values())
            unmatched = plan.existing is None and not plan.changes.get(match_field)
            (direct if clears or unmatched else bulk).append(plan)
        for chunk in chunked(bulk, size):  # type: ignore[arg-type]
            elements = []
            for plan in chunk:
                element = dict(plan.changes)
                if plan.existing is not None:
                    element["id"] = str(plan.existing["id"])
                elements.append(element)
            try:
                result = self.run.client.api_designer("POST", path, json={"records": elements})
            except (FatalError, RetryableError):
                raise
            except VtigerError as err:
                for plan in chunk:
                    self.reject(plan.raw, err.code, f"bulk upsert {path}: {err.message}")
                continue
            items = result.get("records") if isinstance(result, dict) else result
            if not isinstance(items, list) or len(items) != len(chunk):
                for plan in chunk:
                    self.reject(
                        plan.raw,
                        "BULK_RESPONSE_INVALID",
                        f"bulk upsert {path}: answer does not list one result per record "
                        "(the records may or may not be written; a re-run will match them)",
                    )
                continue
            for plan, item in zip(chunk, items, strict=True):
                item = item if isinstance(item, dict) else {}
                if item.get("success"):
                    returned = item.get("record") or {}
                    outcome = "created" if item.get("status") == "created" else "updated"
                    self._after_write(plan, returned, outcome)
                else:
                    error = item.get("error") or {}
                    self.reject(
                        plan.raw,
                        str(error.get("code") or "BULK_RECORD_FAILED"),
                        str(error.get("message") or "the endpoint refused the record"),
                    )
        for plan in direct:
            if plan.existing is None:
                self._create(plan)
            else:
                self._revise(plan)

    # ------------------------------------------------------------------ lookup queries

    def _maybe_capped(self, fieldname: str, values: list[str], rows: list[dict]) -> bool:
        """Could the server's 100-row cap have cut this answer short?

        Fewer rows than the cap: no. Ids are unique, so a query for at most 100 ids is never
        cut. A full page where every value matched exactly one row is taken as complete too;
        anything else (duplicates seen) is paged with ``order by id``. The price of that rule:
        a second match beyond the cap of a value that already matched once goes unnoticed
        (that record is revised instead of rejected as ambiguous); the gain: a full batch of
        existing records costs one query, not three.
        """
        if len(rows) < QUERY_ROW_CAP or fieldname == "id":
            return False
        ftype = self.module.field_type(fieldname)
        found = [normalize_key_value(ftype, str(r.get(fieldname) or "")) for r in rows]
        wanted = {normalize_key_value(ftype, v) for v in values}
        return not (len(set(found)) == len(found) == len(wanted) and set(found) == wanted)

    def _query_in(
        self,
        module: str,
        fieldname: str,
        values: list[str],
        failed: dict[str, LookupFailed],
    ) -> list[dict[str, t.Any]]:
        """``select * from module where field in (values)``, paged past the 100-row cap and
        split in halves when the server refuses a value, so one hostile value costs one
        record, not the batch.
        """
        client = self.run.client
        try:
            where = vtql.in_clause(fieldname, values)
            rows = client.query(vtql.select(module, "*", where=where))
            if self._maybe_capped(fieldname, values, rows):
                rows = []
                offset = 0
                while True:
                    page = client.query(
                        vtql.select(
                            module,
                            "*",
                            where=where,
                            order_by="id",
                            limit=QUERY_ROW_CAP,
                            offset=offset,
                        )
                    )
                    rows.extend(page)
                    if len(page) < QUERY_ROW_CAP:
                        break
                    offset += QUERY_ROW_CAP
            return rows
        except (FatalError, RetryableError):
            raise
        except (VtigerError, ValueError) as err:
            if len(values) == 1:
                code = getattr(err, "code", "INVALID_VALUE")
                message = getattr(err, "message", str(err))
                failed[values[0]] = LookupFailed(values[0], code, message)
                return []
            half = len(values) // 2
            return self._query_in(module, fieldname, values[:half], failed) + self._query_in(
                module, fieldname, values[half:], failed
            )
