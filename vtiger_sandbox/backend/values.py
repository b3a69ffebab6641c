"""Client values -> the strings a Vtiger server stores, and the values it fills in itself."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..errors import VtigerApiError
from ..modules import Module
from .core import ServerCrash, User
from .settings import is_self_hosted

#: Fields the server maintains itself; values sent by clients are ignored.
SERVER_FIELDS = frozenset({"id", "createdtime", "modifiedtime", "modifiedby", "source"})

#: Auto-number prefixes of the standard modules (``contact_no`` = CON1, ...).
AUTONUM_PREFIX = {
    "Contacts": "CON", "Accounts": "ACC", "Leads": "LEA", "Potentials": "POT",
    "HelpDesk": "TT", "Products": "PRO", "Vendors": "VEN", "Campaigns": "CAM",
    "Quotes": "QUO", "SalesOrder": "SO", "Invoice": "INV", "PurchaseOrder": "PO",
    "Documents": "DOC", "Faq": "FAQ", "Services": "SER", "ServiceContracts": "SERCON",
    "Project": "PROJ", "ProjectTask": "PT", "ProjectMilestone": "PM", "Assets": "ASSET",
    "PriceBooks": "PB", "PBXManager": "PBX",
}

#: A currency amount written with digit grouping (``1,234.56``): a real server crashes on it.
GROUPED_NUMBER = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$")

#: Zero as MySQL shows numeric columns of a given precision (recorded create answers).
DOUBLE_ZERO = {"qty_per_unit": "0.00", "hours": "0.00000000", "days": "0.00000000"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _valid_dt(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def to_text(settings: dict[str, Any], value: Any, ftype: str) -> str:
    """Any JSON value -> text, as the server's database would keep it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        if ftype == "multipicklist":
            return " |##| ".join(str(v) for v in value)
        return _dumps(value)
    if isinstance(value, dict):
        return _dumps(value)
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    emoji = settings.get("emoji") or ("replace" if is_self_hosted(settings) else "keep")
    if emoji == "replace":
        text = "".join("?" if ord(ch) > 0xFFFF else ch for ch in text)
    return text


def _currency_places(settings: dict[str, Any], caller: User | None) -> int:
    """Decimals to round currency to: the setting, else the caller's preference."""
    configured = settings.get("currency_decimals")
    if configured is not None:
        return int(configured)
    pref = caller.record.get("no_of_currency_decimals", "") if caller is not None else ""
    return int(pref) if str(pref).isdigit() else 8


def currency(settings: dict[str, Any], text: str, caller: User | None = None) -> str:
    """Round to the configured currency decimals, show 8 decimals (``1000.50000000``)."""
    t = text.strip()
    if not t:
        return ""
    try:
        d = Decimal(t)
        if not d.is_finite():
            return ""
        places = max(0, min(8, _currency_places(settings, caller)))
        d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)  # PHP round()
        return f"{d:.8f}"
    except (InvalidOperation, ValueError):
        return ""


def normalize(settings: dict[str, Any], m: Module, name: str, value: Any,
              caller: User | None) -> str:
    """Client value -> stored wire string, the way Vtiger coerces it on write."""
    f = m.fields[name]
    ftype = f["type"]["name"]
    text = to_text(settings, value, ftype)
    if ftype == "boolean":
        return "1" if text.strip().lower() in ("1", "true", "on", "yes") else "0"
    if ftype == "date":
        return text if _valid_dt(text.strip(), "%Y-%m-%d") else ""
    if ftype == "datetime":
        t = text.strip()
        return t if _valid_dt(t, "%Y-%m-%d %H:%M:%S") else ""
    if ftype == "time":
        t = text.strip()
        if _valid_dt(t, "%H:%M:%S"):
            return t
        return t + ":00" if _valid_dt(t, "%H:%M") else ""
    if ftype == "currency":
        if is_self_hosted(settings) and GROUPED_NUMBER.match(text.strip()):
            # revise_Products_unit_price_comma_decimal: PHP 8 fails on the comma
            raise ServerCrash(f"{name}: grouped number")
        return currency(settings, text, caller)
    if ftype == "integer":
        try:
            return str(int(text.strip())) if text.strip() else ""
        except ValueError:
            return ""
    if ftype in ("double", "percentage"):
        # custom decimal fields are DECIMAL(25,8) columns; standard ones as recorded
        zero = "0.00000000" if name.startswith("cf_") else DOUBLE_ZERO.get(name, "0.000")
        return _decimal_column(text, zero)
    return text


def _decimal_column(text: str, zero: str) -> str:
    """``text`` as a MySQL ``DECIMAL`` column shaped like ``zero`` stores it: rounded half
    away from zero to its decimals and shown with all of them (``25.5555`` -> ``25.556``,
    ``12.5`` -> ``12.500``, like ``probability`` in create_Potentials.json); "" if no number.
    """
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return ""
    if not number.is_finite():
        return ""
    places = len(zero.split(".", 1)[1]) if "." in zero else 0
    return f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"


def writable(m: Module, name: str) -> bool:
    """Whether a client may set field ``name`` (server fields and autonumbers it may not)."""
    f = m.fields.get(name)
    if f is None or name in SERVER_FIELDS:
        return False
    if f["type"]["name"] == "autogenerated":
        return False
    return bool(f.get("editable", True))


def check_mandatory(m: Module, values: dict, names: Any) -> None:
    """MANDATORY_FIELDS_MISSING for the first mandatory field among ``names`` left empty."""
    for f in m.describe["fields"]:
        n = f["name"]
        if f.get("mandatory") and writable(m, n) and n in names:
            v = values.get(n, "")
            if not (v.strip() if isinstance(v, str) else v):
                raise VtigerApiError(
                    "MANDATORY_FIELDS_MISSING", f"{n} does not have a value", 400
                )


def autonumber_field(m: Module) -> str | None:
    """The ``*_no`` field Vtiger fills with a module sequence (CON1, ACC2...)."""
    for f in m.describe["fields"]:
        if f["name"].endswith("_no") and not f.get("editable", True):
            return f["name"]
    return None


def autonumber(m: Module, number: int) -> str:
    """The autonumber text of a module's ``number``-th record (``CON7``)."""
    return f"{AUTONUM_PREFIX.get(m.name, m.name[:3].upper())}{number}"


def default_value(f: dict) -> str:
    """What a field holds when create did not set it: '' mostly, zeros for numbers."""
    t = f["type"]["name"]
    if t == "boolean":
        return "0"
    if t == "currency":
        return "0.00000000"
    if t == "integer":
        return "0"
    if t in ("double", "percentage"):
        return DOUBLE_ZERO.get(f["name"], "0.000")
    return ""


def filler(f: dict, i: int) -> str:
    """A valid value for a mandatory field of the ``i``-th record made in bulk."""
    t = f["type"]["name"]
    if t == "date":
        return "2026-01-01"
    if t == "time":
        return "09:00:00"
    if t == "picklist":
        vals = f["type"].get("picklistValues") or []
        return vals[0]["value"] if vals else "x"
    if t in ("integer", "double", "currency", "percentage"):
        return "0"
    return f"{f['name']} {i + 1}"
