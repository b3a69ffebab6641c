"""Tag streams in, ``tags_add`` / ``tags_delete`` out.

A tag stream is any stream whose records carry ``record_id`` and ``tag`` (tap-vtiger's ``tags``
stream). A record with ``_sdc_deleted_at`` set removes the tag.

Per batch and per tagged record: one ``tags_retrieve`` (what the record has now), then at most
one ``tags_add`` with every missing tag and at most one ``tags_delete`` with every present tag
to remove. A re-run of the same input costs one ``tags_retrieve`` per record and writes nothing;
a record whose tags changed costs two or three calls however many tags it gets. A tag on a
deleted or unknown record is rejected (ACCESS_DENIED), the other records go on.
"""

from __future__ import annotations

import typing as t
from collections import OrderedDict

from singer_sdk import typing as th

from target_vtiger.sinks.base import RunSink
from vtiger_client.errors import FatalError, VtigerError
from vtiger_client.types import is_record_id

TAG_SETTINGS = [
    th.Property(
        "tag_streams",
        th.ArrayType(th.StringType),
        description="Streams to write as tags with tags_add/tags_delete. Default: every stream "
        "whose schema has record_id and tag (tap-vtiger's `tags` stream).",
    ),
]


class TagsSink(RunSink):
    """(record_id, tag) records in, one tags_add / tags_delete per tagged record."""

    destination = "tags"

    def settle(self, records: list[dict]) -> None:
        """Group by record, compare with the record's current tags, send the difference."""
        per_record: OrderedDict[str, OrderedDict[str, dict]] = OrderedDict()
        for record in records:
            rid, tag = record.get("record_id"), str(record.get("tag") or "").strip()
            if not rid or not is_record_id(str(rid)):
                self.reject(record, "INVALID_TAG", f"record_id {rid!r} is not a Vtiger id (NxM)")
                continue
            if not tag or "," in tag:
                self.reject(record, "INVALID_TAG", f"tag {tag!r} is empty or has a comma")
                continue
            tags = per_record.setdefault(str(rid), OrderedDict())
            tags.pop(tag, None)  # the last record about a tag wins
            tags[tag] = record

        for rid, tags in per_record.items():
            try:
                current = set(self._current(rid))
            except FatalError:
                raise
            except VtigerError as err:
                for record in tags.values():
                    self.reject(record, err.code, err.message)
                continue
            add = [tag for tag, r in tags.items() if not r.get("_sdc_deleted_at")]
            drop = [tag for tag, r in tags.items() if r.get("_sdc_deleted_at")]
            self.count("unchanged", len([x for x in add if x in current]))
            self.count("unchanged", len([x for x in drop if x not in current]))
            add = [x for x in add if x not in current]
            drop = [x for x in drop if x in current]
            if add:
                self._send(rid, add, tags, "created", self.client.tags_add)
            if drop:
                self._send(rid, drop, tags, "deleted", self.client.tags_delete)

    def _current(self, rid: str) -> list[str]:
        answer = self.client.tags_retrieve(rid) or {}
        tags = answer.get("tags") if isinstance(answer, dict) else answer
        return [str(x) for x in tags or []]

    def _send(
        self,
        rid: str,
        tags: list[str],
        records: t.Mapping[str, dict],
        outcome: str,
        call: t.Callable[..., t.Any],
    ) -> None:
        if not self.dry_run:
            try:
                call(rid, tags)
            except FatalError:
                raise
            except VtigerError as err:
                for tag in tags:
                    self.reject(records[tag], err.code, err.message)
                return
        self.count(outcome, len(tags))


def is_tag_schema(schema: t.Mapping[str, t.Any] | None) -> bool:
    """A schema with record_id and tag."""
    props = (schema or {}).get("properties") or {}
    return "record_id" in props and "tag" in props
