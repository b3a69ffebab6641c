"""Where rejected records go, and the per-stream tally the run ends with.

A reverse-ETL run is only trustworthy if every record that was *not* written is accounted for
with a reason a person can act on. Each reject is one JSON Lines row::

    {"stream": "Contacts", "module": "Contacts", "record": {...}, "error_code": "...",
     "message": "...", "rejected_at": "2026-11-22T10:00:00+00:00", "dry_run": false}

The file is opened in append mode: a re-run after a crash must not erase what the first run
reported.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.encoding.simple import deserialize_json

logger = logging.getLogger("target-vtiger")

#: Counters reported at the end of the run, in the order they are printed.
SUMMARY_FIELDS = ("created", "updated", "unchanged", "deleted", "skipped", "rejected", "altered")


def _json_default(value: Any) -> Any:
    """Records may carry datetimes or Decimals once the SDK has touched them."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


class RejectsWriter:
    """Appends rejected records to ``path`` (JSON Lines) and logs one line for each.

    Thread-safe: the SDK may drain sinks in parallel threads.
    """

    def __init__(self, path: str | Path | None, *, dry_run: bool = False) -> None:
        self.path = Path(path) if path else None
        self.dry_run = dry_run
        self._handle: TextIO | None = None
        self._lock = threading.Lock()
        self.count = 0

    def write(
        self,
        stream: str,
        module: str,
        record: dict[str, Any],
        error_code: str,
        message: str,
        *,
        ref: str | None = None,
        **extra: Any,
    ) -> None:
        """Record one reject; flushed at once so a crash right after loses nothing.

        ``ref`` says which record it is in the log line (``id 12x3``, ``email='a@x.com'``).
        """
        row = {
            "stream": stream,
            "module": module,
            "record": record,
            "error_code": error_code,
            "message": message,
            "rejected_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dry_run": self.dry_run,
            **extra,
        }
        if ref is None and isinstance(record, dict) and record.get("id"):
            ref = f"id {record['id']}"
        logger.warning(
            "Rejected %s record%s: %s: %s",
            stream,
            f" ({ref})" if ref else "",
            error_code,
            message,
        )
        with self._lock:
            self.count += 1
            if self.path is None:
                return
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # backslashreplace: a lone surrogate in a bad record is written as its JSON
                # escape (\\ud800), which reads back as the same text; strict encoding would
                # end the run with a traceback at the very record it is meant to report
                self._handle = self.path.open("a", encoding="utf-8", errors="backslashreplace")
            self._handle.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            self._handle.flush()

    def check_writable(self) -> None:
        """Open the file now (append, nothing written): a rejects_path that is a folder or
        cannot be written is a setting error found before the first record is written, not at
        the first reject in the middle of a run. Raises ``OSError``.
        """
        with self._lock:
            if self.path is None or self._handle is not None:
                return
            if self.path.is_dir():
                raise IsADirectoryError(f"{self.path} is a folder")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8", errors="backslashreplace")

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


@dataclass
class StreamSummary:
    """What happened to one stream's records. ``altered`` counts records Vtiger changed."""

    stream: str
    module: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    rejected: int = 0
    altered: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form, used for the summary log line and by tests."""
        return asdict(self)

    def line(self, *, dry_run: bool = False) -> str:
        """One human-readable line: ``Contacts -> Contacts: created=3 updated=1 ...``."""
        counts = " ".join(f"{name}={getattr(self, name)}" for name in SUMMARY_FIELDS)
        prefix = "[dry run, nothing written] " if dry_run else ""
        target = self.stream if self.stream == self.module else f"{self.stream} -> {self.module}"
        return f"{prefix}{target}: {counts}"


#: Pseudo-stream the rejects of unreadable input lines are filed under (no stream is known).
UNREADABLE_INPUT = "(unreadable input)"
#: Internal message types the reader hands on for lines that are not Singer messages.
MALFORMED_LINE = "_VTIGER_MALFORMED_LINE"
_BLANK_LINE = "_VTIGER_BLANK_LINE"
#: What an input byte that is not UTF-8 becomes once decoded with ``surrogateescape``.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def decoded_lines(stream: Any) -> Any:
    """The lines of ``stream`` as text, whatever bytes they hold.

    A text stream (stdin, ``--input``) decodes strictly, or with ``surrogateescape``,
    depending on the machine's locale: one byte that is not UTF-8 then ends the run with a
    traceback, or slips through as a lone surrogate. Reading the bytes and decoding each line
    with ``surrogateescape`` makes every such byte one lone surrogate (U+DC80-U+DCFF) the
    reader can point at. Only a line feed ends a line (no universal-newline splitting).
    """
    raw = getattr(stream, "buffer", None)
    if raw is None:  # already text (a StringIO)
        yield from stream
        return
    for line in raw:
        yield line.decode("utf-8", "surrogateescape")


def _keeping_repeats(repeated: list[str]) -> Any:
    """A ``json`` ``object_pairs_hook`` that builds each object and notes repeated keys."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) < len(pairs):
            seen: set[str] = set()
            repeated.extend(k for k, _ in pairs if k in seen or seen.add(k))
        return built

    return build


def _readable(line: str) -> str:
    """The line with each byte that is not UTF-8 spelled as a backslash, x and two hex digits
    (valid text to report).
    """
    return line.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class TolerantSingerReader(SingerReader):
    """The SDK's line reader, except that a line that is not a Singer message (invalid JSON, a
    JSON value without a ``type``) does not end the run with a traceback: it becomes a reject
    (``MALFORMED_LINE``, the raw line kept) through ``on_malformed``, and the following lines
    are read on. Blank lines are skipped. Everything else is the SDK's own reading.
    """

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        #: called with ``{"line", "line_number", "reason"}``; set by the target
        self.on_malformed: Any = None
        #: the message types the target handles (while on_malformed is set)
        self._known_types: frozenset[str] | None = None

    def process_lines(self, file_input: Any, callbacks: dict) -> Any:
        """The SDK's loop over :func:`decoded_lines` (bytes that are not UTF-8 become
        rejects of their line instead of a traceback).
        """
        callbacks = {**callbacks, _BLANK_LINE: lambda message: None}
        if self.on_malformed is not None:
            self._known_types = frozenset(callbacks)
            callbacks[MALFORMED_LINE] = self.on_malformed
        return super().process_lines(decoded_lines(file_input or self.default_input),
                                     callbacks)

    def deserialize_json(self, line: str) -> dict:
        """Parse one line like the SDK; a bad line, or a message type Singer does not define,
        becomes an internal MALFORMED_LINE message.
        """
        self.line_number += 1
        if not line.strip():
            return {"type": _BLANK_LINE}
        undecodable = _UNDECODABLE.search(line)
        if undecodable:
            return self._not_utf8(line, undecodable)
        repeated: list[str] = []
        try:
            message = deserialize_json(line, object_pairs_hook=_keeping_repeats(repeated))
        except (ValueError, RecursionError) as exc:
            reason = f"not valid JSON ({type(exc).__name__}: {str(exc)[:200]})"
            return self._malformed(line, reason)
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return self._malformed(line, "not a Singer message (a JSON object with a type)")
        if repeated:
            # JSON parsers keep the last value of a repeated key, others the first: which
            # one the source meant is unknown, so neither is written
            malformed = self._malformed(
                line, f"key {repeated[0]!r} appears twice in one JSON object; which value is "
                "meant is unknown (the source must send each key once)", code="DUPLICATE_KEY")
            if isinstance(message.get("stream"), str) and message["stream"]:
                malformed["stream"] = message["stream"]
            return malformed
        if self._known_types is not None and message["type"] not in self._known_types:
            # rejected too, not a traceback
            return self._malformed(
                line, f"unknown Singer message type {message['type'][:50]!r}")
        return message

    def _not_utf8(self, line: str, first: re.Match) -> dict:
        """A line holding bytes that are not UTF-8: rejected whole (``INVALID_UTF8``), filed
        under its stream when the rest of the line says which one.
        """
        byte = ord(first.group()) - 0xDC00
        column = len(first.string[: first.start()].encode("utf-8", "surrogateescape")) + 1
        malformed = self._malformed(
            _readable(line),
            f"not valid UTF-8 (byte 0x{byte:02x} at byte {column}); the source must send "
            "UTF-8 (the line is kept with each bad byte written as \\xNN)",
            code="INVALID_UTF8")
        try:
            message = deserialize_json(line)
        except (ValueError, RecursionError):
            return malformed
        if isinstance(message, dict) and isinstance(message.get("stream"), str) and (
                message["stream"]):
            malformed["stream"] = _readable(message["stream"])
        return malformed

    def _malformed(self, line: str, reason: str, code: str = "MALFORMED_LINE") -> dict:
        return {"type": MALFORMED_LINE, "line": line.rstrip("\r\n"), "code": code,
                "line_number": self.line_number, "reason": reason}
