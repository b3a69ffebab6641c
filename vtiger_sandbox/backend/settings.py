"""The sandbox's runtime settings: server kinds (flavors), their defaults, their checks.

Settings are what ``GET/POST /_sandbox/config`` shows and changes (docs/CONTRACTS.md); each is
checked here so that a bad value fails when it is set, not inside a later API call.
"""

from __future__ import annotations

from typing import Any

from ..errors import VtigerApiError
from ..modules import Module
from ..ratelimit import EDITIONS

#: Server kinds the sandbox models: Vtiger Cloud, a self-hosted 8.2 build whose ``sync`` works,
#: and stock self-hosted 8.2.0 on PHP 8 (``sync`` and a few more crash there).
FLAVORS = ("cloud", "self-hosted-sync", "self-hosted-stock")
#: Older names still accepted for a flavor.
FLAVOR_ALIASES = {"self-hosted": "self-hosted-sync"}

#: Operations only Vtiger Cloud has; the open-source edition answers them (and any unknown
#: operation name) with HTTP 500 and an empty body (vtiger-reference/cloud-only_*.json).
CLOUD_ONLY_OPERATIONS = frozenset({
    "me", "tags_retrieve", "tags_add", "tags_delete", "tag_delete", "lookup",
    "get_account_hierarchy", "editionLimits", "picklist_dependency", "reopen", "decrypt",
    "add_picklist", "edit_picklist", "delete_picklist",
})

#: Operations stock 8.2.0 on PHP 8 crashes on (HTTP 500, empty body; *_stock.json recordings).
STOCK_CRASH_OPERATIONS = frozenset({"sync", "logout", "convertlead", "files_retrieve"})


def is_self_hosted(settings: dict[str, Any]) -> bool:
    """Whether the sandbox plays the open-source edition (``webservice.php`` only)."""
    return str(settings.get("flavor", "cloud")).startswith("self-hosted")


def flavor_crashes(settings: dict[str, Any], operation: str) -> bool:
    """Whether this server kind answers ``operation`` with HTTP 500 and an empty body."""
    flavor = settings.get("flavor", "cloud")
    if not is_self_hosted(settings):
        return False
    if operation in CLOUD_ONLY_OPERATIONS:
        return True
    return flavor == "self-hosted-stock" and operation in STOCK_CRASH_OPERATIONS


#: Default runtime settings (``GET/POST /_sandbox/config``); see docs/CONTRACTS.md.
DEFAULT_SETTINGS: dict[str, Any] = {
    "flavor": "cloud",
    "sync_page_limit": 100,
    "query_row_cap": 100,
    "sync_http_500": False,
    "crash_operations": [],  # operations answering HTTP 500 + empty body (stock 8.2 on PHP 8)
    "session_idle_ttl": 1800,
    "session_max_ttl": 86400,
    "challenge_ttl": 300,
    # Vtiger Cloud edition whose API limits apply (ratelimit.EDITIONS): one-growth,
    # one-professional, one-enterprise (default), or unlimited (tests and benchmarks); the
    # explicit limits below, when set, win over the edition's
    "edition": "one-enterprise",
    "minute_limit": None,
    "hourly_limit": None,
    "daily_limit": None,
    # >= 1: the rate limiter's clock runs this much faster than real time (benchmarks)
    "time_scale": 1.0,
    # None: the caller's no_of_currency_decimals, which users get from FRESH_CURRENCY_DECIMALS
    "currency_decimals": None,
    # characters outside the BMP: "keep", or "replace" by "?" (a default MariaDB utf8 set-up);
    # None: by flavor, "replace" on any self-hosted flavor (a fresh install), "keep" on Cloud
    "emoji": None,
    "faults": {},
    # what picklist_dependency answers: [{"module", "sourcefield", "targetfield",
    # "valuemapping": [{"sourcevalue", "targetvalues": [...]}]}] (checked against describes)
    "picklist_dependencies": [],
    # modules an operation refuses with ACCESS_DENIED, as Vtiger does for modules the API
    # cannot serve that way: {"sync": ["Faq"], "query": ["Currency"]}
    "refused_modules": {},
}


def check_setting(key: str, value: Any) -> Any:
    """Validate one setting so that a bad value fails here, not inside a later API call."""
    bad = VtigerApiError("INVALID_SETTING", f"bad value for {key}: {value!r}", 400)
    ints = ("sync_page_limit", "query_row_cap", "minute_limit", "daily_limit", "hourly_limit")
    floats = ("session_idle_ttl", "session_max_ttl", "challenge_ttl")
    if key == "edition":
        if value not in EDITIONS:
            raise bad
        return value
    if key == "time_scale":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
            raise bad
        return float(value)
    if key in ("minute_limit", "daily_limit", "hourly_limit") and value is None:
        return None
    try:
        if key in ints:
            if isinstance(value, bool) or int(value) < 0:
                raise bad
            return int(value)
        if key in floats:
            return float(value)
    except (TypeError, ValueError):
        raise bad from None
    if key == "flavor":
        value = FLAVOR_ALIASES.get(value, value)
        if value not in FLAVORS:
            raise bad
        return value
    if key == "sync_http_500":
        return bool(value)
    if key == "currency_decimals" and value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 8
    ):
        raise bad
    if key == "emoji" and value not in (None, "keep", "replace"):
        raise bad
    if key == "faults":
        if not isinstance(value, dict):
            raise bad
        try:
            int(value.get("seed", 0))
            for k in ("latency_ms", "error_rate", "drop_rate", "html_rate", "truncate_rate",
                      "hold_create_s"):
                if float(value.get(k, 0) or 0) < 0:
                    raise bad
            burst = value.get("burst_429") or {}
            for k in ("every", "length", "retry_after"):
                int(burst.get(k, 0) or 0)
        except (TypeError, ValueError, AttributeError):
            raise bad from None
        ops = value.get("operations")
        if ops is not None and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
            raise bad
    if key == "refused_modules" and not (
        isinstance(value, dict) and all(
            k in ("sync", "query") and isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in value.items())
    ):
        raise bad
    if key == "crash_operations" and not (
        isinstance(value, list) and all(isinstance(x, str) for x in value)
    ):
        raise bad
    return value


def _picklist_values(m: Module, name: Any) -> list[str] | None:
    """Values of a (single-select) picklist field, None when it is no such field.

    Vtiger only lets picklists (uitype 15/16) take part in a dependency, not multipicklists.
    """
    f = m.fields.get(name) if isinstance(name, str) else None
    if f is None or f["type"].get("name") != "picklist":
        return None
    return [str(p["value"]) for p in f["type"].get("picklistValues") or []]


def check_picklist_dependencies(modules: dict[str, Module], value: Any) -> list[dict]:
    """Validate the ``picklist_dependencies`` setting against the module describes.

    Each entry: ``{"module", "sourcefield", "targetfield", "valuemapping": [{"sourcevalue",
    "targetvalues": [...]}]}``; both fields picklists of the module, every value one of its
    field's picklist values, each source value at most once, each (module, target field) with
    one source field only (Vtiger refuses a second parent for a target field).
    """

    def bad(why: str) -> VtigerApiError:
        return VtigerApiError("INVALID_SETTING", f"bad value for picklist_dependencies: {why}",
                              400)

    if not isinstance(value, list):
        raise bad("a list of dependencies is expected")
    out: list[dict] = []
    parents: dict[tuple[str, str], str] = {}
    for i, dep in enumerate(value):
        where = f"[{i}]"
        if not isinstance(dep, dict) or set(dep) != {"module", "sourcefield", "targetfield",
                                                     "valuemapping"}:
            raise bad(f"{where} needs exactly module, sourcefield, targetfield, valuemapping")
        m = modules.get(dep["module"]) if isinstance(dep["module"], str) else None
        if m is None:
            raise bad(f"{where} unknown module {dep['module']!r}")
        src, dst = dep["sourcefield"], dep["targetfield"]
        src_values, dst_values = _picklist_values(m, src), _picklist_values(m, dst)
        if src_values is None or dst_values is None:
            raise bad(f"{where} {src!r} and {dst!r} must be picklist fields of {m.name}")
        if src == dst:
            raise bad(f"{where} a field cannot depend on itself")
        if parents.setdefault((m.name, dst), src) != src or any(
            (d["module"], d["sourcefield"], d["targetfield"]) == (m.name, src, dst) for d in out
        ):
            raise bad(f"{where} {m.name}.{dst} already depends on {parents[(m.name, dst)]}")
        mapping = dep["valuemapping"]
        if not isinstance(mapping, list):
            raise bad(f"{where} valuemapping must be a list")
        seen: set[str] = set()
        rows: list[dict] = []
        for j, item in enumerate(mapping):
            at = f"{where}.valuemapping[{j}]"
            if not isinstance(item, dict) or set(item) != {"sourcevalue", "targetvalues"}:
                raise bad(f"{at} needs exactly sourcevalue and targetvalues")
            sv, tvs = item["sourcevalue"], item["targetvalues"]
            if not isinstance(sv, str) or sv not in src_values:
                raise bad(f"{at} {sv!r} is not a value of {m.name}.{src}")
            if sv in seen:
                raise bad(f"{at} {sv!r} is mapped twice")
            seen.add(sv)
            if not isinstance(tvs, list) or not all(isinstance(v, str) for v in tvs):
                raise bad(f"{at} targetvalues must be a list of strings")
            unknown = [v for v in tvs if v not in dst_values]
            if unknown:
                raise bad(f"{at} {unknown!r} are not values of {m.name}.{dst}")
            rows.append({"sourcevalue": sv, "targetvalues": list(tvs)})
        out.append({"module": m.name, "sourcefield": src, "targetfield": dst,
                    "valuemapping": rows})
    return out
