"""Singer messages for tests of links, tags, webhooks and lead conversion, what a target run
counted, and a plain client on the sandbox (the ``vt`` fixture, imported by name).

The runs themselves are tap_helpers.run_tap and target_helpers.run_target (re-exported here).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tap_helpers import Run as TapRun
from tap_helpers import discover, run_tap, select
from target_helpers import TargetRun, run_target


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
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    return VtigerClient(ClientConfig.from_mapping(sandbox.tap_config()))


def contacts_in_sandbox(vt) -> list[dict]:
    """id, lastname and email of every contact the sandbox holds."""
    rows, offset = [], 0
    while True:
        page = vt.query(f"select id, lastname, email from Contacts limit {offset}, 100;")
        rows += page
        if len(page) < 100:
            return rows
        offset += 100


def create(vt, module: str, **fields: Any) -> dict:
    fields.setdefault("assigned_user_id", "19x1")
    return vt.create(module, fields)


__all__ = ["TapRun", "TargetRun", "discover", "run_tap", "run_target", "select"]
