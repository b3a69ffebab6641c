"""Relationship streams: one ``<Module>_related`` child stream per module stream.

Each record is one link between two Vtiger records::

    {"source_id": "11x2", "source_module": "Accounts", "relation_label": "Contacts",
     "related_module": "Contacts", "related_id": "12x3", "source_modifiedtime": "..."}

Why child streams: Vtiger has no "links changed since" operation, so the only way to read links
is per record (``query_related`` / ``retrieve_related``). Hanging the stream below its module
stream means links are read only for the parent records the module stream emits, i.e. only for
records created or changed since the module's bookmark. A first run reads links of every record.

API cost per run (see docs/relations-tags-and-api-designer.md):
    1 ``relatedtypes`` per module (only when at least one parent changed)
    + for every changed parent and every followed relation: ceil(links / 100) ``query_related``
      calls (at least 1; a relation the server cannot query falls back to one
      ``retrieve_related`` call, full records, no paging).
So 1,000 changed Accounts x 3 followed relations = about 3,001 calls. Hence the streams are
opt-in (``selected_by_default = False``: select them in the catalog); restrict the relations
with the ``relations`` setting; ``include_relations: false`` removes them from the catalog.

Known gap (Vtiger's, not ours): adding or removing a link does not change the parent's
``modifiedtime``, so a link change on an otherwise unchanged record is picked up the next time
that record changes (or on a full re-sync). Downstream, treat the links of one
``(source_id, source_modifiedtime)`` as the complete set for that source record.

This module also holds :class:`PerParentStream`, the base of every child stream of this package
(tags, account hierarchy), and :func:`wire_children`, which attaches child streams to the right
parent instances (the SDK wires children by parent *class*, and all module streams may share a
class).
"""

from __future__ import annotations

import logging
import time
import typing as t

from singer_sdk import Stream, metrics
from singer_sdk import typing as th

from vtiger_client.errors import (
    AuthenticationError,
    BudgetExhaustedError,
    ConfigError,
    FatalError,
    VtigerError,
)
from vtiger_client.session import unique_ids
from vtiger_singer.sdk import HookedStream

if t.TYPE_CHECKING:
    from singer_sdk import Tap

log = logging.getLogger(__name__)

#: Error codes of a record that no longer exists (deleted, or never visible).
GONE_CODES = frozenset({"ACCESS_DENIED", "RECORD_NOT_FOUND", "INVALID_ID_ATTRIBUTE"})

#: Settings added to the tap's config_jsonschema (tap.py STREAM_SETTINGS).
RELATION_SETTINGS = [
    th.Property(
        "include_relations",
        th.BooleanType,
        default=True,
        description="Offer <Module>_related link streams (source_id, related_id, "
        "relation_label, related_module) in the catalog, not selected by default: once "
        "selected, at least one query_related call per changed record and followed relation. "
        "false removes them.",
    ),
    th.Property(
        "relations",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        default={},
        description='Module -> relation labels to follow, e.g. {"Accounts": ["Contacts", '
        '"Potentials"]}. A module not listed follows every relation relatedtypes reports '
        "(Accounts has 18: expensive). An empty list follows none.",
    ),
]


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


# --------------------------------------------------------------------------- relations


RELATED_SCHEMA = th.PropertiesList(
    th.Property("source_id", th.StringType, required=True, description="Parent record id."),
    th.Property("source_module", th.StringType, description="Parent record's module."),
    th.Property(
        "relation_label", th.StringType, required=True, description="Vtiger relation label."
    ),
    th.Property("related_module", th.StringType, description="Module of the related record."),
    th.Property("related_id", th.StringType, required=True, description="Related record id."),
    th.Property(
        "source_modifiedtime",
        th.DateTimeType,
        description="modifiedtime of the parent when its links were read (a snapshot key).",
    ),
).to_dict()


class RelatedStream(PerParentStream):
    """Links of one module's records to other records, read per changed parent."""

    primary_keys: t.ClassVar[list[str]] = ["source_id", "relation_label", "related_id"]
    #: Opt-in: each changed record costs a call per relation, so a run without a catalog (or
    #: a catalog that does not mention these streams) does not read links.
    selected_by_default = False

    def __init__(self, tap: Tap, module: str, parent_class: type[Stream] | None = None) -> None:
        self.module = module
        self.parent_modules = (module,)
        super().__init__(tap, parent_class, name=f"{module}_related", schema=RELATED_SCHEMA)
        self._relations: list[tuple[str, str]] | None = None
        #: relations the server refused to list for this module: never asked again this run
        self._broken: set[str] = set()
        #: relations query_related cannot serve: read with retrieve_related for the run
        self._via_retrieve: set[str] = set()

    # ------------------------------------------------------------------ relations to follow

    def relations(self) -> list[tuple[str, str]]:
        """(label, related module) pairs to follow: ``relatedtypes`` once per run, filtered
        by the ``relations`` setting.
        """
        if self._relations is None:
            wanted = (self.config.get("relations") or {}).get(self.module)
            if wanted is not None and not wanted:
                self._relations = []
                return self._relations
            try:
                info = self.client.relatedtypes(self.module)
            except (AuthenticationError, BudgetExhaustedError):
                raise
            except VtigerError as exc:  # a module without relations must not stop the run
                self.logger.warning("%s: relatedtypes failed (%s); no links", self.name, exc)
                self._relations = []
                return self._relations
            self._relations = relations_from_relatedtypes(info)
            if wanted is not None:
                known = {label for label, _ in self._relations}
                for label in wanted:
                    if label not in known:
                        self.logger.warning(
                            "relations.%s: %s has no relation %r (it has: %s)",
                            self.module,
                            self.module,
                            label,
                            ", ".join(sorted(known)),
                        )
                self._relations = [r for r in self._relations if r[0] in wanted]
        return self._relations

    # ------------------------------------------------------------------ records

    def records_for(self, parent: dict[str, t.Any]) -> t.Iterable[dict]:
        """Links of one parent record, one relation after the other."""
        source_id = str(parent["id"])
        modified = parent.get("modifiedtime")
        for label, related_module in self.relations():
            if label in self._broken:
                continue
            for related_id in self.related_ids(source_id, label, related_module):
                yield {
                    "source_id": source_id,
                    "source_module": self.module,
                    "relation_label": label,
                    "related_module": related_module,
                    "related_id": related_id,
                    "source_modifiedtime": modified,
                }

    def related_ids(self, source_id: str, label: str, related_module: str) -> list[str]:
        """Ids related to ``source_id`` through ``label``.

        ``query_related`` with ``select id`` moves only ids (a ``retrieve_related`` answer
        carries whole records) and pages by 100 like every VTQL query. A relation whose module
        cannot be queried (Emails, ModComments... on some servers) falls back to
        ``retrieve_related``, remembered for the rest of the run; a relation that fails both
        ways is skipped for the run with one warning, so one odd relation does not stop the
        extraction. A parent deleted since it was read simply has no links.
        """
        first: VtigerError | None = None
        if label not in self._via_retrieve:
            try:
                return self.client.related_ids(source_id, label, related_module)
            except FatalError:
                raise
            except VtigerError as exc:
                first = exc
        try:
            rows = self.client.retrieve_related(source_id, label, related_module)
        except FatalError:
            raise
        except VtigerError as exc:
            if exc.code in GONE_CODES:  # the parent vanished since it was read: no links
                return []
            self._broken.add(label)
            self.logger.warning(
                "%s: relation %r cannot be read (%s; %s); skipped for this run",
                self.name,
                label,
                first,
                exc,
            )
            return []
        if first is not None:  # remember: one failing query_related per relation, not per parent
            self._via_retrieve.add(label)
            self.logger.info("%s: relation %r read with retrieve_related (%s)", self.name,
                             label, first)
        return unique_ids(rows)


def relations_from_relatedtypes(info: t.Mapping[str, t.Any]) -> list[tuple[str, str]]:
    """(label, module) pairs from a ``relatedtypes`` answer.

    ``information`` is keyed by relation label (``"Activity History"`` -> Calendar); ``types``
    repeats a module once per relation, so it alone cannot tell two Calendar relations apart.
    """
    pairs: list[tuple[str, str]] = []
    information = info.get("information") or {}
    for label, item in information.items():
        module = (item or {}).get("name") or label
        entity = str((item or {}).get("isEntity", "1")).lower() not in ("0", "false")
        if entity:
            pairs.append((str(item.get("label") or label), str(module)))
    if not pairs:
        pairs = [(str(m), str(m)) for m in dict.fromkeys(info.get("types") or [])]
    return pairs


def relation_streams(tap: Tap, parents: t.Iterable[Stream]) -> list[RelatedStream]:
    """One ``<Module>_related`` stream per entity module stream (none if turned off)."""
    if not tap.config.get("include_relations", True):
        return []
    out = []
    for parent in parents:
        if isinstance(parent, PerParentStream) or not is_entity_stream(parent):
            continue
        out.append(RelatedStream(tap, stream_module(parent), type(parent)))
    return out


def is_entity_stream(stream: Stream) -> bool:
    """A stream of records with ids and a modifiedtime (not Users/Currency/custom queries)."""
    if getattr(stream, "is_entity", None) is False:
        return False
    props = (stream.schema or {}).get("properties", {})
    return "id" in props and "modifiedtime" in props
