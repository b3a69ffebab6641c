"""When Vtiger takes two texts for "the same value": the server's collation, in one place.

The tap, the target and the sandbox all need the same answer to "does ``Bob@X.com`` match
``bob@x.com``?", and it must be the server's answer, not Python's. A real Vtiger 8.2 compares
VTQL text with its database's case-insensitive collation (``/work/shared/vtiger-notes.md``,
"Email and text comparison in VTQL"):

* letters compare without case (``BOB@X.COM`` = ``bob@x.com``), one character at a time: a
  character whose upper case is several characters keeps its own weight, so ``straße`` is
  not ``strasse`` (Python's ``casefold`` would merge them, and drop a record);
* trailing blanks (spaces) are ignored (``'bob@x.com  '`` = ``'bob@x.com'``);
* leading blanks, tabs and other whitespace count (``' bob@x.com'`` is another value).

:func:`text_key` maps a value to a form where the server's equality is Python's ``==``;
:func:`same_text` and :func:`compare_text` apply it (the latter is a SQLite collation).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["compare_text", "same_text", "text_key"]


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    upper = ch.upper()
    return upper if len(upper) == 1 else ch


def text_key(value: str) -> str:
    """``value`` in a form where two texts the server calls equal are equal in Python."""
    stripped = value.rstrip(" ")
    if stripped.isascii():
        return stripped.upper()
    return "".join(_fold(ch) for ch in stripped)


def same_text(a: str, b: str) -> bool:
    """Would ``where field = 'a'`` find a record holding ``b``?"""
    return text_key(a) == text_key(b)


def compare_text(a: str, b: str) -> int:
    """-1/0/1 ordering under the server's equality (usable as a SQLite collation)."""
    ka, kb = text_key(a), text_key(b)
    return (ka > kb) - (ka < kb)
