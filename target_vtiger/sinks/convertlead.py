"""``convertlead`` as a write mode: each incoming Leads record is converted, not upserted.

Configured per stream::

    "convertlead_streams": {"leads_to_convert": {
        "entities": {"Accounts": {}, "Contacts": {},
                     "Potentials": {"closingdate": "2026-12-31", "sales_stage": "Prospecting"}},
        "assigned_user_id": "19x1"}}

``entities`` names what to create (with default field values); a record may override them with
an object per module (``{"id": "10x5", "Potentials": {"amount": 5000}}``) and set its own
``assigned_user_id``. One ``convertlead`` call per record (Vtiger has no bulk form).

Results are reported per record: a JSON Lines row in ``convertlead_results_path`` (and a log
line) with the lead id, the status (``converted``, ``already_converted``, ``rejected``) and the
ids Vtiger created. ``LEAD_ALREADY_CONVERTED`` is not an error: a re-run converts nothing twice
and counts those leads as unchanged. Other failures (a deleted lead, a mandatory field missing
on the new Potential) reject that record with Vtiger's reason; the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import typing as t
from pathlib import Path

from singer_sdk import typing as th

from target_vtiger.run import TargetConfigError
from target_vtiger.sinks.base import RunSink
from vtiger_client.errors import FatalError, VtigerError
from vtiger_client.types import InvalidValue, is_record_id, wire_value

CONVERTIBLE = ("Accounts", "Contacts", "Potentials")

CONVERTLEAD_SETTINGS = [
    th.Property(
        "convertlead_streams",
        th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property(
                    "entities",
                    th.ObjectType(additional_properties=th.ObjectType()),
                    description="Modules to create (Accounts, Contacts, Potentials) -> "
                    "default field values.",
                ),
                th.Property("assigned_user_id", th.StringType),
            )
        ),
        default={},
        description="Stream -> lead conversion settings. Records of these streams (a lead "
        "`id` each) are converted with convertlead instead of written to a module.",
    ),
    th.Property(
        "convertlead_results_path",
        th.StringType,
        description="JSON Lines file getting one row per converted (or refused) lead: lead_id, "
        "status, and the Accounts/Contacts/Potentials ids created.",
    ),
]

_results_lock = threading.Lock()


class ConvertLeadSink(RunSink):
    """Leads in, ``convertlead`` out, one result per record."""

    destination = "convertlead"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        conf = (self.config.get("convertlead_streams") or {}).get(self.stream_name) or {}
        entities = conf.get("entities") or {"Accounts": {}, "Contacts": {}}
        unknown = [name for name in entities if name not in CONVERTIBLE]
        if unknown:
            msg = (
                f"convertlead_streams.{self.stream_name}.entities: {', '.join(unknown)} cannot "
                f"be created by convertlead (only {', '.join(CONVERTIBLE)})"
            )
            raise TargetConfigError(msg)
        self.entities: dict[str, dict] = {k: dict(v or {}) for k, v in entities.items()}
        self.owner = conf.get("assigned_user_id")
        path = self.config.get("convertlead_results_path")
        self.results_path = Path(path) if path else None

    def element(self, record: t.Mapping[str, t.Any]) -> dict:
        """The ``convertlead`` element for one lead record."""
        entities = {}
        for name, defaults in self.entities.items():
            override = record.get(name) if isinstance(record.get(name), dict) else {}
            fields = {k: wire_value(v) for k, v in {**defaults, **override}.items()
                      if v is not None}
            entities[name] = {"create": True, "name": name, **fields}
        element: dict[str, t.Any] = {"leadId": str(record["id"]), "entities": entities}
        owner = record.get("assigned_user_id") or self.owner or self.run.default_owner()
        element["assignedTo"] = str(owner)
        return element

    def settle(self, records: list[dict]) -> None:
        """Convert every lead of the batch, one call each, reporting each result."""
        for record in records:
            lead = record.get("id")
            if not lead or not is_record_id(str(lead)):
                self._result(record, "rejected", code="INVALID_LEAD", message="no lead id")
                continue
            if record.get("_sdc_deleted_at"):
                self.count("skipped")
                continue
            if self.dry_run:
                self.count("created")
                self._result(record, "would_convert")
                continue
            try:
                element = self.element(record)
            except InvalidValue as exc:  # e.g. NaN, which no wire text can carry
                self._result(record, "rejected", code=exc.code, message=exc.message)
                continue
            try:
                answer = self.client.convertlead(element)
            except FatalError:
                raise
            except VtigerError as err:
                if err.code == "LEAD_ALREADY_CONVERTED":
                    self.count("unchanged")
                    self._result(record, "already_converted", code=err.code, message=err.message)
                else:
                    self._result(record, "rejected", code=err.code, message=err.message)
                continue
            self.count("created")
            created = {k: v for k, v in (answer or {}).items() if k in CONVERTIBLE}
            self._result(record, "converted", created=created)

    def _result(self, record: dict, status: str, *, code: str | None = None,
                message: str | None = None, created: dict | None = None) -> None:
        row = {
            "stream": self.stream_name,
            "lead_id": record.get("id"),
            "status": status,
            **(created or {}),
            "error_code": code,
            "message": message,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if status == "rejected":
            self.reject(record, code or "CONVERT_FAILED", message or "")
        else:
            self.logger.info(
                "convertlead %s: %s%s", record.get("id"), status,
                "".join(f" {k}={v}" for k, v in (created or {}).items()),
            )
        if self.results_path is not None:
            with _results_lock:
                self.results_path.parent.mkdir(parents=True, exist_ok=True)
                with self.results_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
