"""The tap's base streams: what every stream of a run shares.

- :class:`VtigerStream`, the base of module and custom query streams: records typed once by
  converters built from the schema (:mod:`vtiger_client.types`), RECORD lines written per page
  by the fast writer when no stream map changes them, the bookmark moved once per page, the next
  page fetched in the background while this one is written.
- :class:`PerParentStream`, the base of every child stream (links, tags, account hierarchy):
  synced once per changed parent record, with one state, one SCHEMA message and one pair of
  METRIC lines per run; :func:`wire_children` attaches children to the right parent instances.
- The tap's one API client (:func:`tap_client`); the run's budget stop is the tap's stream
  guard (:mod:`tap_vtiger.tap`), around every stream.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import time
import typing as t

from singer_sdk import Stream, metrics
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import SchemaMessage

from tap_vtiger.schema import DELETED_AT, vtiger_type_of
from tap_vtiger.writer import FastSingerWriter
from vtiger_client import types as vtypes
from vtiger_client.errors import ConfigError
from vtiger_singer.sdk import HookedStream

if t.TYPE_CHECKING:
    from singer_sdk import Tap


def tap_client(tap: Tap) -> t.Any:
    """The tap's shared VtigerClient (one session, one call counter for the whole run)."""
    client = getattr(tap, "client", None)
    if callable(client) and not hasattr(client, "call"):
        client = client()
    if client is None:
        msg = "tap has no Vtiger client"
        raise RuntimeError(msg)
    return client


def stream_module(stream: Stream) -> str:
    """The Vtiger module a module stream reads (attribute set by the tap, else its name)."""
    for attr in ("module", "module_name", "vtiger_module"):
        value = getattr(stream, attr, None)
        if isinstance(value, str) and value:
            return value
    return stream.name


def is_deleted(record: t.Mapping[str, t.Any]) -> bool:
    """A parent record that only says "deleted": its links and tags are gone with it."""
    return bool(record.get("_sdc_deleted_at")) or record.get("deleted") is True


def is_entity_stream(stream: Stream) -> bool:
    """A stream of records with ids and a modifiedtime (not Users/Currency/custom queries)."""
    if getattr(stream, "is_entity", None) is False:
        return False
    props = (stream.schema or {}).get("properties", {})
    return "id" in props and "modifiedtime" in props


def utc_now_text() -> str:
    """Now, in UTC, as RFC 3339 text (a RECORD's ``time_extracted``)."""
    return dt.datetime.now(dt.timezone.utc).isoformat()


class VtigerStream(HookedStream):
    """Common ground of module streams: typed records, fast RECORD writing."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    primary_keys: t.ClassVar[list[str]] = ["id"]  # type: ignore[misc]
    #: Consumers (tags, relations) ask whether a stream holds entity records.
    is_entity = True

    def __init__(
        self,
        tap: Tap,
        module: str,
        schema: dict[str, t.Any],
        *,
        id_prefix: str | None = None,
        raw_catalog_schema: dict[str, t.Any] | None = None,
    ) -> None:
        self.module = module
        self.id_prefix = id_prefix
        self._raw_catalog_schema = raw_catalog_schema
        super().__init__(tap, schema=schema, name=module)
        self._parser: t.Callable[[t.Mapping[str, t.Any]], dict] | None = None
        self._fast: bool | None = None
        self._time_extracted = utc_now_text()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[dict[str, t.Any]] = []
        self._last_record: dict[str, t.Any] | None = None
        self._children_active: bool | None = None
        self._child_filters: list[t.Callable[[dict], bool]] | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> t.Any:
        """The tap's one API client (one session, one call counter)."""
        return self.tap.client  # type: ignore[attr-defined]

    def apply_catalog(self, catalog: t.Any) -> None:
        """SDK behaviour, but keep the catalog's ``x-`` keywords (the SDK's Schema model drops
        them) when the tap was given the catalog as JSON.
        """
        super().apply_catalog(catalog)
        if self._raw_catalog_schema is not None:
            self.keep_input_schema(self._raw_catalog_schema)

    def selected_fields(self) -> list[str]:
        """Properties selected in the catalog (all of them without a catalog)."""
        props = self.effective_schema.get("properties", {})
        if not self.selected:  # synced only to drive selected child streams: keep everything
            return list(props)
        mask = self.mask
        return [name for name in props if mask.get(("properties", name), True)]

    @property
    def parser(self) -> t.Callable[[t.Mapping[str, t.Any]], dict]:
        """Wire record -> typed record with only the selected fields (built once)."""
        if self._parser is None:
            props = self.effective_schema.get("properties", {})
            fields = [n for n in self.selected_fields() if n != DELETED_AT]
            describe = {"name": self.module,
                        "fields": [{"name": n, "type": {"name": vtiger_type_of(props[n])}}
                                   for n in fields]}
            self._parser = vtypes.record_parser(describe, fields=fields, inplace=True)
        return self._parser

    def _fast_path(self) -> bool:
        """True when the SDK's per-record machinery would change nothing: one identity stream
        map under the stream's own name and the tap's fast writer.
        """
        if self._fast is None:
            maps = self.stream_maps
            self._fast = (
                len(maps) == 1
                and type(maps[0]) is SameRecordTransform
                and not maps[0].flattening_enabled
                and maps[0].stream_alias == self.name
                and isinstance(self.tap.message_writer, FastSingerWriter)
            )
        return self._fast

    def schema_messages(self) -> t.Iterator[SchemaMessage]:
        """The SDK's, but with our schema (``x-refersTo`` etc. intact) on the fast path."""
        if not self._fast_path():
            yield from super().schema_messages()
            return
        schema = dict(self.effective_schema)
        props = schema.get("properties", {})
        selected = set(self.selected_fields())
        schema["properties"] = {k: v for k, v in props.items() if k in selected}
        yield SchemaMessage(self.name, schema, list(self.primary_keys or []),
                            [self.replication_key] if self.replication_key else None)

    def write_record(self, record: dict[str, t.Any]) -> None:
        """Fast path: records are already typed and limited to the selected fields; they are
        collected and written per page in one encode + one write (see :meth:`_page_done`).
        """
        if self._fast_path():
            self._pending.append(record)
            self.mark_state_unwritten()
            return
        super().write_record(record)

    def advance_bookmark(self, latest_record: dict,
                         context: t.Mapping[str, t.Any] | None) -> None:
        """Fast path: the bookmark moves once per page, in :meth:`_page_done`, to the page's
        last record (records come in replication-key order, so that is the page maximum).
        """
        if self._fast_path():
            self._last_record = latest_record
            return
        if not self._keeps_bookmark(latest_record):
            super().advance_bookmark(latest_record, context)
            self._bookmark_moved()

    def _keeps_bookmark(self, record: dict) -> bool:
        """Hook: True for a record that must not move the bookmark (see ModuleStream)."""
        return False

    def _bookmark_moved(self) -> None:
        """Hook: the bookmark has just been moved (ModuleStream keeps it at server time)."""

    def sync_children_of(self, record: dict, child_context: t.Any = None,
                         partition_context: t.Any = None) -> None:
        """Skip the SDK's per-record child-context work when no child stream will sync, or
        when every active child says it has nothing to read for this record
        (``wants_parent(record)``: e.g. tags, for a record whose ``tags`` field is empty): a
        stream that emits nothing costs nothing per record.
        """
        if self._children_active is None:
            active = [c for c in self.child_streams if c.selected or c.has_selected_descendents]
            self._children_active = bool(active)
            filters = [getattr(c, "wants_parent", None) for c in active]
            self._child_filters = None if None in filters else filters
        if self._children_active and (self._child_filters is None
                                      or any(f(record) for f in self._child_filters)):
            super().sync_children_of(record, child_context, partition_context)

    def _flush_records(self) -> None:
        """Write the collected RECORD lines and advance the bookmark to the last of them."""
        if self._pending:
            FastSingerWriter.write_records(self.name, self._pending, self._time_extracted)
            self._pending = []
        if self._last_record is not None:
            if not self._keeps_bookmark(self._last_record):
                super().advance_bookmark(self._last_record, self.context)
                self._bookmark_moved()
            self._last_record = None

    def _prefetch(self, fn: t.Callable[..., t.Any], *args: t.Any) -> concurrent.futures.Future:
        """Run the next API call in the background while this page is being written."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"vtiger-{self.module}")
        return self._executor.submit(fn, *args)

    def _page_done(self) -> None:
        """A page has been yielded: write its records, then STATE (resumable after every
        page), and give records of the next page a fresh extraction time.
        """
        self._flush_records()
        self.write_state()
        self._time_extracted = utc_now_text()

    def _finish(self) -> None:
        self._flush_records()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def log_fallback(self, message: str, *args: t.Any) -> None:
        """Fallbacks are warnings: the user should know which way a module was read."""
        self.logger.warning("%s: " + message, self.module, *args)


class _RunCounter(metrics.Counter):
    """A record counter shared by every per-parent sync of a run: logs progress at most once a
    ``log_interval`` and the total once at the end (:meth:`PerParentStream.log_sync_costs`),
    not one METRIC line per parent record carrying that record as its context tag.
    """

    def with_context(self, value: t.Any) -> None:
        """Ignored: the context is a whole parent record (CRM data has no place in logs)."""

    def exit(self) -> None:
        """One per-parent sync ended: log progress if ``log_interval`` has passed."""
        if time.time() - self.last_log_time > self.log_interval:
            self.log_total()

    def log_total(self) -> None:
        """One METRIC line with the records counted since the last one."""
        metrics.log(self.logger, metrics.Point("counter", self.metric, self.value, self.tags))
        self.value = 0
        self.last_log_time = time.time()


class _RunTimer(metrics.Timer):
    """A sync timer summing the per-parent syncs; logged once at the end of the run."""

    total = 0.0

    def with_context(self, value: t.Any) -> None:
        """Ignored: the context is a whole parent record (CRM data has no place in logs)."""

    def __exit__(self, exc_type: t.Any, *_exc_info: t.Any) -> None:
        self.total += self.elapsed()
        if exc_type is not None:
            self.tags[metrics.Tag.STATUS] = metrics.Status.FAILED


class PerParentStream(HookedStream):
    """A stream synced once per record of one parent stream (records changed since the
    parent's bookmark).

    The SDK calls ``sync(context=<parent record>)`` once per parent record; this base keeps
    that cheap and correct: one state for the whole stream instead of one partition per parent
    (``state_partitioning_keys = []``), one SCHEMA message per run instead of one per parent,
    and no ACTIVATE_VERSION (a version per parent would make targets drop the other parents'
    rows).
    """

    state_partitioning_keys: t.ClassVar[list[str]] = []  # type: ignore[misc]
    replication_key = None

    #: Module names of the parent streams this stream hangs below (None: any module stream).
    parent_modules: tuple[str, ...] | None = None

    def __init__(self, tap: Tap, parent_class: type[Stream] | None = None, **kwargs: t.Any) -> None:
        # Set on the instance, not the class: the SDK's own wiring (by class) then leaves this
        # stream alone and :func:`wire_children` attaches it; ``sync_all`` still sees a child.
        self.parent_stream_type = parent_class or Stream  # type: ignore[misc]
        super().__init__(tap, **kwargs)
        self._schema_sent = False

    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        """One counter for the whole run (see :class:`_RunCounter`)."""
        if getattr(self, "_run_counter", None) is None:
            self._run_counter = _RunCounter(
                metrics.Metric.RECORD_COUNT, {metrics.Tag.STREAM: self.name}
            )
        return self._run_counter

    def get_sync_timer(self) -> metrics.Timer:
        """One timer for the whole run (see :class:`_RunTimer`)."""
        if getattr(self, "_run_timer", None) is None:
            self._run_timer = _RunTimer(
                metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: self.name}
            )
        return self._run_timer

    def log_sync_costs(self) -> None:
        """End of run: the record total and summed sync time, one METRIC line each."""
        counter, timer = getattr(self, "_run_counter", None), getattr(self, "_run_timer", None)
        if counter is not None:
            counter.log_total()
        if timer is not None:
            timer.tags.setdefault(metrics.Tag.STATUS, metrics.Status.SUCCEEDED)
            metrics.log(timer.logger, metrics.Point("timer", timer.metric, timer.total,
                                                    timer.tags))
        super().log_sync_costs()

    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """The SDK's per-sync "Beginning sync of ..." line would come once per parent record
        (listing every field of it as context keys): demoted to DEBUG.
        """
        if message.startswith("Beginning sync"):
            level = min(level, logging.DEBUG)
        super().log(message, *args, level=level, **kwargs)

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: each per-parent sync is a slice of the stream, not a full version of it."""
        return False

    def write_schema(self) -> None:
        """Once per run, not once per parent record."""
        if self._schema_sent:
            return
        self._schema_sent = True
        super().write_schema()

    @property
    def client(self) -> t.Any:
        """The tap's shared client."""
        return tap_client(self.tap)

    def accepts_parent(self, parent: Stream) -> bool:
        """Whether this stream belongs below ``parent``: a module's own stream (named after
        the module), not a custom query or API Designer stream reading the same module.
        """
        if parent is self or isinstance(parent, PerParentStream):
            return False
        if stream_module(parent) != parent.name:
            return False
        if self.parent_modules is None:
            return True
        return stream_module(parent) in self.parent_modules

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """Rows for one parent record (the tap stops every stream cleanly once the run's API
        budget is spent).
        """
        parent = self.parent_record(context)
        if parent is None:
            return
        yield from self.records_for(parent)

    def records_for(self, parent: dict[str, t.Any]) -> t.Iterable[dict]:
        """Rows for one (live) parent record."""
        raise NotImplementedError

    def parent_record(self, context: t.Mapping[str, t.Any] | None) -> dict[str, t.Any] | None:
        """The parent record behind ``context`` (the SDK passes the record itself), or None
        when there is nothing to read (no id, or the parent was deleted).
        """
        if not context or not context.get("id") or is_deleted(context):
            return None
        return dict(context)


def wire_children(streams: t.Iterable[Stream]) -> None:
    """Attach every :class:`PerParentStream` to exactly the parent streams it accepts.

    The SDK wires children by ``parent_stream_type`` *class* in ``load_streams``, which is wrong
    when all module streams share a class; these streams keep that attribute on the instance
    (so the SDK skips them) and are attached here, from ``discover_streams``. Seeing every
    stream, it also refuses two streams of one name (the SDK would silently keep one).
    """
    streams = list(streams)
    seen: set[str] = set()
    for stream in streams:  # a custom query or API Designer stream named like another stream
        if stream.name in seen:
            msg = (f"two streams are named {stream.name!r}; rename the custom_queries / "
                   "api_designer_streams entry")
            raise ConfigError("CONFIG", msg)
        seen.add(stream.name)
    children = [s for s in streams if isinstance(s, PerParentStream)]
    parents = [s for s in streams if not isinstance(s, PerParentStream)]
    for parent in parents:
        others = [c for c in parent.child_streams if not isinstance(c, PerParentStream)]
        mine = [c for c in children if c.accepts_parent(parent)]
        parent.child_streams = others + mine


def selected_in_input_catalog(stream: HookedStream) -> bool:
    """Whether the run's catalog selects ``stream`` (True when the run has no catalog).

    Read from the catalog itself because streams learn their selection only after discovery.
    """
    catalog = getattr(stream.tap, "input_catalog", None)
    if catalog is None:
        return True
    entry = catalog.get_stream(stream.name)
    if entry is None:
        return False
    return bool(entry.metadata.resolve_selection().get((), False))
