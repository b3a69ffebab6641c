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
"""

from __future__ import annotations

import logging
import typing as t

from singer_sdk import typing as th

from tap_vtiger.client import PerParentStream, is_entity_stream, stream_module
from vtiger_client.errors import (
    AuthenticationError,
    BudgetExhaustedError,
    FatalError,
    VtigerError,
)
from vtiger_client.session import unique_ids

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

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
