"""The ``tags`` stream: one record per (record, tag), for the records the *selected* module
streams emit (selecting ``tags`` alone reads no module).

Cost: usually zero API calls. Every entity module's records carry a ``tags`` field (the tags
joined by commas), which ``sync``/``query`` already returned to the module stream; this stream
splits it. Only when that field is missing from the parent record (deselected in the catalog,
or a module without it) does it spend one ``tags_retrieve`` call per changed record. Records
that did not change since the bookmark cost nothing either way: the stream hangs below the
module streams, which emit only changed records.

Known gap (Vtiger's): tagging a record does not change its ``modifiedtime``; a tag change on
an otherwise unchanged record arrives with the record's next change. Downstream, the tags of
one ``(record_id, record_modifiedtime)`` are the complete set for that record: replace, don't
append. A deleted record emits no tags.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_vtiger.client import (
    PerParentStream,
    is_deleted,
    is_entity_stream,
    selected_in_input_catalog,
    stream_module,
)

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

TAG_SETTINGS = [
    th.Property(
        "include_tags",
        th.BooleanType,
        default=True,
        description="Emit the `tags` stream (record_id, tag) for the records the module streams "
        "emit. Free when the records carry their `tags` field; otherwise one tags_retrieve "
        "call per changed record.",
    ),
]

TAGS_SCHEMA = th.PropertiesList(
    th.Property("record_id", th.StringType, required=True, description="Tagged record id."),
    th.Property("tag", th.StringType, required=True, description="Tag name."),
    th.Property("module", th.StringType, description="Module of the tagged record."),
    th.Property(
        "record_modifiedtime",
        th.DateTimeType,
        description="modifiedtime of the record when its tags were read (a snapshot key).",
    ),
).to_dict()


def split_tags(value: t.Any) -> list[str]:
    """Tag names from a record's ``tags`` field (comma-joined string, or already a list)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    out: list[str] = []
    for item in items:
        tag = str(item).strip()
        if tag and tag not in out:
            out.append(tag)
    return out


class TagsStream(PerParentStream):
    """Tags of the records of every entity module stream."""

    name = "tags"
    primary_keys: t.ClassVar[list[str]] = ["record_id", "tag"]

    def __init__(
        self,
        tap: Tap,
        modules: t.Iterable[str] | None = None,
        prefixes: t.Mapping[str, str] | None = None,
    ) -> None:
        self.parent_modules = tuple(modules) if modules is not None else None
        #: id prefix ("12") -> module ("Contacts"): a tag row names its record's module
        self.prefixes = dict(prefixes or {})
        super().__init__(tap, name="tags", schema=TAGS_SCHEMA)

    def accepts_parent(self, parent: Stream) -> bool:
        """Only below module streams the run selects: tags are extracted for the records
        being extracted, and a deselected module is not read (whole) just for its tags.
        """
        return super().accepts_parent(parent) and selected_in_input_catalog(parent)

    @staticmethod
    def wants_parent(parent: t.Mapping[str, t.Any]) -> bool:
        """False for a record with nothing to read: it carries an empty ``tags`` field, or it
        is a deletion (the parent stream then skips the SDK's per-record child sync).
        """
        if is_deleted(parent):
            return False
        return "tags" not in parent or bool(parent["tags"])

    def records_for(self, parent: dict[str, t.Any]) -> t.Iterable[dict]:
        """Tags of one parent record: from its ``tags`` field, else one tags_retrieve."""
        record_id = str(parent["id"])
        if "tags" in parent:
            tags = split_tags(parent["tags"])
        else:
            tags = split_tags((self.client.tags_retrieve(record_id) or {}).get("tags"))
        module = self._module_of(parent)
        for tag in tags:
            yield {
                "record_id": record_id,
                "tag": tag,
                "module": module,
                "record_modifiedtime": parent.get("modifiedtime"),
            }

    def _module_of(self, parent: t.Mapping[str, t.Any]) -> str | None:
        return self.prefixes.get(str(parent["id"]).split("x", 1)[0])


def tags_streams(tap: Tap, parents: t.Iterable[Stream]) -> list[TagsStream]:
    """The ``tags`` stream below every entity module stream (none if turned off)."""
    if not tap.config.get("include_tags", True):
        return []
    entity = [p for p in parents if not isinstance(p, PerParentStream) and is_entity_stream(p)]
    if not entity:
        return []
    prefixes = {}
    for parent in entity:
        prefix = getattr(parent, "id_prefix", None)
        if prefix:
            prefixes[str(prefix)] = stream_module(parent)
    return [TagsStream(tap, [stream_module(p) for p in entity], prefixes)]
