"""Helpers for the target tests: run target-vtiger on Singer messages, read Vtiger back.

Not a conftest.py: other rooms own tests/conftest.py, and fixtures are imported by name.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "target" / "data_files"

CONTACT_PROPS = {
    name: {"type": ["string", "null"]}
    for name in (
        "id",
        "lastname",
        "firstname",
        "email",
        "leadsource",
        "description",
        "account_id",
        "phone",
        "assigned_user_id",
        "_sdc_deleted_at",
    )
}
CONTACT_PROPS["emailoptout"] = {"type": ["boolean", "null"]}
CONTACT_PROPS["birthday"] = {"type": ["string", "null"], "format": "date"}


def schema_message(stream: str = "Contacts", properties: dict | None = None) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "key_properties": [],
        "schema": {"type": "object", "properties": properties or CONTACT_PROPS},
    }


def record_message(record: dict, stream: str = "Contacts") -> dict:
    return {"type": "RECORD", "stream": stream, "record": record}


def state_message(value: Any) -> dict:
    return {"type": "STATE", "value": value}


def singer_lines(messages: list[dict]) -> str:
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)


def contacts_input(records: list[dict], state: Any = None) -> str:
    msgs = [schema_message(), *(record_message(r) for r in records)]
    if state is not None:
        msgs.append(state_message(state))
    return singer_lines(msgs)


@dataclass
class TargetRun:
    """What one in-process run of the target produced."""

    target: Any
    states: list[dict]
    error: BaseException | None = None
    summaries: dict[str, dict] = field(default_factory=dict)

    def counts(self, stream: str = "Contacts") -> dict[str, int]:
        s = self.summaries[stream]
        return {
            k: s[k]
            for k in (
                "created",
                "updated",
                "unchanged",
                "deleted",
                "skipped",
                "rejected",
                "altered",
            )
        }


def run_target(config: dict, text: str | list[dict], *, expect_error: bool = False
               ) -> TargetRun:
    """Run TargetVtiger in-process on ``text`` (Singer JSON lines, or the messages);
    collect STATE output.
    """
    from target_vtiger.target import TargetVtiger

    if not isinstance(text, str):
        text = "".join(json.dumps(m) + "\n" for m in text)
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
    return TargetRun(
        target=target,
        states=states,
        error=error,
        summaries={k: v.as_dict() for k, v in target.run.summaries.items()},
    )


def write_calls(stats: dict[str, int]) -> int:
    """API calls that change data, from the sandbox's call counter."""
    return sum(stats.get(op, 0) for op in ("create", "update", "revise", "delete")) + sum(
        n for op, n in stats.items() if op.startswith("vtap") or "api_designer" in op
    )


@pytest.fixture
def target_config(sandbox, tmp_path) -> dict:
    """Connection to the per-test sandbox plus a rejects file; tests add settings."""
    return {
        **sandbox.tap_config(),
        "rejects_path": str(tmp_path / "rejects.jsonl"),
    }


@pytest.fixture
def vtiger(sandbox):
    """A plain API client on the sandbox, to arrange and inspect data."""
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    return VtigerClient(ClientConfig.from_mapping(sandbox.tap_config()))


def read_rejects(config: dict) -> list[dict]:
    path = Path(config["rejects_path"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def all_contacts(vtiger) -> list[dict]:
    """Every Contact in the sandbox (paged by id)."""
    return all_records(vtiger, "Contacts")


def all_records(vtiger, module: str) -> list[dict]:
    """Every record of ``module`` in the sandbox (paged by id)."""
    rows: list[dict] = []
    offset = 0
    while True:
        page = vtiger.query(f"select * from {module} order by id limit {offset}, 100;")
        rows.extend(page)
        if len(page) < 100:
            return rows
        offset += 100
