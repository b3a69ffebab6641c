"""The one module allowed singer-sdk's private names, written against singer-sdk 0.54.9.

The tap and the target change a few steps the SDK offers no public hook for: how a stream
writes its RECORD, SCHEMA and STATE messages and moves its bookmark (the tap writes records a
page at a time), how it starts child streams for a record, how the target handles each kind
of message (rejects instead of a stopped run), how settings are checked (one line naming the
setting) and how the command line ends on an error (one line, exit 1). Each such step is
reached here, and only here, and offered to the rest of the code as a public hook whose
default is the SDK's own behaviour.

Every private SDK member this module touches is listed in :data:`RELIED_ON` with a
fingerprint of its source on the version named in :data:`SDK_VERSION`.
``tests/singer/test_sdk_contract.py`` fails when the installed SDK no longer has one of them,
or has changed its source, and ``tests/singer/test_sdk_private_names.py`` fails when a private
SDK name is used anywhere else. After an SDK upgrade: read what changed in each member the
failure names, adapt the hook here, then update its fingerprint and SDK_VERSION.
"""

from __future__ import annotations

import typing as t

import click
from singer_sdk import Stream, Tap, Target
from singer_sdk.helpers import _state as sdk_state
from singer_sdk.plugin_base import PluginBase
from singer_sdk.sinks import BatchSink

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from singer_sdk.singerlib import SchemaMessage

#: The singer-sdk release this module was written and fingerprinted against.
SDK_VERSION = "0.54.9"

#: Private SDK members used here -> sha256 (first 16 hex digits) of their source on
#: SDK_VERSION. Attribute names set in ``__init__`` are listed with the method that sets them.
RELIED_ON: dict[str, str] = {
    # sets _tap and _input_schema
    "singer_sdk.streams.core:Stream.__init__": "8926c57fa964f1f6",
    "singer_sdk.streams.core:Stream._generate_schema_messages": "e1b7406214785bbe",
    "singer_sdk.streams.core:Stream._write_schema_message": "3f4c5f98cacf7fa4",
    "singer_sdk.streams.core:Stream._write_record_message": "ee0baffc7a6568f1",
    "singer_sdk.streams.core:Stream._increment_stream_state": "41e8987b6ed002be",
    "singer_sdk.streams.core:Stream._process_record": "d8909ff61d93e6ce",
    "singer_sdk.streams.core:Stream._write_state_message": "3b381e57343c42fa",
    # calls the members above, get_records
    "singer_sdk.streams.core:Stream._sync_records": "fddc7b18a67db4b2",
    # reads _input_schema
    "singer_sdk.streams.core:Stream.effective_schema": "e6b8917d52e9d42a",
    "singer_sdk.helpers._state:reset_state_progress_markers": "b38c35fbdd619a74",
    # sets _config, calls _validate_config
    "singer_sdk.plugin_base:PluginBase.__init__": "9101d36c836ad4de",
    "singer_sdk.plugin_base:PluginBase._validate_config": "9ecfb6ba7472c924",
    "singer_sdk.plugin_base:PluginBase.append_builtin_config": "a126a3ab16031b59",
    # the message callbacks below
    "singer_sdk.plugin_base:BaseSingerReader.process_lines": "24d9986c67b9b29a",
    "singer_sdk.target_base:Target._process_record_message": "d4954260a8614aef",
    "singer_sdk.target_base:Target._process_schema_message": "7fe49c51f521d689",
    "singer_sdk.target_base:Target._process_state_message": "d6be9c0a4f75ad32",
    "singer_sdk.target_base:Target._process_activate_version_message": "5f24017d3576cc1a",
    "singer_sdk.target_base:Target._process_batch_message": "48af495bd3d3ef62",
    "singer_sdk.target_base:Target._write_state_message": "daf360d2558f1780",
    # calls _write_state_message
    "singer_sdk.target_base:Target.drain_all": "a7491ca62c4513ea",
    "singer_sdk.sinks.core:Sink._parse_timestamps_in_record": "7ff3892aa43d2bba",
    # calls the member above
    "singer_sdk.sinks.core:Sink._validate_and_parse": "c42e15d456274569",
}


# ------------------------------------------------------------------------------ settings


class _SettingsHooks(PluginBase):
    """Settings checking for the tap and the target (a mixin before Tap / Target)."""

    def update_config(self, values: Mapping[str, t.Any]) -> None:
        """Replace setting values before they are checked (e.g. numbers given as text)."""
        self._config.update(values)

    def check_config(self, *, raise_errors: bool = True) -> list[str]:
        """Hook: check the settings. The SDK's JSON Schema check unless overridden; called
        once, from the plugin's constructor, before anything else runs.
        """
        return PluginBase._validate_config(self, raise_errors=raise_errors)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        return self.check_config(raise_errors=raise_errors)


def builtin_plugin_config(cls: type[PluginBase], config_jsonschema: dict) -> None:
    """The settings every plugin has (stream maps, flattening...), without the ones the SDK's
    Target adds on top (load_method, validate_records, add_record_metadata...).
    """
    PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]


def extend_command(command: click.Command, extension: type[click.Command]) -> click.Command:
    """The SDK's command, run through ``extension`` (a click.Command subclass overriding e.g.
    ``main``). The SDK builds the command object itself, so it takes a class derived from both.
    """
    command.__class__ = type(extension.__name__, (extension, type(command)), {})
    return command


# ------------------------------------------------------------------------------ tap


class HookedTap(_SettingsHooks, Tap):
    """singer_sdk.Tap with public settings hooks (see :class:`_SettingsHooks`)."""


def reset_progress_markers(state: dict) -> None:
    """Drop the progress markers of an unsorted stream's state: the highest key seen so far
    must not become the bookmark when the stream stopped before reading every row.
    """
    sdk_state.reset_state_progress_markers(state)


class HookedStream(Stream):
    """singer_sdk.Stream with public hooks over the steps the tap changes. Each hook's default
    is the SDK's own step; the SDK calls the hooks where it called those steps.
    """

    @property
    def tap(self) -> Tap:
        """The tap this stream belongs to."""
        return self._tap

    def keep_input_schema(self, schema: dict) -> None:
        """Use ``schema`` (e.g. the catalog's JSON, with its ``x-`` keywords) as the stream's
        effective schema.
        """
        self._input_schema = schema

    def mark_state_unwritten(self) -> None:
        """Make the next :meth:`write_state` write STATE even if no record moved the bookmark."""
        self.state_manager.is_flushed = False

    def schema_messages(self) -> Iterator[SchemaMessage]:
        """Hook: the SCHEMA messages of the stream (one per stream map)."""
        return Stream._generate_schema_messages(self)

    def write_schema(self) -> None:
        """Hook: write the stream's SCHEMA messages."""
        Stream._write_schema_message(self)

    def write_record(self, record: dict[str, t.Any]) -> None:
        """Hook: write one record (through the stream maps)."""
        Stream._write_record_message(self, record)

    def advance_bookmark(self, record: dict, context: Mapping[str, t.Any] | None) -> None:
        """Hook: move the bookmark to ``record`` (records come in replication-key order)."""
        Stream._increment_stream_state(self, record, context=context)

    def sync_children_of(self, record: dict, child_context: t.Any = None,
                         partition_context: t.Any = None) -> None:
        """Hook: run the child streams for one record of this stream."""
        Stream._process_record(self, record, child_context, partition_context)

    def write_state(self) -> None:
        """Hook: write STATE if it changed since it was last written."""
        Stream._write_state_message(self)

    def _generate_schema_messages(self) -> t.Generator[SchemaMessage, None, None]:
        yield from self.schema_messages()

    def _write_schema_message(self) -> None:
        self.write_schema()

    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        self.write_record(record)

    def _increment_stream_state(self, latest_record: dict, *,
                                context: Mapping[str, t.Any] | None = None) -> None:
        self.advance_bookmark(latest_record, context)

    def _process_record(self, record: dict, child_context: t.Any = None,
                        partition_context: t.Any = None) -> None:
        self.sync_children_of(record, child_context, partition_context)

    def _write_state_message(self) -> None:
        self.write_state()


def guard_records(
    stream: Stream,
    guard: Callable[[Stream, Callable[[t.Any], Iterable[dict]], t.Any], Iterable[dict]],
) -> None:
    """Run every ``get_records`` of ``stream`` through ``guard(stream, get_records, context)``
    (the SDK reads a stream's records only through ``get_records``, once per context), so that
    the tap decides in one place how any stream ends on errors such as a spent API budget.
    """
    inner = stream.get_records

    def get_records(context: t.Any) -> Iterable[dict]:
        return guard(stream, inner, context)

    stream.get_records = get_records  # type: ignore[method-assign]


# ------------------------------------------------------------------------------ target


class HookedTarget(_SettingsHooks, Target):
    """singer_sdk.Target with public hooks for each kind of message and for writing STATE.
    Each hook's default is the SDK's own handling.
    """

    def handle_record(self, message_dict: dict) -> None:
        """Hook: a RECORD message."""
        Target._process_record_message(self, message_dict)

    def handle_schema(self, message_dict: dict) -> None:
        """Hook: a SCHEMA message."""
        Target._process_schema_message(self, message_dict)

    def handle_state(self, message_dict: dict) -> None:
        """Hook: a STATE message."""
        Target._process_state_message(self, message_dict)

    def handle_activate_version(self, message_dict: dict) -> None:
        """Hook: an ACTIVATE_VERSION message."""
        Target._process_activate_version_message(self, message_dict)

    def handle_batch(self, message_dict: dict) -> None:
        """Hook: a BATCH message."""
        Target._process_batch_message(self, message_dict)

    def write_state(self, state: dict) -> None:
        """Hook: write a STATE message now (the SDK calls it when every sink has drained)."""
        Target._write_state_message(self, state)

    def _process_record_message(self, message_dict: dict) -> None:
        self.handle_record(message_dict)

    def _process_schema_message(self, message_dict: dict) -> None:
        self.handle_schema(message_dict)

    def _process_state_message(self, message_dict: dict) -> None:
        self.handle_state(message_dict)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        self.handle_activate_version(message_dict)

    def _process_batch_message(self, message_dict: dict) -> None:
        self.handle_batch(message_dict)

    def _write_state_message(self, state: dict) -> None:
        self.write_state(state)


class HookedBatchSink(BatchSink):
    """singer_sdk.BatchSink whose date-time parsing can be turned off per sink class."""

    #: False: date-time values reach the sink as received (the SDK would parse them, and
    #: stop the run or null a value it cannot parse).
    parse_timestamps: t.ClassVar[bool] = True

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: t.Any) -> None:
        if self.parse_timestamps:
            BatchSink._parse_timestamps_in_record(self, record, schema, treatment)
