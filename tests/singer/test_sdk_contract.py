"""What vtiger_singer/sdk.py relies on in singer-sdk still holds on the installed SDK.

Each private SDK member it touches must exist with the source it had on the version the
module was written against (a fingerprint of the source), and each public hook it offers must
be reached where the SDK reached the private step behind it. After an SDK upgrade a failure
here names the member to re-read; adapt the hook, then update RELIED_ON and SDK_VERSION.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import io
import json
import textwrap
import typing as t
from pathlib import Path

import click
import pytest
import tomllib
from packaging.requirements import Requirement
from singer_sdk import typing as th

from vtiger_singer import sdk

ROOT = Path(__file__).resolve().parents[2]


def member(key: str) -> t.Any:
    """``module:Class.member`` or ``module:function`` of the installed SDK."""
    module, _, qualname = key.partition(":")
    obj: t.Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = inspect.getattr_static(obj, part) if inspect.isclass(obj) else getattr(obj, part)
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    return obj.fget if isinstance(obj, property) else obj


def fingerprint(obj: t.Any) -> str:
    source = textwrap.dedent(inspect.getsource(obj))
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------- the SDK's insides


@pytest.mark.parametrize("key", sorted(sdk.RELIED_ON))
def test_each_private_member_relied_on_is_unchanged_in_the_installed_sdk(key):
    installed = importlib.metadata.version("singer-sdk")
    try:
        obj = member(key)
    except AttributeError:
        pytest.fail(f"singer-sdk {installed} has no {key} (vtiger_singer/sdk.py was written "
                    f"against {sdk.SDK_VERSION}): adapt the hook that uses it")
    assert fingerprint(obj) == sdk.RELIED_ON[key], (
        f"singer-sdk {installed} changed {key} since {sdk.SDK_VERSION}: read the change, adapt "
        "vtiger_singer/sdk.py, then update its fingerprint")


def test_the_dependency_pin_admits_the_sdk_version_the_module_was_written_against():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pin = next(Requirement(r) for r in project["dependencies"] if r.startswith("singer-sdk"))
    assert pin.specifier.contains(sdk.SDK_VERSION)


def test_the_fingerprint_notices_a_changed_source():
    def step(record):
        return record

    def changed_step(record):
        return dict(record)

    assert fingerprint(step) != fingerprint(changed_step)


# ---------------------------------------------------------------------- the tap's hooks


class _Tap(sdk.HookedTap):
    name = "tap-contract"
    config_jsonschema = th.PropertiesList(th.Property("rows", th.IntegerType)).to_dict()
    checked: t.ClassVar[list[dict]] = []

    def check_config(self, *, raise_errors: bool = True) -> list[str]:
        self.update_config({"rows": int(self.config.get("rows", 2))})
        _Tap.checked.append(dict(self.config))
        return super().check_config(raise_errors=raise_errors)

    def discover_streams(self) -> list:
        return [_Stream(self)]


class _Stream(sdk.HookedStream):
    name = "items"
    schema = th.PropertiesList(th.Property("id", th.IntegerType),
                               th.Property("updated", th.IntegerType)).to_dict()
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "updated"
    is_sorted = True
    calls: t.ClassVar[list[str]] = []

    def get_records(self, context):
        for i in range(int(self.config["rows"])):
            yield {"id": i, "updated": 10 + i}

    def schema_messages(self):
        _Stream.calls.append("schema")
        yield from super().schema_messages()

    def write_record(self, record):
        _Stream.calls.append(f"record {record['id']}")
        super().write_record(record)

    def advance_bookmark(self, record, context):
        _Stream.calls.append(f"bookmark {record['updated']}")
        super().advance_bookmark(record, context)

    def sync_children_of(self, record, child_context=None, partition_context=None):
        _Stream.calls.append(f"children {record['id']}")
        super().sync_children_of(record, child_context, partition_context)

    def write_state(self):
        _Stream.calls.append("state")
        super().write_state()


def _run_tap(capsys, config: dict) -> tuple[list[dict], _Tap]:
    _Stream.calls.clear()
    _Tap.checked.clear()
    tap = _Tap(config=config, parse_env_config=False)
    capsys.readouterr()
    tap.sync_all()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return lines, tap


def test_the_settings_hook_runs_once_at_construction_and_may_change_values(capsys):
    _, tap = _run_tap(capsys, {"rows": "2"})
    assert _Tap.checked == [{"rows": 2}]
    assert tap.config["rows"] == 2


def test_a_streams_hooks_are_reached_where_the_sdk_reached_its_own_steps(capsys):
    lines, _ = _run_tap(capsys, {"rows": 2})
    calls = _Stream.calls
    assert calls.index("schema") < calls.index("record 0")
    assert [c for c in calls if c.startswith(("record", "bookmark", "children"))] == [
        "children 0", "record 0", "bookmark 10", "children 1", "record 1", "bookmark 11"]
    assert calls[-1] == "state"
    assert [m["record"]["id"] for m in lines if m["type"] == "RECORD"] == [0, 1]
    state = [m for m in lines if m["type"] == "STATE"][-1]["value"]
    assert state["bookmarks"]["items"]["replication_key_value"] == 11


def test_the_stream_reaches_its_tap(capsys):
    _, tap = _run_tap(capsys, {"rows": 0})
    assert tap.streams["items"].tap is tap


def test_a_kept_input_schema_becomes_the_effective_schema():
    stream = _Tap(config={"rows": 0}, parse_env_config=False).streams["items"]
    schema = {"type": "object", "properties": {"id": {"type": "integer", "x-kept": True}}}
    stream.keep_input_schema(schema)
    assert stream.effective_schema == schema


def test_state_marked_unwritten_is_written_again(capsys):
    stream = _Tap(config={"rows": 0}, parse_env_config=False).streams["items"]
    stream.write_state()
    capsys.readouterr()
    stream.write_state()
    assert capsys.readouterr().out == ""  # unchanged state is not written twice
    stream.mark_state_unwritten()
    stream.write_state()
    assert json.loads(capsys.readouterr().out)["type"] == "STATE"


def test_guarded_records_pass_through_the_guard(capsys):
    seen = []

    def guard(stream, get_records, context):
        seen.append(stream.name)
        for record in get_records(context):
            if record["id"] == 1:
                return  # the guard ends the stream cleanly
            yield record

    tap = _Tap(config={"rows": 3}, parse_env_config=False)
    sdk.guard_records(tap.streams["items"], guard)
    capsys.readouterr()
    tap.sync_all()
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert seen == ["items"]
    assert [m["record"]["id"] for m in records if m["type"] == "RECORD"] == [0]


def test_reset_progress_markers_drops_the_unfinished_bookmark():
    state = {"replication_key_value": 5,
             "progress_markers": {"replication_key": "updated", "replication_key_value": 9}}
    sdk.reset_progress_markers(state)
    assert "progress_markers" not in state
    assert state["replication_key_value"] == 5


def test_an_extended_command_runs_through_the_extension(capsys):
    class Extension(click.Command):
        def main(self, *args, **kwargs):
            try:
                return super().main(*args, **kwargs)
            except SystemExit as exc:
                raise SystemExit(f"extended, exit {exc.code}") from None

    command = sdk.extend_command(_Tap.get_singer_command(), Extension)
    with pytest.raises(SystemExit, match="extended, exit 0"):
        command.main(["--about", "--format", "json"])
    assert json.loads(capsys.readouterr().out)["name"] == "tap-contract"


# ---------------------------------------------------------------------- the target's hooks


class _Sink(sdk.HookedBatchSink):
    parse_timestamps = False
    seen: t.ClassVar[list[dict]] = []

    def process_batch(self, context: dict) -> None:
        _Sink.seen.extend(context.get("records", []))


class _ParsingSink(_Sink):
    parse_timestamps = True


class _Target(sdk.HookedTarget):
    name = "target-contract"
    config_jsonschema = th.PropertiesList(th.Property("parse", th.BooleanType)).to_dict()
    default_sink_class = _Sink
    handled: t.ClassVar[list[str]] = []
    states: t.ClassVar[list[dict]] = []

    def get_sink_class(self, stream_name: str) -> type:
        return _ParsingSink if self.config.get("parse") else _Sink

    def handle_record(self, message_dict):
        _Target.handled.append("RECORD")
        super().handle_record(message_dict)

    def handle_schema(self, message_dict):
        _Target.handled.append("SCHEMA")
        super().handle_schema(message_dict)

    def handle_state(self, message_dict):
        _Target.handled.append("STATE")
        super().handle_state(message_dict)

    def handle_activate_version(self, message_dict):
        _Target.handled.append("ACTIVATE_VERSION")
        super().handle_activate_version(message_dict)

    def handle_batch(self, message_dict):
        _Target.handled.append("BATCH")

    def write_state(self, state):
        _Target.states.append(state)


def _listen(lines: list[dict], config: dict | None = None) -> None:
    _Target.handled.clear()
    _Target.states.clear()
    _Sink.seen.clear()
    target = _Target(config=config or {}, parse_env_config=False)
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in lines)))


_INPUT = [
    {"type": "SCHEMA", "stream": "s", "key_properties": ["id"],
     "schema": {"properties": {"id": {"type": "integer"},
                               "at": {"type": "string", "format": "date-time"}}}},
    {"type": "RECORD", "stream": "s", "record": {"id": 1, "at": "2026-01-02T03:04:05Z"}},
    {"type": "ACTIVATE_VERSION", "stream": "s", "version": 1},
    {"type": "BATCH", "stream": "s", "encoding": {"format": "jsonl"}, "manifest": []},
    {"type": "STATE", "value": {"bookmarks": {"s": {"at": 1}}}},
]


def test_each_kind_of_message_reaches_its_hook():
    _listen(_INPUT)
    assert _Target.handled == ["SCHEMA", "RECORD", "ACTIVATE_VERSION", "BATCH", "STATE"]


def test_the_state_written_at_the_end_of_input_goes_through_the_hook():
    _listen(_INPUT)
    assert _Target.states[-1] == {"bookmarks": {"s": {"at": 1}}}


def test_a_sink_that_does_not_parse_timestamps_gets_the_text_as_received():
    _listen(_INPUT)
    assert _Sink.seen[0]["at"] == "2026-01-02T03:04:05Z"


def test_a_sink_that_parses_timestamps_gets_them_parsed():
    _listen(_INPUT, {"parse": True})
    assert not isinstance(_Sink.seen[0]["at"], str)


def test_the_builtin_plugin_settings_leave_out_the_targets_own():
    schema: dict = {"properties": {}}
    sdk.builtin_plugin_config(_Target, schema)
    assert "stream_maps" in schema["properties"]
    assert not {"load_method", "validate_records", "add_record_metadata"} & set(
        schema["properties"])
