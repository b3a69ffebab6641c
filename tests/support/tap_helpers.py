"""Helpers for tap tests: run tap-vtiger in-process (or as a subprocess) against a sandbox and
look at the Singer messages it wrote."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"include_relations": False, "include_tags": False, "include_metadata_streams": False}


@dataclass
class Run:
    messages: list[dict]
    tap: Any = None

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages
                if m["type"] == "RECORD" and m["stream"] == stream]

    def ids(self, stream: str, *, deleted: bool | None = False) -> list[str]:
        out = []
        for r in self.records(stream):
            is_deleted = bool(r.get("_sdc_deleted_at"))
            if deleted is None or is_deleted == deleted:
                out.append(r["id"])
        return out

    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def state(self) -> dict:
        states = self.states()
        return states[-1] if states else {}

    def streams(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    def schemas(self, stream: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream]

    def schema(self, stream: str) -> dict:
        return next(m for m in self.messages
                    if m["type"] == "SCHEMA" and m["stream"] == stream)["schema"]


def config(sandbox, **extra: Any) -> dict:
    return {**sandbox.tap_config(), **QUIET, "backoff_base": 0.01, **extra}


def discover(cfg: dict) -> dict:
    from tap_vtiger.tap import TapVtiger

    return TapVtiger(config=cfg, parse_env_config=False).catalog_dict


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


class _Stop(Exception):
    """Raised by :class:`InterruptingOutput` to simulate a crash mid-run."""


class InterruptingOutput(io.StringIO):
    """stdout that dies after ``after_states`` STATE lines (the run is 'killed' there)."""

    def __init__(self, after_states: int) -> None:
        super().__init__()
        self.after_states = after_states
        self.seen = 0

    def write(self, text: str) -> int:
        n = super().write(text)
        self.seen += text.count('"type":"STATE"')
        if self.seen >= self.after_states:
            raise _Stop
        return n


def run_tap(cfg: dict, streams: set[str] | None = None, state: dict | None = None,
            catalog: dict | None = None, *, interrupt_after_states: int | None = None,
            prepare: Any = None) -> Run:
    """Sync in-process; returns every message written (up to the interruption, if any).

    ``prepare(tap)`` runs before the sync (e.g. to wrap ``tap.client.query``).
    """
    from tap_vtiger.tap import TapVtiger

    if streams is not None and catalog is None:
        catalog = select(discover(cfg), streams)
    tap = TapVtiger(config=cfg, catalog=catalog, state=state, parse_env_config=False)
    if prepare is not None:
        prepare(tap)
    out: io.StringIO = (InterruptingOutput(interrupt_after_states)
                        if interrupt_after_states else io.StringIO())
    with contextlib.redirect_stdout(out), contextlib.suppress(_Stop):
        tap.sync_all()
    lines = out.getvalue().splitlines()
    return Run([json.loads(line) for line in lines if line.strip()], tap)


def run_cli(cfg: dict, *args: str, tmp_path: Path, state: dict | None = None,
            catalog: dict | None = None) -> subprocess.CompletedProcess:
    """Run the tap-vtiger console script; returns the completed process (text)."""
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    cmd = [str(ROOT / ".venv" / "bin" / "tap-vtiger"), "--config", str(cfg_path), *args]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        cmd += ["--state", str(tmp_path / "state.json")]
    if catalog is not None:
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        cmd += ["--catalog", str(tmp_path / "catalog.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_VTIGER")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path, check=False)


def server_ids(client, module: str) -> set[str]:
    """Every id the server holds for a module (through query, paged by id)."""
    return {r["id"] for r in client.query_all(module, ["id"])}


def client_for(sandbox, **extra: Any):
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    return VtigerClient(ClientConfig.from_mapping({**sandbox.tap_config(), **extra}))


__all__ = ["QUIET", "Run", "client_for", "config", "discover", "run_cli", "run_tap", "select",
           "server_ids", "sys"]
