"""target-vtiger: upsert Singer records into Vtiger CRM (reverse ETL).

Match on a key, write only what changed, report every rejected record with its reason, never
write twice. The sink (``sinks.py``) does the per-batch work; this module owns the settings, the
one shared API client, the per-run caches (``describe``, the default owner), the end-of-run
summary, and exactly when STATE messages may be emitted.
"""

from __future__ import annotations

import json
import sys
import threading
import typing as t

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    TARGET_BATCH_SIZE_ROWS_CONFIG,
    PluginCapabilities,
)
from singer_sdk.plugin_base import PluginBase

from target_vtiger.altered import AlteredWriter
from target_vtiger.convertlead import CONVERTLEAD_SETTINGS, ConvertLeadSink
from target_vtiger.rejects import (
    UNREADABLE_INPUT,
    RejectsWriter,
    StreamSummary,
    TolerantSingerReader,
)
from target_vtiger.relations import RELATION_SETTINGS, RelationsSink, is_relation_schema
from target_vtiger.sinks import VtigerSink
from target_vtiger.storedform import UserPreferences
from target_vtiger.tags import TAG_SETTINGS, TagsSink, is_tag_schema
from target_vtiger.validation import ModuleSpec
from target_vtiger.webhook import (
    WEBHOOK_SETTINGS,
    WebhookSink,
    check_webhook_settings,
    uses_webhook,
)
from vtiger_client.errors import FatalError, UnknownModuleError, VtigerError, settings_error
from vtiger_client.session import BULK_LIMIT, ClientConfig, VtigerClient
from vtiger_client.settings import connection_properties, json_file_problem, numbers_from_strings

#: Records in a row rejected as SERVER_ERROR (no write succeeding between them) after which
#: the run stops: the server fails on everything, and going on would spend the API budget
#: (max_retries + 1 calls each) to reject every record.
SERVER_ERROR_STREAK = 10


class RejectedRecordsError(Exception):
    """Raised at the end of a run that rejected records while ``allow_rejects`` is off."""


#: Sinks that need an operation some servers lack: sink -> (operation, setting naming it).
CLOUD_ONLY_FEATURES: dict[type, tuple[str, str]] = {
    TagsSink: ("tags_retrieve", "tag_streams"),
    ConvertLeadSink: ("convertlead", "convertlead_streams"),
}
#: Parameters of a probe call that cannot change anything (no such record / no lead id).
CLOUD_ONLY_PROBES: dict[str, dict[str, t.Any]] = {
    "tags_retrieve": {"id": "19x0"},
    "convertlead": {"element": {}},
}


class TargetConfigError(Exception):
    """A setting that makes the run impossible; reported in one line, exit code 1."""


class MissingInputError(Exception):
    """A stream of ``required_streams`` delivered no record; one line, exit code 1."""


CONNECTION_PROPERTIES = [
    *connection_properties(
        max_retries_note="Creates are never re-sent blindly: the target first checks whether "
        "the record got created (by match_keys); without a match key an unconfirmed create is "
        "rejected (CREATE_UNCONFIRMED) rather than risk a duplicate.",
        backoff_note="Also paces the look-up-then-retry of a create whose answer was lost.",
    ),
    th.Property(
        "api_budget_percent",
        th.NumberType,
        default=100,
        description="Stop the run (fatal, non-zero exit) before it spends more than this "
        "share of the daily API limit, leaving the rest for other integrations. At 100 the "
        "run stops when the daily quota is used up instead of waiting hours for it to reset.",
    ),
]

TARGET_PROPERTIES = [
    th.Property(
        "module_map",
        th.ObjectType(additional_properties=th.StringType),
        default={},
        description='Stream name -> Vtiger module, e.g. {"warehouse-contacts": "Contacts"}. '
        "A stream not listed is written to the module of the same name.",
    ),
    th.Property(
        "write_mode",
        th.StringType,
        default="upsert",
        allowed_values=["upsert", "update", "create"],
        description="upsert: update matching records, create the others. update: only "
        "existing records (records without a match are rejected, NO_MATCH). create: only new "
        "records (records that already exist are skipped).",
    ),
    th.Property(
        "match_keys",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        default={},
        description="Stream -> fields that identify an existing record when the incoming "
        'record has no `id`, e.g. {"Contacts": ["email"]}. Default: `id` only, in which '
        "case records without an id are always created (not idempotent on re-runs).",
    ),
    th.Property(
        "hard_delete",
        th.BooleanType,
        default=False,
        description="Delete the Vtiger record of incoming records carrying `_sdc_deleted_at`. "
        "When false those records are skipped.",
    ),
    th.Property(
        "skip_unchanged",
        th.BooleanType,
        default=True,
        description="Send no write for an existing record whose fields already hold the "
        "incoming values (compared in Vtiger's wire format).",
    ),
    th.Property(
        "write_concurrency",
        th.IntegerType,
        default=1,
        description="Create/revise/delete calls in flight at once within a batch. 1 suits "
        "Vtiger Cloud's per-minute limits; 4-8 speeds up a self-hosted instance. Lookups, "
        "ordering of batches and STATE are unaffected.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Validate, look up and diff, then report what would be created, updated, "
        "deleted and rejected, without writing anything.",
    ),
    th.Property(
        "rejects_path",
        th.StringType,
        description="JSON Lines file the rejected records are appended to (stream, module, "
        "record, error_code, message). Rejects are always logged as warnings too.",
    ),
    th.Property(
        "default_owner",
        th.StringType,
        description="assigned_user_id (e.g. 19x1, or a group 20x2) for new records that have "
        "none. Default: the API user (`me`).",
    ),
    th.Property(
        "altered_path",
        th.StringType,
        description="JSON Lines file a row is appended to for each record written with "
        "values Vtiger stored differently (stream, module, id, fields: field, sent, stored). "
        "The run's summary lists them too; a re-run of the same input finds them unchanged.",
    ),
    th.Property(
        "strict_writes",
        th.BooleanType,
        default=False,
        description="Reject a record when Vtiger stored a value other than the one sent "
        "(rounded currency, emoji turned into '?'...). Default: log a warning per field.",
    ),
    th.Property(
        "stop_on_server_error",
        th.BooleanType,
        default=False,
        description="Stop the run (exit 1) at the first record Vtiger still answers HTTP 500 "
        "for after max_retries, instead of rejecting it as SERVER_ERROR and writing the "
        "records after it. Cost of leaving it off: each such record spends max_retries + 1 "
        "writes (and, for a create, as many lookups) and the retry pauses before it is "
        f"rejected; {SERVER_ERROR_STREAK} such records in a row stop the run anyway (the "
        "server, not the records, is broken).",
    ),
    th.Property(
        "allow_rejects",
        th.BooleanType,
        default=False,
        description="Exit 0 even when records were rejected (they are still reported).",
    ),
    th.Property(
        "unknown_fields",
        th.StringType,
        default="reject",
        allowed_values=["reject", "ignore"],
        description="A record naming a field the module does not have: reject it, or ignore "
        "the field with a warning.",
    ),
    th.Property(
        "required_streams",
        th.ArrayType(th.StringType),
        default=[],
        description="Streams that must deliver at least one record: a run where one of them "
        "delivers none (e.g. its warehouse table is missing or empty) fails with exit code 1. "
        "[] accepts empty runs.",
    ),
    th.Property(
        "api_designer_upsert",
        th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property(
                    "path",
                    th.StringType,
                    required=True,
                    description="API Designer path, served at /restapi/vtap/api/<path>.",
                ),
                th.Property(
                    "match_field",
                    th.StringType,
                    required=True,
                    description="Field the endpoint's <upsert> matches on.",
                ),
                th.Property(
                    "batch_size",
                    th.IntegerType,
                    default=BULK_LIMIT,
                    description="Records per request (at most 50).",
                ),
            )
        ),
        default={},
        description="Stream -> API Designer bulk upsert endpoint ({path, match_field, "
        "batch_size}); when set, creates and updates of that stream go through it, up to 50 "
        "records per request.",
    ),
]


class TargetVtiger(Target):
    """Singer target that keeps Vtiger CRM modules in step with a warehouse."""

    name = "target-vtiger"
    #: the distribution that ships it (tap, target and sandbox are one package): its version
    package_name = "tap-vtiger"
    default_sink_class = VtigerSink
    #: the SDK's reader, but an unreadable line is rejected instead of ending the run
    message_reader_class = TolerantSingerReader
    config_jsonschema = th.PropertiesList(
        *CONNECTION_PROPERTIES,
        *TARGET_PROPERTIES,
        *RELATION_SETTINGS,
        *TAG_SETTINGS,
        *CONVERTLEAD_SETTINGS,
        *WEBHOOK_SETTINGS,
    ).to_dict()

    #: No VALIDATE_RECORDS (records are checked against describe, bad ones rejected one by one)
    #: and no FLATTENING (Vtiger fields are flat).
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Of the SDK's target built-ins keep only ``batch_size_rows``.

        ``load_method`` is replaced by ``write_mode``/``match_keys``, ``add_record_metadata``
        is always on internally (``_sdc_deleted_at`` means delete) and never reaches Vtiger,
        and ``validate_records`` would stop the run on one bad record instead of rejecting it.
        Offering them would suggest switches that do nothing.
        """
        for key, value in TARGET_BATCH_SIZE_ROWS_CONFIG["properties"].items():
            config_jsonschema["properties"].setdefault(key, value)
        PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._client: VtigerClient | None = None
        self._no_retry_client: VtigerClient | None = None
        self._specs: dict[str, ModuleSpec] = {}
        self._describes: dict[str, dict] = {}
        self._default_owner: str | None = None
        #: operation -> whether the server offers it (probed once, when a feature needs it)
        self._offered: dict[str, bool] = {}
        self._api_user: dict[str, t.Any] | None = None
        #: the current VtigerSink of each stream (to keep input order, see _process_*_message)
        self._module_sinks: dict[str, VtigerSink] = {}
        self._preferences: UserPreferences | None = None
        self._schemas: dict[str, dict] = {}
        self._lock = threading.RLock()
        self._server_error_streak = 0
        self.summaries: dict[str, StreamSummary] = {}
        # STATE bookkeeping: every record gets a sequence number; a STATE may be emitted once
        # every record that arrived before it has been written or rejected.
        self._record_seq = 0
        self._pending_states: list[tuple[int, dict]] = []
        self._last_written_state: str | None = None
        super().__init__(*args, **kwargs)
        self._check_settings()
        self.rejects = RejectsWriter(self.config.get("rejects_path"), dry_run=self.dry_run)
        try:  # before the first write, not at the first reject in the middle of the run
            self.rejects.check_writable()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            msg = (f"setting rejects_path: cannot append to {self.rejects.path} ({reason}); "
                   "name a file in a writable folder")
            raise TargetConfigError(msg) from None
        self.altered = AlteredWriter(self.config.get("altered_path"))
        if isinstance(self.message_reader, TolerantSingerReader):
            self.message_reader.on_malformed = self._reject_malformed_line
        # Sinks share one client (one session, one call budget) and the order of writes across
        # modules matters (accounts before the contacts that reference them), so drain serially.
        self.max_parallelism = 1

    # ------------------------------------------------------------------ settings

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON Schema check as ONE line naming the setting (a ConfigError: exit 1);
        the SDK's own last line, "Config validation failed", names none and its messages echo
        the bad value. Numeric settings given as numeric strings (environment variables) count
        as numbers.
        """
        self._config.update(numbers_from_strings(self._config, self.config_jsonschema))
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise settings_error(exc.errors, exc.schema) from None

    @property
    def dry_run(self) -> bool:
        """Write nothing; report only."""
        return bool(self.config.get("dry_run", False))

    def _check_settings(self) -> None:
        """Refuse impossible settings before reading any input (one line, exit 1)."""
        self._client_config()  # api_url, api_style, timeouts...: vtiger_client's own rules
        try:  # webhook mode (target_vtiger/webhook.py)
            check_webhook_settings(self.config)
        except ValueError as exc:
            raise TargetConfigError(str(exc)) from None
        for stream, conf in (self.config.get("api_designer_upsert") or {}).items():
            # `or` would turn an explicit 0 into the default instead of refusing it
            size = int(BULK_LIMIT if conf.get("batch_size") is None else conf["batch_size"])
            if not 1 <= size <= BULK_LIMIT:
                msg = (
                    f"api_designer_upsert.{stream}.batch_size must be between 1 and "
                    f"{BULK_LIMIT}, got {size}"
                )
                raise TargetConfigError(msg)
        concurrency = self.config.get("write_concurrency")
        if concurrency is not None and int(concurrency) < 1:  # 0 was silently taken as 1
            msg = "write_concurrency must be at least 1"
            raise TargetConfigError(msg)
        for stream, keys in (self.config.get("match_keys") or {}).items():
            if not keys:
                msg = f"match_keys.{stream} is empty; list at least one field"
                raise TargetConfigError(msg)

    def module_for(self, stream_name: str) -> str:
        """The Vtiger module a stream writes to (``module_map``, else the stream name)."""
        return (self.config.get("module_map") or {}).get(stream_name, stream_name)

    def match_keys_for(self, stream_name: str) -> list[str]:
        """Fields identifying an existing record when a record has no id (may be empty)."""
        keys = (self.config.get("match_keys") or {}).get(stream_name)
        if keys is None:
            keys = (self.config.get("match_keys") or {}).get(self.module_for(stream_name), [])
        return [k for k in keys if k != "id"]

    # ------------------------------------------------------------------ sink routing

    def _reject_input(self, stream: str, record: t.Any, code: str, message: str) -> None:
        """Reject input that never reaches a sink: counted in the stream's summary (so the
        run ends non-zero unless allow_rejects) and written to the rejects file.
        """
        module = "" if stream == UNREADABLE_INPUT else self.module_for(stream)
        summary = self.summary_for(stream, module or stream)
        with self._lock:
            summary.rejected += 1
        self.rejects.write(stream, module, record, code, message)

    def _reject_malformed_line(self, message: dict) -> None:
        """A line that is not a Singer message (see TolerantSingerReader): the singer-sdk would
        stop the run with a traceback; here it is rejected, raw line kept, and reading goes on.
        """
        self._reject_input(message.get("stream") or UNREADABLE_INPUT, {"line": message["line"]},
                           message.get("code") or "MALFORMED_LINE",
                           f"input line {message['line_number']}: {message['reason']}")

    def _line(self) -> str:
        """``input line N: `` for messages about the line being read ("" if unknown)."""
        number = getattr(self.message_reader, "line_number", 0)
        return f"input line {number}: " if number else ""

    def _process_batch_message(self, message_dict: dict) -> None:
        """A BATCH message carries records in files this target does not read: going on would
        let the STATE after it pass records never written, so the run stops (one line, exit 1).
        """
        stream = message_dict.get("stream")
        msg = (f"{self._line()}BATCH message (stream {stream!r}): target-vtiger reads RECORD "
               "messages only; turn off the tap's batch_config")
        raise TargetConfigError(msg)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        """ACTIVATE_VERSION never deletes anything here (see docs); one for a stream with no
        SCHEMA yet is rejected (NO_SCHEMA, the input line named) instead of a KeyError.
        """
        stream = message_dict.get("stream")
        if not isinstance(stream, str) or not stream or "version" not in message_dict:
            self._reject_input(
                stream if isinstance(stream, str) and stream else UNREADABLE_INPUT,
                {k: v for k, v in message_dict.items() if k != "type"}, "MALFORMED_MESSAGE",
                f"{self._line()}an ACTIVATE_VERSION message needs a stream name and a version")
            return
        if stream not in self.mapper.stream_maps:
            self._reject_input(stream, {k: v for k, v in message_dict.items() if k != "type"},
                               "NO_SCHEMA", f"{self._line()}ACTIVATE_VERSION for stream "
                               f"{stream!r} arrived before its SCHEMA message")
            return
        super()._process_activate_version_message(message_dict)

    def _process_record_message(self, message_dict: dict) -> None:
        """The SDK's record handling, except that a RECORD the SDK would stop the run on is
        rejected alone: one without a stream name or record object (MALFORMED_MESSAGE), or one
        arriving before its stream's SCHEMA (NO_SCHEMA: without a schema no sink, hence no
        module, can be chosen). The records around it are written as usual.
        """
        stream = message_dict.get("stream")
        record = message_dict.get("record")
        if not isinstance(stream, str) or not isinstance(record, dict):
            self._reject_input(
                stream if isinstance(stream, str) and stream else UNREADABLE_INPUT,
                {k: v for k, v in message_dict.items() if k != "type"},
                "MALFORMED_MESSAGE", "a RECORD message needs a stream name and a record object")
            return
        if stream not in self.mapper.stream_maps and not self.sink_exists(stream):
            self._reject_input(stream, record, "NO_SCHEMA",
                               f"record of stream {stream!r} arrived before its SCHEMA message")
            return
        self._drain_other_streams_of_module(stream)
        super()._process_record_message(message_dict)

    def _drain_other_streams_of_module(self, stream: str) -> None:
        """Input order per Vtiger record across streams: when several streams write one
        module, a record of one stream first settles what the others hold. Each sink batches
        on its own, so without this a later value of one stream could be written before an
        earlier value of another and then be overwritten by it (last value in the input must
        win). Costs smaller batches only when such streams interleave.
        """
        module = self.module_for(stream)
        for other, sink in list(self._module_sinks.items()):
            if other != stream and sink.module_name == module and sink.current_size:
                self.drain_one(sink)

    def _process_schema_message(self, message_dict: dict) -> None:
        """Remember each stream's schema: which sink a stream gets depends on its shape.

        A SCHEMA without a stream name or a schema object with properties is rejected
        (MALFORMED_MESSAGE) instead of stopping the run with the SDK's traceback; the stream's
        records then go to the rejects file as NO_SCHEMA.
        """
        stream = message_dict.get("stream")
        schema = message_dict.get("schema")
        if not (isinstance(stream, str) and stream and isinstance(schema, dict)
                and isinstance(schema.get("properties"), dict)):
            self._reject_input(
                stream if isinstance(stream, str) and stream else UNREADABLE_INPUT,
                {k: v for k, v in message_dict.items() if k != "type"}, "MALFORMED_MESSAGE",
                f"{self._line()}a SCHEMA message needs a stream name and a schema object with "
                "properties")
            return
        keys = message_dict.get("key_properties")
        if keys is not None and not (isinstance(keys, list)
                                     and all(isinstance(k, str) for k in keys)):
            self._reject_input(
                stream, {k: v for k, v in message_dict.items() if k != "type"},
                "MALFORMED_MESSAGE", f"{self._line()}key_properties of stream {stream!r} must "
                "be a list of field names (e.g. [\"email\"]); the stream's records are "
                "rejected until a valid SCHEMA arrives")
            return
        previous = self._module_sinks.get(stream)
        if previous is not None and previous.current_size and (
            self._schemas.get(stream) != schema
            or previous.key_properties != (message_dict.get("key_properties") or [])
        ):
            # the SDK starts a new sink and drains the old one at the end of the input, or
            # after the new one: the older records of this stream are settled first
            self.drain_one(previous)
        self._schemas[stream] = schema
        super()._process_schema_message(message_dict)

    def add_sink(
        self,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None = None,
    ) -> t.Any:
        """The SDK's, remembering each stream's module sink (see _drain_other_streams_of_module)."""
        sink = super().add_sink(stream_name, schema, key_properties)
        if isinstance(sink, VtigerSink):
            self._module_sinks[stream_name] = sink
        else:
            self._module_sinks.pop(stream_name, None)
        return sink

    def get_sink_class(self, stream_name: str) -> type:
        """Module records -> VtigerSink; links, tags and lead conversions -> their own sinks.

        A stream named in ``convertlead_streams`` / ``relation_streams`` / ``tag_streams`` goes
        to that sink; without those lists, the schema decides (tap-vtiger's ``*_related``
        streams carry source_id/related_id/relation_label, its ``tags`` stream record_id/tag).
        """
        sink = self._sink_class(stream_name)
        needed = CLOUD_ONLY_FEATURES.get(sink)
        if needed:
            self.require_operation(needed[0], needed[1], stream_name)
        return sink

    def _sink_class(self, stream_name: str) -> type:
        schema = self._schemas.get(stream_name)
        if stream_name in (self.config.get("convertlead_streams") or {}):
            return ConvertLeadSink
        if uses_webhook(self.config, stream_name, listed_only=True):  # target_vtiger/webhook.py
            return WebhookSink
        relation_streams = self.config.get("relation_streams")
        if (stream_name in relation_streams) if relation_streams is not None else (
            is_relation_schema(schema)
        ):
            return RelationsSink
        tag_streams = self.config.get("tag_streams")
        if (stream_name in tag_streams) if tag_streams is not None else is_tag_schema(schema):
            return TagsSink
        if uses_webhook(self.config, stream_name):  # webhook mode for every other stream
            return WebhookSink
        return VtigerSink

    # ------------------------------------------------------------------ API access

    def _client_config(self) -> ClientConfig:
        """The shared client's settings, validated by vtiger_client (same rules as the tap)."""
        mapping = dict(self.config)
        # without a budget vtiger_client would sleep on a 429 until the daily quota resets
        mapping.setdefault("api_budget_percent", 100)
        mapping.setdefault("user_agent", f"{self.name}/{self.plugin_version}")
        return ClientConfig.from_mapping(mapping)

    @property
    def client(self) -> VtigerClient:
        """The one API client of the run, created on first use."""
        with self._lock:
            if self._client is None:
                self._client = VtigerClient(self._client_config())
            return self._client

    @property
    def no_retry_client(self) -> VtigerClient:
        """The run's client without retries, for ``create``: a create whose answer was lost
        may have happened, so the sink checks (by match key) before trying again instead of
        letting a transport-level retry write the record twice. Same session (one login per
        run), counters (one api_budget_percent) and rate state as :attr:`client`.
        """
        with self._lock:
            if self._no_retry_client is None:
                self._no_retry_client = self.client.without_retries()
            return self._no_retry_client

    def note_written(self) -> None:
        """A write succeeded: the server works, whatever it failed on before."""
        with self._lock:
            self._server_error_streak = 0

    def note_server_error(self) -> None:
        """A record was rejected as SERVER_ERROR; stop (FatalError) at the
        SERVER_ERROR_STREAK-th in a row.
        """
        with self._lock:
            self._server_error_streak += 1
            if self._server_error_streak >= SERVER_ERROR_STREAK:
                msg = (f"Vtiger answered HTTP 500 for {SERVER_ERROR_STREAK} records in a row "
                       "and wrote none in between: the server, not the records, looks broken; "
                       "check the server (its PHP error log) before running again")
                raise FatalError("SERVER_ERROR", msg)

    def api_calls(self) -> dict[str, int]:
        """API calls spent by this run, by operation (both clients share one counter)."""
        return dict(self._client.calls) if self._client is not None else {}

    def module_spec(self, module: str) -> ModuleSpec:
        """The module's ``describe``, read once per run (UnknownModuleError is fatal)."""
        with self._lock:
            if module not in self._specs:
                try:
                    describe = self.client.describe(module)
                except UnknownModuleError:
                    raise TargetConfigError(self._unknown_module_message(module)) from None
                self._describes[module] = describe
                self._specs[module] = ModuleSpec.from_describe(describe)
            return self._specs[module]

    def _unknown_module_message(self, module: str) -> str:
        """One line naming the setting to fix: Vtiger answers a describe of a module it does
        not know (or the user may not see) with a bare ACCESS_DENIED.
        """
        streams = sorted(s for s, m in (self.config.get("module_map") or {}).items()
                         if m == module)  # fmt: skip
        where = f"module_map.{streams[0]}" if streams else f"stream {module!r} (no module_map)"
        try:
            available = sorted((self.client.listtypes() or {}).get("types") or [])
        except VtigerError:
            available = []
        hint = f"; available: {', '.join(available)}" if available else ""
        return (f"{where}: unknown module {module!r} (names are case-sensitive; map the stream "
                f"in module_map{hint})")

    def api_user(self) -> dict[str, t.Any]:
        """The API user's record (``me``, or ``retrieve`` of the login's user), read once."""
        with self._lock:
            if self._api_user is None:
                self._api_user = self.client.me()
            return self._api_user

    def default_owner(self) -> str:
        """``assigned_user_id`` for new records without one: setting, else the API user."""
        with self._lock:
            if self._default_owner is None:
                configured = self.config.get("default_owner")
                self._default_owner = configured or str(self.api_user()["id"])
            return self._default_owner

    def user_preferences(self) -> UserPreferences:
        """How the server stores this user's values (currency decimals), read at most once
        per run and only when a value needs them (see target_vtiger.storedform): ``me`` plus,
        where ``me`` leaves the preferences out (Cloud), one ``retrieve`` of the user.
        """
        with self._lock:
            if self._preferences is None:
                user = self.api_user()
                if "no_of_currency_decimals" not in user and user.get("id"):
                    user = self.client.retrieve(str(user["id"]))
                self._preferences = UserPreferences.from_user_record(user)
            return self._preferences

    def summary_for(self, stream_name: str, module: str) -> StreamSummary:
        """Counters of one stream, kept across schema changes (a new sink per SCHEMA)."""
        with self._lock:
            if stream_name not in self.summaries:
                self.summaries[stream_name] = StreamSummary(stream=stream_name, module=module)
            return self.summaries[stream_name]

    # ------------------------------------------------------------------ STATE

    def next_record_seq(self) -> int:
        """Number the next record; STATE safety is decided on these numbers."""
        with self._lock:
            self._record_seq += 1
            return self._record_seq

    def _process_state_message(self, message_dict: dict) -> None:
        """Remember the STATE and the record count at its arrival; emit it once safe.

        The SDK alone writes STATE only when *all* sinks drain (end of input, or every 5
        minutes), so a long run killed midway would restart from the beginning. Here a STATE is
        emitted as soon as every record received before it is settled (written or rejected),
        typically right after the batch that contained them. Records arriving after the STATE
        may still be in flight; that is fine, they come again on a re-run and are matched.
        """
        if "value" not in message_dict:
            self._reject_input(UNREADABLE_INPUT, {k: v for k, v in message_dict.items()
                                                  if k != "type"},
                               "MALFORMED_MESSAGE", f"{self._line()}a STATE message needs a "
                               "value; not passed on")
            return
        super()._process_state_message(message_dict)
        with self._lock:
            self._pending_states.append((self._record_seq, message_dict["value"]))
        self.emit_safe_state()

    def emit_safe_state(self) -> None:
        """Write the newest STATE whose preceding records are all settled."""
        with self._lock:
            sinks = list(self._sinks_active.values()) + list(self._sinks_to_clear)
            unsettled = [
                s.unsettled_from for s in sinks if getattr(s, "unsettled_from", None) is not None
            ]
            first_unsettled = min(unsettled) if unsettled else None
            safe = None
            while self._pending_states and (
                first_unsettled is None or self._pending_states[0][0] < first_unsettled
            ):
                safe = self._pending_states.pop(0)[1]
            if safe is not None:
                self._write_state_message(safe)

    def _write_state_message(self, state: dict) -> None:
        """Write a STATE unless it repeats the last one written (drain_all re-sends it)."""
        text = json.dumps(state, sort_keys=True)
        with self._lock:
            if text == self._last_written_state:
                return
            self._last_written_state = text
            if state == self._latest_state:
                # the newest STATE received: every older pending one is now obsolete, and
                # emitting one of those later would move the bookmark backwards
                self._pending_states.clear()
        super()._write_state_message(state)

    # ------------------------------------------------------------------ end of run

    def require_operation(self, operation: str, feature: str, stream: str | None = None) -> None:
        """Refuse (one line, exit 1) a feature the server cannot serve: self-hosted Vtiger
        lacks Cloud-only operations (tags) and stock 8.2 on PHP 8 crashes on convertlead.
        One probe call per operation and run (:meth:`VtigerClient.offers`), which changes
        nothing on the server; none with ``api_style: rest``, which only Vtiger Cloud serves
        (the open-source edition has no REST API) and Cloud offers them all.
        """
        if self._client_config().api_style == "rest":
            return
        with self._lock:
            if operation not in self._offered:
                probe = CLOUD_ONLY_PROBES[operation]
                self._offered[operation] = self.client.offers(operation, **probe)
            if self._offered[operation]:
                return
        where = f"stream {stream!r}: " if stream else ""
        msg = (f"{where}{feature} needs the {operation} operation, which this Vtiger server "
               "does not offer (HTTP 500 with an empty body: Vtiger Cloud only, or a build "
               f"that crashes on it); remove the stream from the input or from {feature}")
        raise TargetConfigError(msg)

    def _require_configured_features(self) -> None:
        """Check the features named in the settings before the first input line is read."""
        for stream in self.config.get("tag_streams") or []:
            self.require_operation("tags_retrieve", "tag_streams", stream)
        for stream in self.config.get("convertlead_streams") or {}:
            self.require_operation("convertlead", "convertlead_streams", stream)

    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Process the input; when the run stops early, still say what it did before."""
        self._require_configured_features()
        try:
            super().listen(file_input)
        except VtigerError:
            self.rejects.close()
            self.altered.close()
            for summary in self.summaries.values():
                self.logger.info("Summary (run stopped): %s", summary.line(dry_run=self.dry_run))
            raise

    def process_endofpipe(self) -> None:
        """Drain everything, log the per-stream summary, then fail if records were rejected."""
        try:
            super().process_endofpipe()
        finally:
            self.rejects.close()
            self.altered.close()
        calls = self.api_calls()
        for summary in self.summaries.values():
            self.logger.info("Summary: %s", summary.line(dry_run=self.dry_run))
        for line in self.altered.summary_lines():
            self.logger.info("%s", line)
        self.logger.info(
            "API calls: %s (total %d)",
            ", ".join(f"{op}={n}" for op, n in sorted(calls.items())) or "none",
            sum(calls.values()),
        )
        self._check_required_streams()
        rejected = sum(s.rejected for s in self.summaries.values())
        if rejected and not self.config.get("allow_rejects", False):
            where = f" (see {self.rejects.path})" if self.rejects.path else ""
            msg = f"{rejected} record(s) rejected{where}; set allow_rejects to exit 0 anyway"
            raise RejectedRecordsError(msg)

    def _check_required_streams(self) -> None:
        """Fail a run in which a ``required_streams`` stream brought no record at all.

        A reverse job whose source table is missing or empty writes nothing, and exit 0 would
        turn a broken upstream into a silently green task.
        """
        for stream in self.config.get("required_streams") or []:
            summary = self.summaries.get(stream)
            arrived = summary and sum(
                getattr(summary, name)
                for name in ("created", "updated", "unchanged", "deleted", "skipped", "rejected")
            )
            if not arrived:
                msg = (
                    f"stream {stream!r} delivered no records: its source (e.g. the warehouse "
                    "table) is missing or empty; fix the source, or remove the stream from "
                    "required_streams to accept empty runs"
                )
                raise MissingInputError(msg)

    @classmethod
    def cb_config(cls, ctx: t.Any, param: t.Any, value: tuple[str, ...]) -> t.Any:
        """The SDK's ``--config`` reading, with a file that is not a JSON object (syntax
        error, missing) reported in one line naming it, exit 1, instead of a traceback.
        """
        for path in value:
            problem = None if path == "ENV" else json_file_problem(path, "config")
            if problem:
                cls.logger.error("target-vtiger stopped: %s", problem)
                ctx.exit(1)
        return super().cb_config(ctx, param, value)

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:  # type: ignore[override]
        """Run from the CLI: fatal errors become one line on stderr and a non-zero exit.

        A traceback helps nobody when the access key is wrong or the API budget is spent, and
        the exception text of vtiger_client never contains secrets.
        """
        try:
            super().invoke(*args, **kwargs)
        except RejectedRecordsError as exc:
            cls.logger.error("%s", exc)
            sys.exit(2)
        except (FatalError, TargetConfigError, MissingInputError) as exc:
            cls.logger.error("target-vtiger stopped: %s", exc)
            sys.exit(1)
        except VtigerError as exc:
            cls.logger.error("target-vtiger stopped: %s", exc)
            sys.exit(1)


if __name__ == "__main__":
    TargetVtiger.cli()
