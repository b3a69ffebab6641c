"""The form Vtiger will store a value in, predicted before comparing.

Vtiger stores some values differently from what it is sent (``/work/shared/vtiger-notes.md``,
"Records on the wire"): currency is rounded to the API user's ``no_of_currency_decimals``
(0 on a fresh install: ``1000.50`` is stored as ``1001.00000000``), other decimal numbers to
their column's decimals (``probability`` keeps 3), characters outside the
Basic Multilingual Plane become ``?`` on a default MariaDB set-up, trailing blanks of a text
are not significant to the server's comparisons. Comparing the incoming value as sent with the
stored one would find a change on every run and write the same record forever; comparing the
incoming value *in the form the server will store it* finds nothing to do on a re-run.

What the prediction may cost: the user's preferences are read once per run (one ``me``, or a
``retrieve`` of the login's user on servers without ``me``), and only when a currency value
has decimals the preference could round away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from target_vtiger.validation import ModuleSpec, wire_equal

#: Types whose text a database column holds as sent (so only the storage rules below apply).
TEXT_TYPES = frozenset({"string", "text", "email", "phone", "url", "skype", "textarea",
                        "picklist", "multipicklist"})


@dataclass(frozen=True)
class UserPreferences:
    """The API user's preferences that change how values are stored."""

    currency_decimals: int | None = None  # None: unknown, compare currency as sent

    @classmethod
    def from_user_record(cls, record: Mapping[str, Any]) -> UserPreferences:
        """Read the preferences from a Users record (``me`` / ``retrieve``)."""
        raw = str(record.get("no_of_currency_decimals", "")).strip()
        return cls(currency_decimals=int(raw) if raw.isdigit() and int(raw) <= 8 else None)


#: Number types kept in a fixed-decimals column (MySQL ``DECIMAL(p, k)``): the server rounds
#: what it is sent to the column's ``k`` decimals and shows every value with exactly ``k``
#: (``probability`` ``25.5555`` is stored and read back as ``25.556``, zero as ``0.000``).
SCALED_TYPES = frozenset({"double", "percentage"})


def column_decimals(stored: str) -> int | None:
    """The decimals of the column ``stored`` was read from, or None when it shows none."""
    text = stored.strip()
    if "." not in text:
        return None
    decimals = text.rsplit(".", 1)[1]
    return len(decimals) if decimals.isdigit() else None


def round_currency(value: str, decimals: int) -> str | None:
    """``value`` rounded as the server rounds numbers (half away from zero), or None."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return str(number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def needs_preferences(ftype: str, value: str) -> bool:
    """Could the user's currency decimals change how ``value`` is stored?"""
    if ftype != "currency":
        return False
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return False
    return number.is_finite() and number != number.to_integral_value()


def bmp_only(text: str) -> str:
    """``text`` as a default MariaDB (3-byte utf8) stores it: 4-byte characters as ``?``."""
    return "".join("?" if ord(ch) > 0xFFFF else ch for ch in text)


def stored_forms(ftype: str, value: str, prefs: UserPreferences) -> list[str]:
    """The values the server may store for ``value`` (the value as sent first).

    Several forms because the target cannot see the database's character set: a server that
    keeps emoji stores the value as sent, a default self-hosted one stores ``?`` instead.
    """
    forms = [value]
    if ftype == "currency" and prefs.currency_decimals is not None:
        rounded = round_currency(value, prefs.currency_decimals)
        if rounded is not None:
            forms.append(rounded)
    elif ftype in TEXT_TYPES:
        for form in (bmp_only(value), value.rstrip(" "), bmp_only(value).rstrip(" ")):
            if form not in forms:
                forms.append(form)
    return forms


def stored_equal(ftype: str, incoming: str | None, existing: Any, prefs: UserPreferences) -> bool:
    """Does ``existing`` hold what the server would store for ``incoming``?"""
    if incoming is None:
        return wire_equal(ftype, incoming, existing)
    stored = "" if existing is None else str(existing)
    if ftype in TEXT_TYPES and stored != stored.rstrip(" "):
        stored = stored.rstrip(" ")
    if ftype in SCALED_TYPES:
        decimals = column_decimals(stored)
        rounded = None if decimals is None else round_currency(incoming, decimals)
        if rounded is not None and wire_equal(ftype, rounded, stored):
            return True
    return any(wire_equal(ftype, form, stored) for form in stored_forms(ftype, incoming, prefs))


def changed_fields_as_stored(
    module: ModuleSpec,
    wire: Mapping[str, str],
    existing: Mapping[str, Any],
    preferences: Callable[[], UserPreferences],
) -> dict[str, str]:
    """The subset of ``wire`` that would change what ``existing`` holds once stored.

    ``preferences`` is called only when a value needs them (see :func:`needs_preferences`).
    """
    changed: dict[str, str] = {}
    for name, value in wire.items():
        ftype = module.field_type(name)
        current = existing.get(name)
        if wire_equal(ftype, value, current):
            continue
        prefs = preferences() if needs_preferences(ftype, value) else UserPreferences()
        if not stored_equal(ftype, value, current, prefs):
            changed[name] = value
    return changed
