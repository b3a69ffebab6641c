"""A module whose records carry a field its schema lacks: the schema changed; adopt the field.

Discovery is cached (:mod:`tap_vtiger.discovery_cache`, and Meltano caches the catalog), so a
custom field added in Vtiger after discovery would otherwise never reach the warehouse. The
records tell: ``sync`` and ``select *`` return every field of the module. Per page, the keys of
its first and last record are compared with the schema (two set differences per page, nothing
per record). For fields the schema lacks:

1. the discovery cache's describe of the module (0 calls: a Meltano catalog may be older than
   the cache), else
2. one ``describe`` of the module (at most once per module and run), kept in the cache.

Fields that describe declares are added to the stream's schema, a new SCHEMA message goes out
before the page's records, and the records carry the field from then on (a target adds the
column). Fields the server sends but describe does not declare, and fields the tap withholds on
purpose (passwords), are ignored for the rest of the run without further calls.
"""

from __future__ import annotations

import logging
import typing as t

from singer_sdk.mapper import SameRecordTransform

from vtiger_client.errors import FatalError, VtigerError

DELETED_AT = "_sdc_deleted_at"

Describe = t.Mapping[str, t.Any]


class DriftingStream(t.Protocol):
    """What schema drift needs of a stream: its name, log and the schemas it emits."""

    module: str
    logger: logging.Logger
    schema: dict
    stream_maps: list

    @property
    def effective_schema(self) -> dict:
        """The schema records are emitted with (after stream maps)."""


class DescribeSource(t.Protocol):
    """Where describes come from: the discovery cache (0 calls), or the server (1 call)."""

    def cached_describe(self, module: str) -> Describe | None:
        """The cached describe of ``module`` whatever its age, if any (0 calls)."""

    def fresh_describe(self, module: str) -> Describe:
        """One ``describe`` call."""

    def schema_of(self, describe: Describe, *, deletions: bool) -> dict:
        """The stream schema of a describe."""


class SchemaDrift:
    """Per stream and run: which undeclared fields were already dealt with."""

    def __init__(self, source: DescribeSource) -> None:
        self.source = source
        self.ignored: set[str] = {DELETED_AT}
        self.described = False
        #: fields added to the schema during this run
        self.added: list[str] = []

    def undeclared(self, stream: DriftingStream,
                   wires: t.Sequence[t.Mapping[str, t.Any]]) -> set[str]:
        """Keys of the page's first and last record that the schema lacks."""
        props = stream.effective_schema.get("properties", {})
        new = (wires[0].keys() | wires[-1].keys()) - props.keys()
        return new - self.ignored if new else new

    def adopt(self, stream: DriftingStream, new: set[str]) -> bool:
        """Add the fields describe declares to the schema; True when the schema grew."""
        describe = None
        cached = self.source.cached_describe(stream.module)
        if cached and new <= _field_names(cached):
            describe = cached
        if describe is None and not self.described:
            self.described = True
            stream.logger.info("%s: records carry fields the schema lacks (%s); describing the "
                               "module again", stream.module, ", ".join(sorted(new)))
            try:
                describe = self.source.fresh_describe(stream.module)
            except VtigerError as exc:
                if isinstance(exc, FatalError):
                    raise
                stream.logger.warning("%s: describe failed (%s); new fields ignored this run",
                                      stream.module, exc)
        if describe is None:
            self.ignored |= new
            return False
        schema = self.source.schema_of(describe,
                                       deletions=DELETED_AT in stream.schema["properties"])
        addable = {n: schema["properties"][n] for n in sorted(new) if n in schema["properties"]}
        self.ignored |= new - addable.keys()
        if not addable:
            return False
        for target in _schemas_of(stream):
            target.setdefault("properties", {}).update(addable)
        self.added.extend(addable)
        stream.logger.warning("%s: new field(s) %s found in the records; added to the schema",
                              stream.module, ", ".join(addable))
        return True


def _field_names(describe: t.Mapping[str, t.Any]) -> set[str]:
    return {str(f.get("name")) for f in describe.get("fields") or []}


def _schemas_of(stream: DriftingStream) -> list[dict]:
    """Every schema dict the stream emits or filters records with (each once)."""
    out: list[dict] = []
    candidates = [stream.schema, stream.effective_schema]
    for mapper in stream.stream_maps:
        if isinstance(mapper, SameRecordTransform) and isinstance(mapper.transformed_schema, dict):
            candidates.append(mapper.transformed_schema)
    for schema in candidates:
        if not any(schema is seen for seen in out):
            out.append(schema)
    return out
