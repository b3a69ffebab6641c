"""What the pipeline tests share: running meltano, reading the sandbox, comparing values.

The sandbox is read through its public REST API (query/describe), the way any Vtiger client
sees it, and values are normalised here by the tests' own rules, independent of the tap's
converters: a wire string becomes what a warehouse column of the natural type should hold.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano") if (BIN / "meltano").exists() else "meltano"

PIPELINE = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]

# A small selection keeps the end-to-end tests fast.
MODULES = ["Contacts", "Accounts", "Leads"]


def ensure_plugins() -> float:
    """`meltano install` once per definitions change (scripts/meltano_plugins.py)."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "meltano_plugins.py"), "--quiet"],
        check=True,
        cwd=ROOT,
    )
    return time.monotonic() - started


@dataclass
class Meltano:
    """`meltano --environment dev ...` on this repository's meltano.yml with private state.

    The installed plugins (.meltano/) are shared; the system database (where Meltano keeps
    state) and every output file live in `workdir`, so tests never see each other's state.
    """

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "TARGET_DUCKDB_FILEPATH": str(self.workdir / "warehouse.duckdb"),
                "TARGET_JSONL_DESTINATION_PATH": str(self.workdir / "jsonl"),
                "TARGET_VTIGER_REJECTS_PATH": str(self.workdir / "rejects.jsonl"),
                "NO_COLOR": "1",
            }
        )
        env.update(self.env)
        env.update(extra or {})
        return env

    def __call__(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        cmd = [MELTANO, "--environment", "dev", *args]
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=self.environ(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.timings.append((" ".join(args), time.monotonic() - started))
        (self.workdir / "meltano.log").open("a").write(
            f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}\n"
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {proc.returncode}\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
            )
        return proc

    def state_ids(self) -> list[str]:
        out = self("state", "list").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def state(self, state_id: str) -> dict:
        return json.loads(self("state", "get", state_id).stdout)


def sandbox_env(sandbox: Any) -> dict[str, str]:
    """The dev environment's variables for a sandbox, one module selection for the tap."""
    return {
        "VTIGER_API_URL": sandbox.url,
        "VTIGER_USERNAME": sandbox.username,
        "VTIGER_ACCESS_KEY": sandbox.access_key,
    }


def select_env(modules: list[str]) -> dict[str, str]:
    """Narrow the tap to `modules`: Meltano's select filter plus the tap's own setting."""
    return {
        "TAP_VTIGER__SELECT_FILTER": json.dumps(modules),
        "TAP_VTIGER_MODULES": json.dumps(modules),
    }


class VtigerREST:
    """Just enough of the REST API to read the truth and to change records."""

    def __init__(self, sandbox: Any) -> None:
        self.base = sandbox.rest_url
        self.http = requests.Session()
        self.http.auth = (sandbox.username, sandbox.access_key)

    def _result(self, resp: requests.Response) -> Any:
        body = resp.json()
        if not body.get("success"):
            raise AssertionError(f"{resp.request.url}: {body}")
        return body["result"]

    def get(self, operation: str, **params: Any) -> Any:
        return self._result(self.http.get(f"{self.base}/{operation}", params=params, timeout=60))

    def post(self, operation: str, **data: Any) -> Any:
        return self._result(self.http.post(f"{self.base}/{operation}", data=data, timeout=60))

    def describe(self, module: str) -> dict:
        return self.get("describe", elementType=module)

    def all_records(self, module: str) -> dict[str, dict]:
        """Every live record of a module, by id (query pages of at most 100 rows)."""
        records: dict[str, dict] = {}
        offset = 0
        while True:
            page = self.get("query", query=f"select * from {module} limit {offset}, 100;")
            for rec in page:
                records[rec["id"]] = rec
            if len(page) < 100:
                return records
            offset += 100

    def create(self, module: str, element: dict) -> dict:
        return self.post("create", elementType=module, element=json.dumps(element))

    def revise(self, element: dict) -> dict:
        return self.post("revise", element=json.dumps(element))

    def delete(self, record_id: str) -> Any:
        return self.post("delete", id=record_id)


# ---------------------------------------------------------------------------- normalising
NUMERIC_TYPES = {"double", "currency", "percentage", "decimal"}
INTEGER_TYPES = {"integer"}


def field_types(describe: dict) -> dict[str, str]:
    return {f["name"]: f["type"]["name"] for f in describe["fields"]}


def expected_value(type_name: str, wire: Any) -> Any:
    """The value a warehouse column should hold for a Vtiger wire value."""
    if wire is None or wire == "":
        return None
    if not isinstance(wire, str):
        return wire
    if type_name in INTEGER_TYPES:
        return int(Decimal(wire))
    if type_name in NUMERIC_TYPES:
        try:
            return Decimal(wire)
        except InvalidOperation:
            return wire
    if type_name == "boolean":
        return wire.strip().lower() in {"1", "true", "on", "yes"}
    if type_name == "date":
        if wire.startswith("0000"):
            return None
        return dt.date.fromisoformat(wire[:10])
    if type_name == "datetime":
        if wire.startswith("0000"):
            return None
        return dt.datetime.fromisoformat(wire.replace(" ", "T")).replace(tzinfo=dt.timezone.utc)
    if type_name == "multipicklist":
        return [part.strip() for part in wire.split("|##|") if part.strip()]
    return wire


def actual_value(value: Any) -> Any:
    """A warehouse value in the same terms as `expected_value`."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # timestamp without time zone: the target stores UTC
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and value[:1] in "[{":
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if decoded != [] else None
    if isinstance(value, list | tuple):
        return list(value) or None
    return value


def same(type_name: str, wire: Any, stored: Any) -> bool:
    want, got = expected_value(type_name, wire), actual_value(stored)
    if isinstance(got, str) and isinstance(want, dt.datetime):  # loaders without timestamptz
        got = actual_value(dt.datetime.fromisoformat(got))
    elif isinstance(got, str) and isinstance(want, dt.date):  # target-duckdb keeps dates as text
        got = dt.date.fromisoformat(got[:10])
    if isinstance(want, Decimal) and isinstance(got, int | Decimal):
        return abs(want - Decimal(got)) < Decimal("0.000001")
    if isinstance(want, int) and isinstance(got, Decimal):
        return Decimal(want) == got
    return want == got


def differences(
    module: str, describe: dict, truth: dict[str, dict], rows: dict[str, dict]
) -> list[str]:
    """Field-by-field differences between the sandbox's records and the warehouse rows."""
    types = field_types(describe)
    problems = []
    missing = sorted(set(truth) - set(rows))
    extra = sorted(set(rows) - set(truth))
    if missing:
        problems.append(f"{module}: {len(missing)} records not in the warehouse: {missing[:5]}")
    if extra:
        problems.append(f"{module}: {len(extra)} rows not in the sandbox: {extra[:5]}")
    for record_id in sorted(set(truth) & set(rows)):
        record, row = truth[record_id], rows[record_id]
        for name, wire in record.items():
            if name not in row:
                problems.append(f"{module}.{name}: no such column")
                continue
            if not same(types.get(name, "string"), wire, row[name]):
                problems.append(
                    f"{module} {record_id}.{name} ({types.get(name)}): "
                    f"sandbox {wire!r} warehouse {row[name]!r}"
                )
    return problems


# ------------------------------------------------------------------------- the scenario
@dataclass
class Changes:
    """What the tests changed in the sandbox between two runs, by module."""

    created: dict[str, list[str]] = field(default_factory=dict)
    revised: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)

    def upserted(self, module: str) -> set[str]:
        return set(self.created.get(module, [])) | set(self.revised.get(module, []))

    def touched(self, module: str) -> set[str]:
        return self.upserted(module) | set(self.deleted.get(module, []))


def change_records(api: VtigerREST, truth: dict[str, dict[str, dict]]) -> Changes:
    """Create, revise and delete a few records of each module through the API."""
    owner = api.get("me")["id"]
    changes = Changes()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%H%M%S")
    new_records = {
        "Contacts": [
            {"firstname": "Ada", "lastname": f"Lovelace-{stamp}", "email": f"a{stamp}@example.org"},
            {"firstname": "Grace", "lastname": f"O'Hara-{stamp}", "email": f"g{stamp}@example.org"},
        ],
        "Accounts": [{"accountname": f"Analytical Engines {stamp} Ltd"}],
        "Leads": [{"lastname": f"Babbage-{stamp}", "company": "Difference Engines"}],
    }
    revisions = {
        "Contacts": {"title": "Chief Data Officer"},
        "Accounts": {"website": "https://example.org/revised"},
        "Leads": {"description": "revised by the pipeline test"},
    }
    for module, ids_to_records in truth.items():
        existing = sorted(ids_to_records)
        for element in new_records.get(module, []):
            created = api.create(module, {**element, "assigned_user_id": owner})
            changes.created.setdefault(module, []).append(created["id"])
        for record_id in existing[:2]:
            api.revise({"id": record_id, **revisions.get(module, {"description": "revised"})})
            changes.revised.setdefault(module, []).append(record_id)
        for record_id in existing[-1:]:
            api.delete(record_id)
            changes.deleted.setdefault(module, []).append(record_id)
    return changes


def latest_modifiedtime(records: dict[str, dict]) -> str:
    return max((r.get("modifiedtime") or "" for r in records.values()), default="")


def boundary_ids(records: dict[str, dict], first_rows: dict[str, dict]) -> set[str]:
    """What an incremental run may bring besides the changes: the tap re-reads the second of
    its bookmark, by design, so the records sharing the newest modifiedtime and deletions seen
    before (a deletion at that second is re-read too) may arrive again, unchanged."""
    last = latest_modifiedtime(records)
    at_bookmark = {rid for rid, r in records.items() if r.get("modifiedtime") == last}
    deleted_before = {rid for rid, row in first_rows.items() if row.get("_sdc_deleted_at")}
    return at_bookmark | deleted_before


def add_interests_field(sandbox: Any, api: VtigerREST) -> dict[str, str]:
    """A custom multi-select picklist on Contacts, filled on a few records (kept in the past,
    so the demo data's newest second stays the bookmark). Returns id -> wire value."""
    choices = ["Golf", "Chess", "Sailing"]
    picklist = [{"label": c, "value": c} for c in choices]
    sandbox.add_field(
        "Contacts", "cf_interests", "Interests",
        type={"name": "multipicklist", "picklistValues": picklist},
    )  # fmt: skip
    ids = sorted(api.all_records("Contacts"))[:3]
    wire = ["Golf |##| Chess", "Sailing", "Chess |##| Sailing |##| Golf"]
    values = dict(zip(ids, wire, strict=True))
    for record_id, value in values.items():
        api.revise({"id": record_id, "cf_interests": value})
    sandbox.touch(ids, "2025-06-01 00:00:00")
    return values
