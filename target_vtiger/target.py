"""target-vtiger: upsert Singer records into Vtiger CRM (reverse ETL).

Match on a key, write only what changed, report every rejected record with its reason, never
write twice. This module owns the settings, which sink each stream goes to (``sinks/``: records
of a module, links, tags, lead conversions, webhooks), and the Singer messages that reach no
sink; what the sinks share (clients, caches, accounts, when a STATE may be emitted) is the
run's (``run.py``), built here once the settings are valid.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    TARGET_BATCH_SIZE_ROWS_CONFIG,
    PluginCapabilities,
)

from target_vtiger.rejects import UNREADABLE_INPUT, TolerantSingerReader
from target_vtiger.run import SERVER_ERROR_STREAK, TargetConfigError, TargetRun
from target_vtiger.sinks.convertlead import CONVERTLEAD_SETTINGS, ConvertLeadSink
from target_vtiger.sinks.module import VtigerSink
from target_vtiger.sinks.relations import RELATION_SETTINGS, RelationsSink, is_relation_schema
from target_vtiger.sinks.tags import TAG_SETTINGS, TagsSink, is_tag_schema
from target_vtiger.sinks.webhook import (
    WEBHOOK_SETTINGS,
    WebhookSink,
    check_webhook_settings,
    uses_webhook,
)
from vtiger_client.config import ClientConfig
from vtiger_client.errors import FatalError, VtigerError, settings_error
from vtiger_client.session import BULK_LIMIT
from vtiger_singer.cli import CheckedConfigFiles
from vtiger_singer.sdk import HookedTarget, builtin_plugin_config
from vtiger_singer.settings import connection_properties, numbers_from_strings


class RejectedRecordsError(Exception):
    """Raised at the end of a run that rejected records while ``allow_rejects`` is off."""


#: Sinks that need an operation some servers lack: sink -> (operation, setting naming it).
CLOUD_ONLY_FEATURES: dict[type, tuple[str, str]] = {
    TagsSink: ("tags_retrieve", "tag_streams"),
    ConvertLeadSink: ("convertlead", "convertlead_streams"),
}


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


class TargetVtiger(CheckedConfigFiles, HookedTarget):
    """Singer target that keeps Vtiger CRM modules in step with a warehouse."""

    name = "target-vtiger"
    config_problem_prefix = "target-vtiger stopped"
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
        builtin_plugin_config(cls, config_jsonschema)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        #: the current VtigerSink of each stream (to keep input order, see handle_record)
        self._module_sinks: dict[str, VtigerSink] = {}
        self._schemas: dict[str, dict] = {}
        super().__init__(*args, **kwargs)
        #: what the sinks share: clients, caches, summaries, rejects, the STATE ledger
        self.run = TargetRun(self.config, self._check_settings(),
                             write_state=super().write_state)
        if isinstance(self.message_reader, TolerantSingerReader):
            self.message_reader.on_malformed = self._reject_malformed_line
        # Sinks share one client (one session, one call budget) and the order of writes across
        # modules matters (accounts before the contacts that reference them), so drain serially.
        self.max_parallelism = 1

    # ------------------------------------------------------------------ settings

    def check_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON Schema check as ONE line naming the setting (a ConfigError: exit 1);
        the SDK's own last line, "Config validation failed", names none and its messages echo
        the bad value. Numeric settings given as numeric strings (environment variables) count
        as numbers.
        """
        self.update_config(numbers_from_strings(self.config, self.config_jsonschema))
        try:
            return super().check_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise settings_error(exc.errors, exc.schema) from None

    def _check_settings(self) -> ClientConfig:
        """Refuse impossible settings before reading any input (one line, exit 1); the
        client's settings, validated by vtiger_client (api_url, api_style, timeouts...).
        """
        client_config = self._client_config()
        try:  # webhook mode (target_vtiger/sinks/webhook.py)
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
        return client_config

    def _client_config(self) -> ClientConfig:
        """The shared client's settings, validated by vtiger_client (same rules as the tap)."""
        mapping = dict(self.config)
        # without a budget vtiger_client would sleep on a 429 until the daily quota resets
        mapping.setdefault("api_budget_percent", 100)
        mapping.setdefault("user_agent", f"{self.name}/{self.plugin_version}")
        return ClientConfig.from_mapping(mapping)

    # ------------------------------------------------------------------ sink routing

    def _reject_malformed_line(self, message: dict) -> None:
        """A line that is not a Singer message (see TolerantSingerReader): the singer-sdk would
        stop the run with a traceback; here it is rejected, raw line kept, and reading goes on.
        """
        self.run.reject_input(message.get("stream") or UNREADABLE_INPUT,
                              {"line": message["line"]}, message.get("code") or "MALFORMED_LINE",
                              f"input line {message['line_number']}: {message['reason']}")

    def _line(self) -> str:
        """``input line N: `` for messages about the line being read ("" if unknown)."""
        number = getattr(self.message_reader, "line_number", 0)
        return f"input line {number}: " if number else ""

    def handle_batch(self, message_dict: dict) -> None:
        """A BATCH message carries records in files this target does not read: going on would
        let the STATE after it pass records never written, so the run stops (one line, exit 1).
        """
        stream = message_dict.get("stream")
        msg = (f"{self._line()}BATCH message (stream {stream!r}): target-vtiger reads RECORD "
               "messages only; turn off the tap's batch_config")
        raise TargetConfigError(msg)

    def handle_activate_version(self, message_dict: dict) -> None:
        """ACTIVATE_VERSION never deletes anything here (see docs); one for a stream with no
        SCHEMA yet is rejected (NO_SCHEMA, the input line named) instead of a KeyError.
        """
        stream = message_dict.get("stream")
        if not isinstance(stream, str) or not stream or "version" not in message_dict:
            self.run.reject_input(
                stream if isinstance(stream, str) and stream else UNREADABLE_INPUT,
                {k: v for k, v in message_dict.items() if k != "type"}, "MALFORMED_MESSAGE",
                f"{self._line()}an ACTIVATE_VERSION message needs a stream name and a version")
            return
        if stream not in self.mapper.stream_maps:
            self.run.reject_input(stream, {k: v for k, v in message_dict.items() if k != "type"},
                                  "NO_SCHEMA", f"{self._line()}ACTIVATE_VERSION for stream "
                                  f"{stream!r} arrived before its SCHEMA message")
            return
        super().handle_activate_version(message_dict)

    def handle_record(self, message_dict: dict) -> None:
        """The SDK's record handling, except that a RECORD the SDK would stop the run on is
        rejected alone: one without a stream name or record object (MALFORMED_MESSAGE), or one
        arriving before its stream's SCHEMA (NO_SCHEMA: without a schema no sink, hence no
        module, can be chosen). The records around it are written as usual.
        """
        stream = message_dict.get("stream")
        record = message_dict.get("record")
        if not isinstance(stream, str) or not isinstance(record, dict):
            self.run.reject_input(
                stream if isinstance(stream, str) and stream else UNREADABLE_INPUT,
                {k: v for k, v in message_dict.items() if k != "type"},
                "MALFORMED_MESSAGE", "a RECORD message needs a stream name and a record object")
            return
        if stream not in self.mapper.stream_maps and not self.sink_exists(stream):
            self.run.reject_input(stream, record, "NO_SCHEMA",
                                  f"record of stream {stream!r} arrived before its SCHEMA message")
            return
        self._drain_other_streams_of_module(stream)
        super().handle_record(message_dict)

    def _drain_other_streams_of_module(self, stream: str) -> None:
        """Input order per Vtiger record across streams: when several streams write one
        module, a record of one stream first settles what the others hold. Each sink batches
        on its own, so without this a later value of one stream could be written before an
        earlier value of another and then be overwritten by it (last value in the input must
        win). Costs smaller batches only when such streams interleave.
        """
        module = self.run.module_for(stream)
        for other, sink in list(self._module_sinks.items()):
            if other != stream and sink.module_name == module and sink.current_size:
                self.drain_one(sink)

    def handle_schema(self, message_dict: dict) -> None:
        """Remember each stream's schema: which sink a stream gets depends on its shape.

        A SCHEMA without a stream name or a schema object with properties is rejected
        (MALFORMED_MESSAGE) instead of stopping the run with the SDK's traceback; the stream's
        records then go to the rejects file as NO_SCHEMA.
        """
        stream = message_dict.get("stream")
        schema = message_dict.get("schema")
        if not (isinstance(stream, str) and stream and isinstance(schema, dict)
                and isinstance(schema.get("properties"), dict)):
            self.run.reject_input(
                stream if isinstance(stream, str) and stream else UNREADABLE_INPUT,
                {k: v for k, v in message_dict.items() if k != "type"}, "MALFORMED_MESSAGE",
                f"{self._line()}a SCHEMA message needs a stream name and a schema object with "
                "properties")
            return
        keys = message_dict.get("key_properties")
        if keys is not None and not (isinstance(keys, list)
                                     and all(isinstance(k, str) for k in keys)):
            self.run.reject_input(
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
        super().handle_schema(message_dict)

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
            self.run.require_operation(needed[0], needed[1], stream_name)
        return sink

    def _sink_class(self, stream_name: str) -> type:
        schema = self._schemas.get(stream_name)
        if stream_name in (self.config.get("convertlead_streams") or {}):
            return ConvertLeadSink
        if uses_webhook(self.config, stream_name, listed_only=True):
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

    # ------------------------------------------------------------------ STATE

    def handle_state(self, message_dict: dict) -> None:
        """Hand the STATE to the run's ledger, which emits it once every record received
        before it is settled (written or rejected), typically right after the batch that
        contained them. The SDK alone writes STATE only when *all* sinks drain (end of input,
        or every 5 minutes), so a long run killed midway would restart from the beginning.
        """
        if "value" not in message_dict:
            self.run.reject_input(UNREADABLE_INPUT,
                                  {k: v for k, v in message_dict.items() if k != "type"},
                                  "MALFORMED_MESSAGE", f"{self._line()}a STATE message needs a "
                                  "value; not passed on")
            return
        super().handle_state(message_dict)
        self.run.state_received(message_dict["value"])

    def write_state(self, state: dict) -> None:
        """The SDK's end-of-input STATE goes through the run's ledger (never written twice)."""
        self.run.write_state(state)

    # ------------------------------------------------------------------ end of run

    def _require_configured_features(self) -> None:
        """Check the features named in the settings before the first input line is read."""
        for stream in self.config.get("tag_streams") or []:
            self.run.require_operation("tags_retrieve", "tag_streams", stream)
        for stream in self.config.get("convertlead_streams") or {}:
            self.run.require_operation("convertlead", "convertlead_streams", stream)

    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Process the input; when the run stops early, still say what it did before."""
        self._require_configured_features()
        try:
            super().listen(file_input)
        except VtigerError:
            self.run.close()
            for summary in self.run.summaries.values():
                self.logger.info("Summary (run stopped): %s",
                                 summary.line(dry_run=self.run.dry_run))
            raise

    def process_endofpipe(self) -> None:
        """Drain everything, log the per-stream summary, then fail if records were rejected."""
        try:
            super().process_endofpipe()
        finally:
            self.run.close()
        calls = self.run.api_calls()
        for summary in self.run.summaries.values():
            self.logger.info("Summary: %s", summary.line(dry_run=self.run.dry_run))
        for line in self.run.altered.summary_lines():
            self.logger.info("%s", line)
        self.logger.info(
            "API calls: %s (total %d)",
            ", ".join(f"{op}={n}" for op, n in sorted(calls.items())) or "none",
            sum(calls.values()),
        )
        self._check_required_streams()
        rejected = sum(s.rejected for s in self.run.summaries.values())
        if rejected and not self.config.get("allow_rejects", False):
            where = f" (see {self.run.rejects.path})" if self.run.rejects.path else ""
            msg = f"{rejected} record(s) rejected{where}; set allow_rejects to exit 0 anyway"
            raise RejectedRecordsError(msg)

    def _check_required_streams(self) -> None:
        """Fail a run in which a ``required_streams`` stream brought no record at all.

        A reverse job whose source table is missing or empty writes nothing, and exit 0 would
        turn a broken upstream into a silently green task.
        """
        for stream in self.config.get("required_streams") or []:
            summary = self.run.summaries.get(stream)
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
