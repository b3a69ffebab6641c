"""Records Vtiger stored with other values than the ones sent, reported once.

A write that Vtiger altered (currency rounded to the user's decimals, emoji stored as ``?``,
trailing blanks dropped...) *was* written, so it is not a reject; but a person should see
what the CRM now holds. Each such record is reported when the alteration happens: one warning
line, one line in the run's closing summary (sent and stored side by side), and one JSON Lines
row in ``altered_path`` when set::

    {"stream": "Potentials", "module": "Potentials", "id": "13x10", "outcome": "created",
     "fields": [{"field": "amount", "sent": "1000.5", "stored": "1001.00000000"}],
     "altered_at": "2026-12-05T19:30:00+00:00"}

The next run compares the input with the value *as stored* (``target_vtiger.storedform``), so
the same input is ``unchanged`` there and reported nowhere: an alteration is reported once.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any, TextIO

#: Alterations listed in the run's closing summary; the rest are counted (all are in the file).
SUMMARY_LINES = 20


class AlteredWriter:
    """Appends one row per altered record to ``path`` (JSON Lines) and keeps the run's list.

    Thread-safe: writes may run in parallel (``write_concurrency``).
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._handle: TextIO | None = None
        self._lock = threading.Lock()
        #: every alteration of this run, in the order they happened
        self.rows: list[dict[str, Any]] = []

    def write(
        self,
        stream: str,
        module: str,
        record_id: str | None,
        outcome: str,
        fields: list[dict[str, Any]],
    ) -> None:
        """Report one record written with altered values; flushed at once."""
        row = {
            "stream": stream,
            "module": module,
            "id": record_id,
            "outcome": outcome,
            "fields": fields,
            "altered_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with self._lock:
            self.rows.append(row)
            if self.path is None:
                return
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._handle.flush()

    def summary_lines(self) -> list[str]:
        """The run's alterations, sent beside stored, for the closing summary."""
        lines = []
        for row in self.rows[:SUMMARY_LINES]:
            shown = "; ".join(
                f"{f['field']}: sent {f['sent']!r}, stored {f['stored']!r}" for f in row["fields"]
            )
            lines.append(f"Altered: {row['stream']} {row['id']} ({row['outcome']}): {shown}")
        hidden = len(self.rows) - SUMMARY_LINES
        if hidden > 0:
            where = f" (all in {self.path})" if self.path else " (set altered_path to keep all)"
            lines.append(f"Altered: {hidden} more record(s){where}")
        return lines

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
