"""When Vtiger takes two texts for "the same value": the server's collation, in one place.

The tap, the target and the sandbox all need the same answer to "does ``Bob@X.com`` match
``bob@x.com``?", and it must be the server's answer, not Python's. A real Vtiger 8.2 compares
VTQL text with its database's case-insensitive collation (``/work/shared/vtiger-notes.md``,
"Email and text comparison in VTQL"):

* letters compare without case (``BOB@X.COM`` = ``bob@x.com``), one character at a time;
* and without accents, as Vtiger's database collation (``utf8_general_ci``, the one its
  installer asks for) weighs letters: a letter with diacritics weighs as its base letter
  (``José`` = ``JOSE``, ``Ñ`` = ``n``), ``ß`` weighs as ``s``, so ``straße`` is not
  ``strasse`` (Python's ``casefold`` would merge those, and drop a record); letters without a
  decomposition (``Ø``, ``Æ``, ``Ł``) keep their own weight. A decomposed accent (``e`` and a
  combining mark) is two characters, and not ``é``;
* trailing blanks (spaces) are ignored (``'bob@x.com  '`` = ``'bob@x.com'``);
* leading blanks, tabs and other whitespace count (``' bob@x.com'`` is another value).

The weights are derived from Unicode's canonical decompositions; for Latin, Greek and
Cyrillic letters they agree with the server's table but for a few letters Unicode added
after it (U+0180, U+03F2, U+03F5).

:func:`text_key` maps a value to a form where the server's equality is Python's ``==``;
:func:`same_text` and :func:`compare_text` apply it (the latter is a SQLite collation).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["compare_text", "same_text", "text_key"]


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """The character's weight: its base letter (without diacritics), in upper case."""
    if ch == "ß":
        return "S"
    parts = unicodedata.normalize("NFD", ch)
    if len(parts) > 1 and all(unicodedata.combining(mark) for mark in parts[1:]):
        ch = parts[0]
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
