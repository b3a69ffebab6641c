"""Helpers for the Beyond-CRUD tests: run tap-vtiger / target-vtiger in-process against a
sandbox over HTTP and look at what came out.

Not a conftest.py: fixtures are imported by name, like the target room does.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class TapRun:
    """Singer messages one tap run wrote."""

    messages: list[dict]
    tap: Any = None

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages
                if m["type"] == "RECORD" and m["stream"] == stream]

    def streams(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    def schemas(self, stream: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream]

    def state(self) -> dict:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def discover(config: dict) -> dict:
    """The tap's catalog (runs discovery in-process)."""
    from tap_vtiger.tap import TapVtiger

    return TapVtiger(config=config, parse_env_config=False, validate_config=True).catalog_dict


def select(catalog: dict, streams: set[str]) -> dict:
    """A copy of ``catalog`` with exactly ``streams`` selected (all their fields)."""
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] in streams
        for md in entry.get("metadata", []):
            if md.get("breadcrumb") == []:
                md["metadata"]["selected"] = chosen
            elif chosen:
                md["metadata"]["selected"] = True
    return catalog


def run_tap(config: dict, streams: set[str] | None = None, state: dict | None = None,
            catalog: dict | None = None) -> TapRun:
    """Sync ``streams`` (all when None); returns the messages written to stdout."""
    from tap_vtiger.tap import TapVtiger

    if streams is not None and catalog is None:
        catalog = select(discover(config), streams)
    tap = TapVtiger(config=config, catalog=catalog, state=state, parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return TapRun(messages=messages, tap=tap)


@dataclass
class TargetRun:
    """What one in-process target run produced."""

    target: Any
    states: list[dict]
    summaries: dict[str, dict] = field(default_factory=dict)
    error: BaseException | None = None


def run_target(config: dict, messages: list[dict], *, expect_error: bool = False) -> TargetRun:
    """Feed Singer ``messages`` to target-vtiger in-process."""
    from target_vtiger.target import TargetVtiger

    text = "".join(json.dumps(m) + "\n" for m in messages)
    target = TargetVtiger(config=config, parse_env_config=False)
    out = io.StringIO()
    error = None
    with contextlib.redirect_stdout(out):
        try:
            target.listen(io.StringIO(text))
        except BaseException as exc:
            if not expect_error:
                raise
            error = exc
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return TargetRun(target=target, states=states, error=error,
                     summaries={k: v.as_dict() for k, v in target.run.summaries.items()})


def schema_msg(stream: str, properties: dict, keys: list[str] | None = None) -> dict:
    return {"type": "SCHEMA", "stream": stream, "key_properties": keys or [],
            "schema": {"type": "object", "properties": properties}}


def record_msg(stream: str, record: dict) -> dict:
    return {"type": "RECORD", "stream": stream, "record": record}


def strings(*names: str) -> dict:
    return {n: {"type": ["string", "null"]} for n in names}


LINK_PROPS = {**strings("source_id", "related_id", "relation_label", "related_module",
                        "source_module", "_sdc_deleted_at")}
TAG_PROPS = {**strings("record_id", "tag", "module", "_sdc_deleted_at")}


def counts(run: TargetRun, stream: str) -> dict[str, int]:
    s = run.summaries[stream]
    return {k: s[k] for k in ("created", "updated", "unchanged", "deleted", "skipped",
                              "rejected")}


def read_jsonl(path) -> list[dict]:
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def vt(sandbox):
    """A plain client on the per-test sandbox, to arrange and inspect data."""
    from vtiger_client.session import ClientConfig, VtigerClient

    return VtigerClient(ClientConfig.from_mapping(sandbox.tap_config()))


def create(vt, module: str, **fields: Any) -> dict:
    fields.setdefault("assigned_user_id", "19x1")
    return vt.create(module, fields)
