"""A compact, JSON-safe encoding of a set of Vtiger record numbers (crmids).

The deletion check keeps, in Singer state, the record numbers of every record the warehouse
holds as live. crmids are integers from one sequence shared by every module, so a module's ids
form runs with small gaps: the set is stored as runs ``(gap from the previous run, length)``,
each a LEB128 varint, compressed with LZMA and written as base85 text (no quote or backslash,
so it stays one JSON string). ``make bench`` measures it at 1,000,000 ids: a few bytes for a
bulk-imported module, about 0.8 MB when the module owns every tenth crmid at random; sparser
sets cost more (at one crmid in a hundred the gaps alone carry about 1 MB of information).
"""

from __future__ import annotations

import base64
import lzma
from collections.abc import Iterable

#: Marks the encoding (a later one can be told apart).
PREFIX = "r1:"


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def encode(ids: Iterable[int]) -> str:
    """The set as text (see the module docstring); the empty set is ``"r1:"``."""
    ordered = sorted(set(ids))
    if not ordered:
        return PREFIX
    if ordered[0] < 0:
        raise ValueError("record numbers are not negative")
    raw = bytearray()
    previous_end = 0  # one past the last id of the previous run
    start = ordered[0]
    length = 1
    for value in ordered[1:]:
        if value == start + length:
            length += 1
            continue
        _varint(start - previous_end, raw)
        _varint(length - 1, raw)
        previous_end = start + length
        start, length = value, 1
    _varint(start - previous_end, raw)
    _varint(length - 1, raw)
    return PREFIX + base64.b85encode(lzma.compress(bytes(raw), preset=9)).decode("ascii")


def decode(text: str) -> list[int]:
    """The sorted record numbers of an :func:`encode` text.

    Raises ValueError for text that is not such an encoding (a hand-edited state), so that the
    caller can start over instead of reporting deletions from garbage.
    """
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise ValueError("not an id set")
    body = text[len(PREFIX):]
    if not body:
        return []
    try:
        raw = lzma.decompress(base64.b85decode(body))
    except (ValueError, lzma.LZMAError) as exc:
        raise ValueError(f"corrupt id set ({exc})") from None
    out: list[int] = []
    numbers: list[int] = []
    value = shift = 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        numbers.append(value)
        value = shift = 0
    if shift or len(numbers) % 2:
        raise ValueError("corrupt id set (truncated)")
    position = 0
    for i in range(0, len(numbers), 2):
        start = position + numbers[i]
        length = numbers[i + 1] + 1
        out.extend(range(start, start + length))
        position = start + length
    return out


def crmid(record_id: str) -> int | None:
    """The record number of an ``NxM`` id (None for anything else)."""
    _, sep, number = str(record_id).partition("x")
    return int(number) if sep and number.isdigit() else None
