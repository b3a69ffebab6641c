"""Relationship streams in, ``add_related`` / ``delete_related`` out.

A relationship stream is any stream whose records carry ``source_id``, ``related_id`` and
``relation_label`` (what tap-vtiger's ``<Module>_related`` streams emit; ``related_module`` is
optional but saves work). A record with ``_sdc_deleted_at`` set removes the link.

Idempotent by construction: per batch, the links that already exist are read once per
(source record, relation) with ``query_related`` (``select id``, 100 ids a call), and only the
missing links are added and only the present ones deleted. A re-run of the same input spends one
``query_related`` per (source, relation) and writes nothing. Without ``related_module`` the
check is skipped and ``add_related`` is sent anyway: Vtiger answers success for a link that
exists, which is still not an error.

A link to or from a deleted or unknown record is rejected with Vtiger's reason (ACCESS_DENIED)
and the rest of the batch goes on.
"""

from __future__ import annotations

import typing as t
from collections import OrderedDict

from singer_sdk import typing as th

from target_vtiger.sinks.base import RunSink
from vtiger_client.errors import FatalError, VtigerError
from vtiger_client.types import is_record_id

RELATION_FIELDS = ("source_id", "related_id", "relation_label")
#: Error codes meaning "this record does not exist (any more)".
GONE_CODES = ("ACCESS_DENIED", "INVALID_ID_ATTRIBUTE", "RECORD_NOT_FOUND")

RELATION_SETTINGS = [
    th.Property(
        "relation_streams",
        th.ArrayType(th.StringType),
        description="Streams to write as links with add_related/delete_related. Default: every "
        "stream whose schema has source_id, related_id and relation_label (tap-vtiger's "
        "<Module>_related streams).",
    ),
    th.Property(
        "relations_check_existing",
        th.BooleanType,
        default=True,
        description="Read existing links first (one query_related per source record and "
        "relation) so re-runs write nothing and counts are exact.",
    ),
]


def _deleted(record: t.Mapping[str, t.Any]) -> bool:
    return bool(record.get("_sdc_deleted_at"))


class RelationsSink(RunSink):
    """Links in, ``add_related`` / ``delete_related`` out."""

    destination = "links"

    def settle(self, records: list[dict]) -> None:
        """Validate, dedupe, read existing links per (source, relation), write the difference."""
        # last record wins for a link mentioned twice in one batch
        links: OrderedDict[tuple[str, str, str], dict] = OrderedDict()
        for record in records:
            problem = self._problem(record)
            if problem:
                self.reject(record, "INVALID_LINK", problem)
                continue
            key = (str(record["source_id"]), str(record["relation_label"]),
                   str(record["related_id"]))
            links.pop(key, None)
            links[key] = record
        groups: OrderedDict[tuple[str, str], list[dict]] = OrderedDict()
        for (source, label, _related), record in links.items():
            groups.setdefault((source, label), []).append(record)

        for (source, label), group in groups.items():
            module = next((str(r["related_module"]) for r in group if r.get("related_module")),
                          None)
            existing: set[str] | None = None
            if module and self.config.get("relations_check_existing", True):
                try:
                    existing = self._existing(source, label, module)
                except FatalError:
                    raise
                except VtigerError as err:
                    if err.code in GONE_CODES:  # the source record is gone: nothing to link
                        for record in group:
                            self.reject(record, err.code, err.message)
                        continue
                    # a relation the server cannot query: write without the check (an
                    # existing link is still not an error, only the counts get less exact)
                    self.logger.warning(
                        "%s: cannot read existing %r links of %s (%s); writing unchecked",
                        self.stream_name, label, source, err,
                    )
            for record in group:
                self._write(record, source, label, existing)

    @staticmethod
    def _problem(record: t.Mapping[str, t.Any]) -> str | None:
        missing = [f for f in RELATION_FIELDS if not record.get(f)]
        if missing:
            return f"missing {', '.join(missing)}"
        for f in ("source_id", "related_id"):
            if not is_record_id(str(record[f])):
                return f"{f} {record[f]!r} is not a Vtiger id (NxM)"
        return None

    def _existing(self, source: str, label: str, module: str) -> set[str]:
        return set(self.client.related_ids(source, label, module))

    def _write(self, record: dict, source: str, label: str, existing: set[str] | None) -> None:
        related = str(record["related_id"])
        if _deleted(record):
            if existing is not None and related not in existing:
                self.count("unchanged")
                return
            outcome, call = "deleted", self.client.delete_related
        else:
            if existing is not None and related in existing:
                self.count("unchanged")
                return
            outcome, call = "created", self.client.add_related
        if self.dry_run:
            self.count(outcome)
            return
        try:
            call(source, related, label)
        except FatalError:
            raise
        except VtigerError as err:
            self.reject(record, err.code, err.message)
            return
        self.count(outcome)


def is_relation_schema(schema: t.Mapping[str, t.Any] | None) -> bool:
    """A schema with source_id, related_id and relation_label."""
    props = (schema or {}).get("properties") or {}
    return all(f in props for f in RELATION_FIELDS)
