"""tap-vtiger: every Vtiger CRM module as a Singer stream, incrementally through ``sync``.

Discovery costs ``1 + number of modules`` API calls (``listtypes``, then one ``describe`` per
module). With a catalog (``--catalog``) the streams are built from the catalog alone: no
``listtypes``, no ``describe`` (types come from each property's ``x-vtiger-type``, or its JSON
type when a tool stripped that), so unselected modules cost nothing.

Run costs (asserted in tests/tap/test_tap_sync.py), per selected entity module read through
``sync``: ceil((N + b) / 100) calls for N changed records, b = records in the bookmark second
(re-read on purpose, usually 1), i.e. ceil(N / 100) unless N is a multiple of 100; an
unchanged module costs 1 call. Constant: 0 with REST and a catalog (no discovery). With
``api_style: webservice``: + getchallenge + login per run, + 1 ``count(*)`` per module and run
while the server has not proven that its sync returns every owner's records. Full-table
modules (Users, Groups, Currency...): 1 query each below 100 rows. Discovery: 1 + modules.
Where sync cannot list every deletion (webservice.php servers, modules read through query):
+ ceil(N / 100) ``select id`` calls per module of N records once every
``deletion_check_hours`` (default 24; tap_vtiger/deletions.py).

Errors that end a run (bad credentials, unknown module, invalid setting, TLS) are reported as
one line on stderr with exit code 1: no traceback, and never the access key.
"""

from __future__ import annotations

import copy
import io
import json
import sys
import threading
import time
import typing as t
from pathlib import Path

import click
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.tap_base import CliTestOptionValue

from tap_vtiger.client import VtigerStream, wire_children
from tap_vtiger.deletions import DELETION_SETTINGS
from tap_vtiger.discovery_cache import DISCOVERY_CACHE_SETTINGS, DiscoveryCache
from tap_vtiger.schema import module_schema
from tap_vtiger.state_check import check_state
from tap_vtiger.streams.api_designer import API_DESIGNER_SETTINGS, api_designer_streams
from tap_vtiger.streams.custom_queries import CUSTOM_QUERY_SETTINGS, custom_query_streams
from tap_vtiger.streams.metadata import METADATA_SETTINGS, metadata_streams
from tap_vtiger.streams.modules import (
    NON_SYNC_MODULES,
    SYNC_PROOF_KEY,
    VERDICT_TTL,
    FullTableStream,
    ModuleStream,
)
from tap_vtiger.streams.related import RELATION_SETTINGS, relation_streams
from tap_vtiger.streams.tags import TAG_SETTINGS, tags_streams
from tap_vtiger.writer import FastSingerWriter
from vtiger_client import types as vtypes
from vtiger_client.config import ClientConfig
from vtiger_client.errors import (
    BudgetExhaustedError,
    ConfigError,
    OperationUnavailableError,
    UnknownModuleError,
    VtigerError,
    settings_error,
)
from vtiger_client.session import VtigerClient
from vtiger_singer.cli import CheckedConfigFiles, json_file_problem
from vtiger_singer.sdk import HookedTap, extend_command, guard_records, reset_progress_markers
from vtiger_singer.settings import (
    CONNECTION_KEYS,
    connection_properties,
    numbers_from_strings,
)

SYNC_TYPES = ("application", "user", "userandgroup")
#: Top-level state key: operations this server was found not to offer (name -> unix time).
UNAVAILABLE_STATE_KEY = "vtiger_unavailable"

CORE_SETTINGS = [
    *connection_properties(),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="First run only: extract records modified at or after this time "
        "(RFC 3339). Default: everything.",
    ),
    th.Property(
        "modules",
        th.ArrayType(th.StringType),
        description="Modules to extract (case-sensitive, e.g. [\"Contacts\", \"Accounts\"]). "
        "Default: every module listtypes returns. An unknown name is an error.",
    ),
    th.Property(
        "sync_type",
        th.StringType,
        default="application",
        allowed_values=list(SYNC_TYPES),
        description="sync scope: application (every record), user (the user's own), "
        "userandgroup (own and the user's groups').",
    ),
    th.Property(
        "include_deleted",
        th.BooleanType,
        default=True,
        description="Emit records deleted in Vtiger as {id, _sdc_deleted_at}. Seen through "
        "sync; after runs that fell back to query, the next run that can use sync starts "
        "where query took over, so the deletions in between still arrive. Where sync cannot "
        "list them all (self-hosted Vtiger, modules read through query), the id check of "
        "deletion_check_hours finds them.",
    ),
    *DELETION_SETTINGS,
    th.Property(
        "api_budget_percent",
        th.NumberType,
        description="Stop cleanly (state saved) once this run has spent this share (0-100] of "
        "the daily API limit the server reports in X-RateLimit-DailyLimit.",
    ),
]

CLIENT_KEYS = (*CONNECTION_KEYS, "api_budget_percent")


#: Settings of the relation, tag, metadata, API Designer, custom query and cache parts.
STREAM_SETTINGS = [*RELATION_SETTINGS, *TAG_SETTINGS, *METADATA_SETTINGS,
                   *API_DESIGNER_SETTINGS, *CUSTOM_QUERY_SETTINGS, *DISCOVERY_CACHE_SETTINGS]


def _module_proved_sync(box: t.Any) -> bool:
    """A module's state says its sync returned another owner's record (state of a run
    before the proof was kept server-wide, ``SYNC_PROOF_KEY``).
    """
    verdict = box.get("vtiger_sync") if isinstance(box, dict) else None
    return isinstance(verdict, dict) and verdict.get("complete") is True


class _VtigerCommand(click.Command):
    """The SDK's command, with run-ending errors as one line and exit code 1."""

    def main(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            return super().main(*args, **kwargs)
        except VtigerError as exc:
            TapVtiger.logger.error("tap-vtiger: %s", exc)
            sys.exit(1)


class TapVtiger(CheckedConfigFiles, HookedTap):
    """Singer tap for Vtiger CRM."""

    name = "tap-vtiger"
    config_problem_prefix = "tap-vtiger"
    message_writer_class = FastSingerWriter
    #: Discovery asks the server (listtypes, describe): the SDK then validates the settings
    #: before --discover too (without it, --discover skipped validation and went on calling).
    dynamic_catalog = True
    config_jsonschema = th.PropertiesList(*CORE_SETTINGS, *STREAM_SETTINGS).to_dict()

    def __init__(self, *args: t.Any, catalog: t.Any = None, **kwargs: t.Any) -> None:
        # Keep the catalog as JSON: the SDK's Schema model drops x-vtiger-type/x-refersTo.
        self._raw_catalog = copy.deepcopy(catalog) if isinstance(catalog, dict) else None
        self._client: VtigerClient | None = None
        self._client_lock = threading.Lock()
        self._describes: dict[str, dict] = {}
        self._listtypes: dict | None = None
        self._discovery_cache: DiscoveryCache | None = None
        #: set (to the reason) when api_budget_percent stopped the run
        self.budget_exhausted: str | None = None
        #: modules whose sync crashed the server this run (one warning, then query)
        self.sync_crashed_modules: set[str] = set()
        #: sync_type -> the owner ids it limits queries to (asked once per run)
        self.owner_scope: dict[str, list[str]] = {}
        # a state the tap did not write stops the run before discovery's calls
        state = kwargs.get("state")
        if isinstance(state, str) and state:  # a --state path: the SDK's reader would crash
            problem = json_file_problem(state, "--state")
            if problem:
                raise ConfigError("STATE", problem)
            check_state(json.loads(Path(state).read_text(encoding="utf-8")))
        elif isinstance(state, dict):
            check_state(state)
        super().__init__(*args, catalog=catalog, **kwargs)

    # ------------------------------------------------------------------ settings

    def check_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON Schema check, reported as ONE line naming the setting (the SDK's last
        line, "Config validation failed", names none and its messages echo the bad value), plus
        what JSON Schema does not check here: ``start_date`` must parse (else the run would
        call listtypes and describe before failing on it). Runs before any API call. Numeric
        settings given as numeric strings (environment variables) count as numbers.
        """
        self.update_config(numbers_from_strings(self.config, self.config_jsonschema))
        try:
            errors = super().check_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise settings_error(exc.errors, exc.schema) from None
        start = self.config.get("start_date")
        if start not in (None, ""):
            try:
                vtypes.datetime_to_unix(str(start))
            except (TypeError, ValueError, OverflowError, OSError):
                raise ConfigError("CONFIG", "setting start_date must be an RFC 3339 date-time, "
                                  "e.g. 2026-01-01T00:00:00Z") from None
        return errors

    # ------------------------------------------------------------------ API access

    @property
    def client(self) -> VtigerClient:
        """The run's one API client (one session, one call counter)."""
        with self._client_lock:
            if self._client is None:
                mapping = {k: self.config[k] for k in CLIENT_KEYS
                           if self.config.get(k) is not None}
                mapping.setdefault("user_agent", f"{self.name}/{self.plugin_version}")
                self._client = VtigerClient(ClientConfig.from_mapping(mapping))
            return self._client

    @property
    def discovery_cache(self) -> DiscoveryCache:
        """listtypes/describe answers kept between runs (``discovery_cache`` setting)."""
        if self._discovery_cache is None:
            self._discovery_cache = DiscoveryCache.from_config(self.config,
                                                               self.client.base_url)
        return self._discovery_cache

    def listtypes(self) -> dict:
        """``listtypes``, once per run, and not at all while the discovery cache is fresh."""
        if self._listtypes is None:
            cache = self.discovery_cache
            cached = cache.listtypes()
            self._listtypes = cached if cached is not None else cache.put_listtypes(
                self.client.listtypes())
        return self._listtypes

    def describe(self, module: str) -> dict:
        """``describe``, once per module and run (metadata streams share this cache), and not
        at all while the discovery cache holds a fresh one.
        """
        if module not in self._describes:
            cached = self.discovery_cache.describe(module)
            self._describes[module] = cached if cached is not None else self.fresh_describe(
                module)
        return self._describes[module]

    def fresh_describe(self, module: str) -> dict:
        """One ``describe`` call whatever the caches hold (the schema changed); kept."""
        answer = self.discovery_cache.put_describe(module, self.client.describe(module))
        self._describes[module] = answer
        return answer

    # ------------------------------------------------------------------ discovery

    def discover_streams(self) -> list[Stream]:
        """Module streams (from the catalog when given, else listtypes + describe), then the
        relation, tag, metadata and API Designer streams built on them.
        """
        if self.input_catalog is not None:
            modules = self._streams_from_catalog()
        else:
            modules = self._streams_from_server()
        streams: list[Stream] = list(modules)
        streams.extend(self._streams_built_on_modules(modules))
        if self.input_catalog is not None:
            wanted = {entry.tap_stream_id for entry in self.input_catalog.streams}
            streams = [s for s in streams if s.name in wanted]
        wire_children(streams)
        return streams

    def _module_names(self) -> list[str]:
        info = self.listtypes()
        available = list(info.get("types") or [])
        wanted = self.config.get("modules")
        if not wanted:
            return available
        unknown = [m for m in wanted if m not in available]
        if unknown:
            msg = (f"setting modules: unknown module(s) {', '.join(map(repr, unknown))} "
                   f"(names are case-sensitive; available: {', '.join(sorted(available))})")
            raise ConfigError("CONFIG", msg)
        return list(dict.fromkeys(wanted))

    def _streams_from_server(self) -> list[VtigerStream]:
        information = self.listtypes().get("information") or {}
        out: list[VtigerStream] = []
        for module in self._module_names():
            try:
                describe = self.describe(module)
            except UnknownModuleError as exc:
                self.logger.warning("%s: cannot be described (%s); skipped", module, exc)
                continue
            entity = bool(describe.get("isEntity", information.get(module, {}).get("isEntity")))
            fields = {f.get("name") for f in describe.get("fields") or []}
            schema = module_schema(describe, deletions=self._incremental(module, entity, fields))
            out.append(self._make_stream(module, schema, entity=entity,
                                         id_prefix=describe.get("idPrefix")))
        return out

    def _make_stream(
        self,
        module: str,
        schema: dict,
        *,
        entity: bool,
        id_prefix: str | None,
        raw: dict | None = None,
    ) -> VtigerStream:
        incremental = self._incremental(module, entity, schema.get("properties", {}))
        cls = ModuleStream if incremental else FullTableStream
        return cls(self, module, schema, id_prefix=id_prefix, raw_catalog_schema=raw)

    @staticmethod
    def _incremental(module: str, entity: bool, fields: t.Collection[str]) -> bool:
        """Entity modules with a modifiedtime are read incrementally (sync/query); the rest
        (Users, Groups, Currency...) as full tables.
        """
        return entity and module not in NON_SYNC_MODULES and "modifiedtime" in fields

    def _streams_from_catalog(self) -> list[VtigerStream]:
        raw_entries = {e.get("tap_stream_id") or e.get("stream"): e
                       for e in (self._raw_catalog or {}).get("streams", [])}
        out: list[VtigerStream] = []
        custom = {q.get("name") for q in self.config.get("custom_queries") or []}
        for entry in self.input_catalog.streams:  # type: ignore[union-attr]
            raw = raw_entries.get(entry.tap_stream_id, {}).get("schema")
            schema = copy.deepcopy(raw) if raw else entry.schema.to_dict()
            props = schema.get("properties", {})
            if "id" not in props or not self._looks_like_module(entry.tap_stream_id, schema):
                continue  # not a module stream (relations, tags, API Designer...)
            if entry.tap_stream_id in custom:
                continue  # a custom query (tap_vtiger/streams/custom_queries.py builds it)
            entity = entry.replication_key == "modifiedtime" or (
                entry.tap_stream_id not in NON_SYNC_MODULES and "modifiedtime" in props
                and schema.get("x-vtiger-entity", True))
            out.append(self._make_stream(entry.tap_stream_id, schema, entity=bool(entity),
                                         id_prefix=schema.get("x-vtiger-idPrefix"),
                                         raw=copy.deepcopy(raw) if raw else None))
        return out

    def _looks_like_module(self, name: str, schema: dict) -> bool:
        """Whether a catalog entry is a module stream: not one of the relation, tag, metadata
        or API Designer streams (those are rebuilt by their own modules).
        """
        others = {"tags", "picklist_values", "picklist_dependencies", "account_hierarchy"}
        others |= {str(spec.get("name")) for spec in self.config.get("api_designer_streams") or []}
        if name in others or name.endswith("_related") or not name.isidentifier():
            return False
        return "x-vtiger-module" in schema or "id" in schema.get("properties", {})

    def _streams_built_on_modules(self, modules: list[VtigerStream]) -> list[Stream]:
        """The relation, tag, metadata, API Designer and custom query streams, built on the
        module streams.
        """
        return [*relation_streams(self, modules), *tags_streams(self, modules),
                *metadata_streams(self, modules), *api_designer_streams(self),
                *custom_query_streams(self)]

    @property
    def catalog_dict(self) -> dict:
        """The SDK's catalog, with each module schema as we built it (``x-refersTo``,
        ``x-vtiger-type``... survive; the SDK's Schema model would drop them).
        """
        catalog = super().catalog_dict
        for entry in catalog.get("streams", []):
            stream = self.streams.get(entry.get("tap_stream_id"))
            if isinstance(stream, VtigerStream):
                schema = copy.deepcopy(stream.schema)
                schema["x-vtiger-module"] = stream.module
                schema["x-vtiger-entity"] = stream.is_entity
                if stream.id_prefix:
                    schema["x-vtiger-idPrefix"] = stream.id_prefix
                entry["schema"] = schema
        return catalog

    # ------------------------------------------------------------------ CLI

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command; run-ending errors become one line and exit code 1."""
        command = super().get_singer_command()
        return extend_command(command, _VtigerCommand)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: check the connection and credentials with one ``me`` call."""
        if value == CliTestOptionValue.Disabled.value:
            return
        config = ctx.params.get("config")
        tap = cls(config=getattr(config, "config", None),
                  parse_env_config=getattr(config, "parse_env", False),
                  validate_config=True, setup_mapper=False)
        if value == CliTestOptionValue.Schema.value:
            tap.write_schemas()
            ctx.exit()
        me = tap.client.me()
        cls.logger.info("Connection OK: %s as %s (%s)", tap.client.base_url,
                        me.get("user_name") or tap.config["username"], me.get("id"))
        ctx.exit()

    @classmethod
    def invoke(cls, *args: t.Any, state: t.Any = None, **kwargs: t.Any) -> t.Any:  # type: ignore[override]
        """The SDK's run, with a ``--state`` that is not JSON, or not a state the tap wrote,
        stopped in one line naming the key (ConfigError), before any call.
        """
        if state is not None:
            text = state.read()
            name = getattr(state, "name", "")
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError("STATE", f"--state file {name} is not valid JSON (line "
                                  f"{exc.lineno} column {exc.colno}: {exc.msg}); fix the file "
                                  "or run without --state") from None
            check_state(value)
            state = io.StringIO(text)
        return super().invoke(*args, state=state, **kwargs)

    def load_state(self, state: dict[str, t.Any]) -> None:
        """The SDK's (bookmarks only), plus what earlier runs learnt about the server: the
        operations found missing, and the proof that its sync lists every owner's records
        (also taken from a module that proved it before the proof was kept server-wide).
        A state the tap did not write stops the run first (one line naming the key).
        """
        check_state(state)
        super().load_state(state)
        saved = state.get(UNAVAILABLE_STATE_KEY)
        if isinstance(saved, dict) and saved:
            self.state[UNAVAILABLE_STATE_KEY] = dict(saved)
        proof = state.get(SYNC_PROOF_KEY)
        if not isinstance(proof, dict) or not proof:
            bookmarks = state.get("bookmarks")
            proof = next(({"module": name, "proven_at": None}
                          for name, box in (bookmarks if isinstance(bookmarks, dict) else {}
                                            ).items()
                          if _module_proved_sync(box)), None)
        if proof:
            self.state[SYNC_PROOF_KEY] = dict(proof)

    def _remember_missing_operations(self) -> None:
        """Operations an earlier run found missing (state ``vtiger_unavailable``: name ->
        unix time found) are not asked again for a day; ones found now are added. A server
        upgraded to offer them is noticed by the first run after that day.
        """
        saved = self.state.setdefault(UNAVAILABLE_STATE_KEY, {})
        if not isinstance(saved, dict):
            saved = self.state[UNAVAILABLE_STATE_KEY] = {}
        now = time.time()
        for operation, found_at in list(saved.items()):
            try:
                age = now - float(found_at)
            except (TypeError, ValueError):
                age = VERDICT_TTL
            if 0 <= age < VERDICT_TTL:
                self.client.assume_unavailable(
                    operation, f"not offered by this server (found {int(age)} s ago; asked "
                    "again after a day); skipped")
            else:
                del saved[operation]

        if not saved:
            del self.state[UNAVAILABLE_STATE_KEY]  # no key at all until something is missing

        def found(operation: str) -> None:
            self.state.setdefault(UNAVAILABLE_STATE_KEY, {})[operation] = int(time.time())

        self.client.on_unavailable = found

    def sync_all(self) -> None:
        """The SDK's sync; afterwards the API calls spent are logged (and a stop for budget)."""
        for stream in self.streams.values():
            guard_records(stream, self._guarded_records)
        self._remember_missing_operations()
        try:
            super().sync_all()
        finally:
            if self._client is not None:
                calls = dict(sorted(self._client.calls.items()))
                self.logger.info("API calls this run: %d %s", sum(calls.values()), calls)
        if self.budget_exhausted:
            # the one line a scheduler's user sees: exit code 0, the state is complete up to
            # the last page delivered, so the next run resumes (no retry storm, no sleep)
            self.logger.warning("Stopped early, state saved (the next run resumes from it): %s",
                                self.budget_exhausted)


    def _guarded_records(self, stream: Stream, get_records: t.Callable[[t.Any], t.Iterable[dict]],
                         context: t.Any) -> t.Iterator[dict]:
        """Every stream's records, read through the one budget stop of the tap.

        A stream that needs an operation the server does not offer (Cloud-only operations on
        self-hosted Vtiger: the client warned once) ends cleanly and the run goes on. When the
        daily API limit (or api_budget_percent) is spent the stream ends cleanly with its
        state saved, and every stream after it is skipped: the run exits 0 and the next run
        resumes from the state.
        """
        if self.budget_exhausted:
            stream.logger.info("%s: skipped, API budget used up", stream.name)
            return
        try:
            yield from get_records(context)
        except OperationUnavailableError as exc:
            stream.logger.info("%s: skipped: %s", stream.name, exc)
        except BudgetExhaustedError as exc:
            self.budget_exhausted = str(exc)
            stream.logger.info("%s: %s; stopping (state saved, the next run resumes here)",
                               stream.name, exc)
            if stream.replication_key and not stream.is_sorted:
                # unsorted rows: the highest key seen so far must not become the bookmark
                # (rows not read yet may have lower ones); keep the previous bookmark
                reset_progress_markers(stream.get_context_state(context))

if __name__ == "__main__":
    TapVtiger.cli()
