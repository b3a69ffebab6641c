"""What every sink shares: records staged in the run's STATE ledger, counted in the stream's
summary, rejected one by one with a reason into the run's rejects file.

A batch is settled synchronously: when ``process_batch`` returns, every record in it is written
or rejected, which is what lets the run emit a STATE right after it.
"""

from __future__ import annotations

import threading
import typing as t

from target_vtiger.run import TargetRun
from target_vtiger.validation import SDC_PREFIX
from vtiger_singer.sdk import HookedBatchSink

if t.TYPE_CHECKING:
    from singer_sdk import Target

    from vtiger_client.session import VtigerClient

#: A Vtiger record id: the module's number, ``x``, the record's number (``12x34``).


class RunHolder(t.Protocol):
    """The target as its sinks see it: the holder of the run they share."""

    run: TargetRun


class RunSink(HookedBatchSink):
    """A sink of one :class:`TargetRun`: staging, STATE safety, summary and rejects.

    Subclasses write a batch in :meth:`settle`; each of its records ends counted under one
    outcome (created, updated, unchanged, deleted, skipped) or rejected.
    """

    #: 100 records a batch: one lookup query for a module sink, and a STATE checkpoint at
    #: least that often.
    MAX_SIZE_DEFAULT = 100
    #: What the summary and the rejects file call where records go ("links", "tags"...).
    destination = "Vtiger"

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        # the SDK hands each sink the target that made it; target-vtiger's holds the run
        self.run = t.cast(RunHolder, target).run
        self.dry_run = bool(self.config.get("dry_run", False))
        self.module_name = self.open_destination()
        self.summary = self.run.summary_for(stream_name, self.module_name)
        self._count_lock = threading.Lock()

    def open_destination(self) -> str:
        """Where this sink writes, checked before its first record is read."""
        return self.destination

    # ------------------------------------------------------------------ SDK hooks

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Always on: ``_sdc_deleted_at`` is how a tap says "deleted" (a record, a link, a
        tag), and the SDK strips it from records unless metadata is kept. Metadata never
        reaches Vtiger.
        """
        return True

    def get_validator(self) -> None:  # type: ignore[override]
        """No JSON Schema validation: a bad record must be rejected alone, with a reason,
        not stop the whole run.
        """
        return

    def process_record(self, record: dict, context: dict) -> None:
        """Stage the record under the run's next record number (for STATE safety)."""
        self.run.stage(self)
        context.setdefault("records", []).append(record)

    def process_batch(self, context: dict) -> None:
        """Settle every record of the batch, then let the run emit the STATE that became safe."""
        records = context.get("records", [])
        if records:
            self.settle(records)
        self.run.settled(self)

    # ------------------------------------------------------------------ writing

    @property
    def client(self) -> VtigerClient:
        """The run's one client (one session, one call budget)."""
        return self.run.client

    def settle(self, records: list[dict]) -> None:
        """Write or reject every record of the batch."""
        raise NotImplementedError

    def count(self, outcome: str, n: int = 1) -> None:
        """Add to one summary counter (writes may run in parallel threads)."""
        with self._count_lock:
            setattr(self.summary, outcome, getattr(self.summary, outcome) + n)

    def reject(self, record: dict, code: str, message: str, **extra: t.Any) -> None:
        """Report one record as not written, with a machine code and a human reason."""
        self.count("rejected")
        self.run.rejects.write(self.stream_name, self.module_name, self.public(record), code,
                               message, ref=self.reference(record), **extra)

    def reference(self, record: dict[str, t.Any]) -> str | None:
        """How a person finds the record in the log line (None: by its id, if it has one)."""
        return None

    @staticmethod
    def public(record: dict[str, t.Any]) -> dict[str, t.Any]:
        """The record as the user sent it (SDK metadata columns removed)."""
        return {
            k: v
            for k, v in record.items()
            if not k.startswith(SDC_PREFIX) or (k == "_sdc_deleted_at" and v is not None)
        }
