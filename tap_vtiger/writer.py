"""A faster Singer message writer.

Why not the SDK's writers as they are: both flush stdout after *every* message (one syscall per
record) and build each RECORD line through ``Message.to_dict``; the msgspec one also writes to
``sys.stdout.buffer`` only, which breaks in-process runs that redirect stdout to a StringIO.

This writer encodes with msgspec (Decimal as JSON numbers, datetimes ISO 8601), writes RECORD
lines without flushing (the OS buffer fills and drains on its own) and flushes after every
other message, so a target sees each STATE as soon as it is written: the Singer contract that
matters for resumability.
"""

from __future__ import annotations

import datetime
import sys
import typing as t

import msgspec
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage, StateMessage


def _enc_hook(obj: t.Any) -> t.Any:
    if isinstance(obj, datetime.datetime):
        return obj.isoformat(sep="T")
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    return str(obj)


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")


class FastSingerWriter(GenericSingerWriter[bytes, Message]):
    """msgspec encoding, no flush per RECORD, flush on every other message."""

    def serialize_message(self, message: Message) -> bytes:
        """One JSON line (with its newline)."""
        if isinstance(message, RecordMessage):
            data: dict[str, t.Any] = {
                "type": "RECORD",
                "stream": message.stream,
                "record": message.record,
            }
            if message.version is not None:
                data["version"] = message.version
            if message.time_extracted is not None:
                data["time_extracted"] = message.time_extracted
        elif isinstance(message, StateMessage):
            data = {"type": "STATE", "value": message.value}  # no dataclass deep copy
        else:
            data = message.to_dict()
        return _encoder.encode(data) + b"\n"

    def write_message(self, message: Message) -> None:
        """Write one message; flush unless it is a RECORD."""
        self.write_line(self.serialize_message(message),
                        flush=not isinstance(message, RecordMessage))

    @staticmethod
    def write_line(line: bytes, *, flush: bool = False) -> None:
        """Write an encoded line to stdout (binary when stdout has a buffer, else text)."""
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(line)
            if flush:
                buffer.flush()
        else:
            out.write(line.decode("utf-8"))
            if flush:
                out.flush()

    @staticmethod
    def write_records(stream: str, records: list[dict[str, t.Any]], time_extracted: str) -> None:
        """Many RECORD lines in one encode and one write (a page at a time)."""
        FastSingerWriter.write_line(_encoder.encode_lines(
            [{"type": "RECORD", "stream": stream, "record": r, "time_extracted": time_extracted}
             for r in records]))

