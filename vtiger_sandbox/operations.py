"""Every Vtiger operation as a plain method over the store, testable without HTTP.

The HTTP layer (``app.py``) only authenticates, picks the parameters and wraps results in the
``{"success": true, "result": ...}`` envelope; everything Vtiger-specific (ids, wire formats,
validation order, error codes and messages, sync paging) lives here so it can be checked
against the recorded real responses in ``/work/shared/vtiger-reference``.
"""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.entities import codepoint2name
from typing import Any

from .errors import VtigerApiError, access_denied
from .modules import Module
from .store import Store, epoch_to_text, now_epoch, qi

ID_RE = re.compile(r"^([0-9]+)x([0-9]+)$")  # ASCII digits only (\d matches other scripts)
#: SQLite integers are 64-bit; larger ids cannot exist (and must not reach the driver).
MAX_CRMID = 2**62

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

#: Auto-number prefixes of the standard modules (``contact_no`` = CON1, ...).
AUTONUM_PREFIX = {
    "Contacts": "CON", "Accounts": "ACC", "Leads": "LEA", "Potentials": "POT",
    "HelpDesk": "TT", "Products": "PRO", "Vendors": "VEN", "Campaigns": "CAM",
    "Quotes": "QUO", "SalesOrder": "SO", "Invoice": "INV", "PurchaseOrder": "PO",
    "Documents": "DOC", "Faq": "FAQ", "Services": "SER", "ServiceContracts": "SERCON",
    "Project": "PROJ", "ProjectTask": "PT", "ProjectMilestone": "PM", "Assets": "ASSET",
    "PriceBooks": "PB", "PBXManager": "PBX",
}

#: Fields the server maintains itself; values sent by clients are ignored.
SERVER_FIELDS = frozenset({"id", "createdtime", "modifiedtime", "modifiedby", "source"})

#: Users fields a revise/update may not touch.
PROTECTED_USER_FIELDS = frozenset({"user_name", "is_admin", "roleid", "user_password",
                                   "confirm_password", "accesskey", "is_owner", "status"})

#: Users fields never shown on the wire (secrets).
HIDDEN_USER_FIELDS = frozenset({"user_password", "confirm_password", "accesskey"})

#: Fields real records carry although the describe does not list them (value on a new record).
UNDECLARED_FIELDS: dict[str, dict[str, str]] = {"HelpDesk": {"update_log": ""}}

#: Price/tax pseudo-fields the describe lists but that are no table columns on a real server:
#: records never carry ``tax1``-``tax3``; ``currency1`` (a JSON number) and ``currency_id`` (not
#: in the describe) come only with a single record (create, retrieve, update, revise), never
#: with query or sync rows (vtiger-reference create_Products, query_Products, sync_typed_Products).
PRICED_MODULES = frozenset({"Products", "Services"})
TAX_PSEUDO_FIELDS = ("tax1", "tax2", "tax3")

#: A currency amount written with digit grouping (``1,234.56``): a real server crashes on it.
GROUPED_NUMBER = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$")

#: Webservice operations and the HTTP method Vtiger declares for them.
OPERATION_METHODS: dict[str, str] = {
    "getchallenge": "GET", "login": "POST", "logout": "POST", "me": "GET",
    "listtypes": "GET", "describe": "GET", "create": "POST", "retrieve": "GET",
    "update": "POST", "revise": "POST", "delete": "POST", "query": "GET", "sync": "GET",
    "relatedtypes": "GET", "retrieve_related": "GET", "query_related": "GET",
    "add_related": "POST", "delete_related": "POST", "tags_add": "POST",
    "tags_retrieve": "GET", "tags_delete": "POST", "tag_delete": "POST", "lookup": "GET",
    "picklist_dependency": "GET", "convertlead": "POST", "get_account_hierarchy": "GET",
    "editionLimits": "GET", "extendsession": "POST", "files_retrieve": "GET",
    "retrieve_inventory": "GET", "reopen": "POST", "decrypt": "GET", "add_picklist": "POST",
    "edit_picklist": "POST", "delete_picklist": "POST",
}

ADMIN_TEMPLATE: dict[str, str] = {
    "user_name": "admin", "is_admin": "on", "first_name": "Admin", "last_name": "Administrator",
    "roleid": "H2", "email1": "admin@example.com", "status": "Active",
    "activity_view": "This Week", "lead_view": "Today", "hour_format": "12",
    "end_hour": "23:00", "start_hour": "00:00", "is_owner": "1", "date_format": "yyyy-mm-dd",
    "time_zone": "UTC", "currency_id": "21x1", "currency_grouping_pattern": "123,456,789",
    "currency_decimal_separator": ".", "currency_grouping_separator": ",",
    "currency_symbol_placement": "$1.0", "internal_mailer": "1", "theme": "alphagrey",
    "language": "en_us", "reminder_interval": "1 Minute", "no_of_currency_decimals": "8",
    "truncate_trailing_zeros": "1", "dayoftheweek": "Sunday", "callduration": "5",
    "othereventduration": "5", "calendarsharedtype": "public",
    "default_record_view": "Summary", "leftpanelhide": "0", "defaulteventstatus": "Planned",
    "defaultactivitytype": "Call", "defaultcalendarview": "MyCalendar",
    "defaultlandingpage": "Home", "userlabel": "Admin Administrator",
}

#: ``no_of_currency_decimals`` of the users a sandbox creates: a fresh self-hosted install
#: says 0 (``1000.50`` is stored as ``1001.00000000``, create_Potentials.json); on Cloud the
#: sandbox keeps 8, so values round-trip unless a test sets a preference.
FRESH_CURRENCY_DECIMALS = {"self-hosted": "0", "cloud": "8"}

GROUPS = [
    ("Team Selling", "Group Related to Sales"),
    ("Marketing Group", "Group Related to Marketing Activities"),
    ("Support Group", "Group Related to providing Support to Customers"),
]


class ServerCrash(Exception):
    """Vtiger answering HTTP 500 with an empty body (PHP fatal error), e.g. sync modifiedTime=0."""


@dataclass
class User:
    """An authenticated caller."""

    crmid: int
    user_name: str
    record: dict

    @property
    def id(self) -> str:
        """The wire id, ``19x<crmid>``."""
        return self.record["id"]


@dataclass
class Session:
    """A webservice.php session (``sessionName``)."""

    user_crmid: int
    created: float
    last_used: float


@dataclass
class Challenge:
    """A getchallenge token; a new one for the same user replaces the old."""

    token: str
    expires: float


def _htmlentities(text: str) -> str:
    """PHP htmlentities(): how Vtiger escapes record labels (``&Uuml;``, ``&quot;``)."""
    out = html.escape(text, quote=True).replace("&#x27;", "&#039;")
    return "".join(
        f"&{codepoint2name[ord(ch)]};" if ord(ch) > 127 and ord(ch) in codepoint2name else ch
        for ch in out
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass
class _CoreOperations:
    """Core operations: auth, metadata, CRUD, query, sync, admin helpers."""

    store: Store
    settings: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_SETTINGS))
    sessions: dict[str, Session] = field(default_factory=dict)
    challenges: dict[str, Challenge] = field(default_factory=dict)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.modules = self.store.modules
        saved = self.store.get_setting("config")
        if isinstance(saved, dict):
            self.settings.update(saved)
        restore = getattr(self, "restore_picklists", None)
        if restore is not None:
            restore()

    # ======================================================================== bootstrap
    def bootstrap(self, username: str = "admin", access_key: str | None = None) -> str:
        """Ensure admin user 19x1, the groups and the USD currency exist; returns the key.

        An existing database keeps its admin access key unless a new one is given.
        """
        st = self.store
        users = self.modules["Users"]
        with st.transaction() as c:
            row = c.execute(f"SELECT crmid FROM {users.table} WHERE crmid = 1").fetchone()
            if row is None:
                rec = dict(ADMIN_TEMPLATE, user_name=username,
                           no_of_currency_decimals=self._fresh_currency_decimals())
                self._insert_user_row(rec, 1)
            else:
                c.execute(f"UPDATE {users.table} SET user_name = ? WHERE crmid = 1", (username,))
            key_row = c.execute(
                "SELECT access_key FROM access_keys WHERE user_crmid = 1"
            ).fetchone()
            key = access_key or (key_row[0] if key_row else secrets.token_hex(8))
            c.execute(
                "INSERT OR REPLACE INTO access_keys (user_crmid, access_key) VALUES (1, ?)", (key,)
            )
            groups = self.modules["Groups"]
            if c.execute(f"SELECT COUNT(*) FROM {groups.table}").fetchone()[0] == 0:
                for i, (name, desc) in enumerate(GROUPS, start=2):
                    c.execute(
                        f"INSERT INTO {groups.table} (crmid, id, groupname, description) "
                        "VALUES (?, ?, ?, ?)",
                        (i, f"{groups.id_prefix}x{i}", name, desc),
                    )
            cur = self.modules["Currency"]
            if c.execute(f"SELECT COUNT(*) FROM {cur.table}").fetchone()[0] == 0:
                c.execute(
                    f"INSERT INTO {cur.table} (crmid, id, currency_name, currency_code, "
                    "currency_symbol, conversion_rate, currency_status, defaultid) "
                    "VALUES (1, ?, 'USA, Dollars', 'USD', '$', '1.00000', 'Active', '-11')",
                    (f"{cur.id_prefix}x1",),
                )
        return key

    def _insert_user_row(self, rec: dict, crmid: int) -> None:
        users = self.modules["Users"]
        mt = self.store.tables["Users"]
        ts = epoch_to_text(now_epoch())
        rec = dict(rec)
        rec.setdefault("userlabel", f"{rec.get('first_name', '')} {rec.get('last_name', '')}")
        values = {c: rec.get(c, "") for c in mt.data_columns}
        for k in ("createdtime", "modifiedtime"):
            if k in values:
                values[k] = ts
        cols = ["crmid", "id", *values]
        self.store.conn.execute(
            f"INSERT INTO {users.table} ({', '.join(qi(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            (crmid, f"{users.id_prefix}x{crmid}", *values.values()),
        )

    def add_user(self, user_name: str, first_name: str = "", last_name: str = "",
                 access_key: str | None = None, email: str = "") -> dict:
        """Admin helper: a non-admin user with its own access key."""
        users = self.modules["Users"]
        key = access_key or secrets.token_hex(8)
        with self.store.transaction() as c:
            if c.execute(
                f"SELECT 1 FROM {users.table} WHERE user_name = ?", (user_name,)
            ).fetchone():
                raise VtigerApiError("DUPLICATE_USER", f"user {user_name} exists", 400)
            crmid = max(5, c.execute(f"SELECT MAX(crmid) FROM {users.table}").fetchone()[0] + 1)
            rec = dict(ADMIN_TEMPLATE, user_name=user_name, is_admin="off", is_owner="0",
                       no_of_currency_decimals=self._fresh_currency_decimals(),
                       first_name=first_name, last_name=last_name or user_name,
                       email1=email or f"{user_name}@example.com",
                       userlabel=f"{first_name} {last_name or user_name}".strip())
            self._insert_user_row(rec, crmid)
            c.execute("INSERT INTO access_keys (user_crmid, access_key) VALUES (?, ?)",
                      (crmid, key))
        user = self.user_by_crmid(crmid)
        assert user is not None
        return {**user.record, "access_key": key}

    # ============================================================================ users
    def user_by_crmid(self, crmid: int) -> User | None:
        """The user record (without secrets)."""
        users = self.modules["Users"]
        with self.store.lock:
            got = self.store.fetch(users, crmid)
        if got is None:
            return None
        rec = {k: v for k, v in got[0].items() if k not in HIDDEN_USER_FIELDS}
        return User(crmid, rec["user_name"], rec)

    def user_by_name(self, user_name: str) -> User | None:
        """Look a user up by login name (exact match; MySQL would ignore case)."""
        users = self.modules["Users"]
        with self.store.lock:
            row = self.store.conn.execute(
                f"SELECT crmid FROM {users.table} WHERE user_name = ? AND deleted = 0",
                (user_name,),
            ).fetchone()
        return self.user_by_crmid(row[0]) if row else None

    def access_key(self, user: User) -> str:
        """A user's access key (the password of the API)."""
        with self.store.lock:
            row = self.store.conn.execute(
                "SELECT access_key FROM access_keys WHERE user_crmid = ?", (user.crmid,)
            ).fetchone()
        return row[0] if row else ""

    def authenticate_basic(self, user_name: str, key: str) -> User | None:
        """REST Basic auth: username + access key."""
        user = self.user_by_name(user_name)
        if user is None or not secrets.compare_digest(self.access_key(user), key):
            return None
        return user

    # ========================================================================= sessions
    def getchallenge(self, params: dict) -> dict:
        """Issue a 5-minute token; a new one for the same user replaces the previous one."""
        name = params.get("username", "")
        if not name:
            raise VtigerApiError("ACCESS_DENIED", "No username given", 403)
        if self.user_by_name(name) is None:
            raise VtigerApiError("ACCESS_DENIED", "username does not exists", 403)
        now = self.clock()
        token = secrets.token_hex(7)[:13]
        ttl = int(self.settings.get("challenge_ttl", 300))
        self.challenges[name] = Challenge(token, now + ttl)
        return {"token": token, "serverTime": int(now), "expireTime": int(now) + ttl}

    def login(self, params: dict) -> dict:
        """``accessKey = md5(token + accesskey)``; returns a new session."""
        name = params.get("username", "")
        ch = self.challenges.get(name)
        now = self.clock()
        if ch is None or ch.expires < now:
            raise VtigerApiError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired", 401)
        user = self.user_by_name(name)
        if user is None:
            raise VtigerApiError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired", 401)
        expected = hashlib.md5((ch.token + self.access_key(user)).encode()).hexdigest()  # noqa: S324
        if not secrets.compare_digest(expected, str(params.get("accessKey", ""))):
            raise VtigerApiError("INVALID_USER_CREDENTIALS", "Invalid username or password", 401)
        session = secrets.token_hex(10)
        if len(self.sessions) > 1000:
            self._prune_sessions(now)
        self.sessions[session] = Session(user.crmid, now, now)
        rec = user.record
        return {
            "username": user.user_name, "first_name": rec.get("first_name", ""),
            "last_name": rec.get("last_name", ""), "email": rec.get("email1", ""),
            "time_zone": rec.get("time_zone", "UTC"), "hour_format": rec.get("hour_format", ""),
            "date_format": rec.get("date_format", ""), "is_admin": rec.get("is_admin", "off"),
            "call_duration": rec.get("callduration", ""),
            "other_event_duration": rec.get("othereventduration", ""),
            "sessionName": session, "userId": user.id, "version": "0.22",
            "vtigerVersion": "8.2.0",
        }

    def _session_expired(self, s: Session, now: float) -> bool:
        return (now - s.last_used > float(self.settings.get("session_idle_ttl", 1800))
                or now - s.created > float(self.settings.get("session_max_ttl", 86400)))

    def _prune_sessions(self, now: float) -> None:
        """Forget expired sessions (keeps memory flat under benchmarks that log in a lot)."""
        for name in [n for n, s in self.sessions.items() if self._session_expired(s, now)]:
            del self.sessions[name]

    def session_user(self, session_name: str | None) -> User:
        """The user of a live session; expired sessions are forgotten (INVALID_SESSIONID)."""
        if not session_name:
            raise VtigerApiError("AUTHENTICATION_REQUIRED", "Authencation required", 401)
        s = self.sessions.get(session_name)
        now = self.clock()
        if s is not None and self._session_expired(s, now):
            del self.sessions[session_name]
            s = None
        if s is None:
            raise VtigerApiError(
                "INVALID_SESSIONID", "Session Identifier provided is Invalid", 401
            )
        s.last_used = now
        user = self.user_by_crmid(s.user_crmid)
        if user is None:
            raise VtigerApiError("INVALID_SESSIONID", "Session Identifier provided is Invalid", 401)
        return user

    def logout(self, user: User, params: dict, session_name: str | None = None) -> dict:
        """End the session."""
        if session_name:
            self.sessions.pop(session_name, None)
        return {"message": "successfull"}

    # ======================================================================== settings
    def configure(self, new: dict) -> dict:
        """Merge settings (admin endpoint) and persist them across restarts."""
        checked = {}
        for k, v in new.items():
            if k not in DEFAULT_SETTINGS:
                raise VtigerApiError("INVALID_SETTING", f"unknown setting {k}", 400)
            checked[k] = (check_picklist_dependencies(self.modules, v)
                          if k == "picklist_dependencies" else _check_setting(k, v))
        self.settings.update(checked)
        self.store.set_setting("config", self.settings)
        return dict(self.settings)

    # ========================================================================= helpers
    def module(self, name: Any, message: str | None = None) -> Module:
        """A module by exact (case-sensitive) name, else ACCESS_DENIED."""
        m = self.modules.get(name) if isinstance(name, str) else None
        if m is None:
            raise access_denied(message or "Permission to perform the operation is denied")
        return m

    def parse_id(self, value: Any) -> tuple[Module, int]:
        """``NxM`` -> (module, crmid) with Vtiger's errors for malformed/foreign ids."""
        mo = ID_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if mo is None:
            raise access_denied("Permission to perform the operation is denied for id")
        m = self.store.by_prefix.get(mo.group(1))
        if m is None:
            raise access_denied("Permission to perform the operation is denied for id")
        crmid = int(mo.group(2))
        if crmid > MAX_CRMID:
            raise access_denied()
        if m.is_entity and m.name != "Users":
            with self.store.lock:
                setype = self.store.setype(crmid)
            if setype is not None and setype != m.name:
                raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
        return m, crmid

    def load_live(self, value: Any) -> tuple[Module, int, dict]:
        """A live record by id, else ACCESS_DENIED (missing and deleted look the same)."""
        m, crmid = self.parse_id(value)
        with self.store.lock:
            got = self.store.fetch(m, crmid)
        if got is None or got[1]:
            raise access_denied()
        return m, crmid, self._public(m, got[0])

    def _public(self, m: Module, rec: dict) -> dict:
        if m.name == "Users":
            return {k: v for k, v in rec.items() if k not in HIDDEN_USER_FIELDS}
        return rec

    def label(self, m: Module, rec: dict) -> str:
        """Record label as Vtiger computes it (labelFields joined, HTML-entity encoded)."""
        names = [n.strip() for n in str(m.describe.get("labelFields", "")).split(",") if n]
        names = [n for n in names if n in m.fields]
        if not names:
            names = [
                f["name"] for f in m.describe["fields"]
                if f.get("mandatory") and f["type"]["name"] in ("string", "text")
            ][:1]
        text = " ".join(rec.get(n, "") for n in names if rec.get(n, "")).strip()
        return _htmlentities(text)

    @staticmethod
    def parse_element(raw: Any) -> dict:
        """The ``element`` JSON; anything not a JSON object counts as empty (like Vtiger)."""
        if isinstance(raw, dict):
            return raw
        try:
            value = json.loads(raw) if isinstance(raw, (str, bytes)) else None
        except (ValueError, RecursionError):
            value = None
        return value if isinstance(value, dict) else {}

    def _to_text(self, value: Any, ftype: str) -> str:
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
        emoji = self.settings.get("emoji") or ("replace" if self.self_hosted() else "keep")
        if emoji == "replace":
            text = "".join("?" if ord(ch) > 0xFFFF else ch for ch in text)
        return text

    def self_hosted(self) -> bool:
        """Any self-hosted flavor (stored forms follow a fresh self-hosted install)."""
        return str(self.settings.get("flavor", "cloud")).startswith("self-hosted")

    def _fresh_currency_decimals(self) -> str:
        return FRESH_CURRENCY_DECIMALS["self-hosted" if self.self_hosted() else "cloud"]

    def normalize(self, m: Module, name: str, value: Any) -> str:
        """Client value -> stored wire string, the way Vtiger coerces it on write."""
        f = m.fields[name]
        ftype = f["type"]["name"]
        text = self._to_text(value, ftype)
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
            if self.self_hosted() and GROUPED_NUMBER.match(text.strip()):
                # revise_Products_unit_price_comma_decimal: PHP 8 fails on the comma
                raise ServerCrash(f"{name}: grouped number")
            return self.currency(text)
        if ftype == "integer":
            try:
                return str(int(text.strip())) if text.strip() else ""
            except ValueError:
                return ""
        if ftype in ("double", "percentage"):
            try:
                float(text)
            except ValueError:
                return ""
            return text.strip()
        return text

    def _currency_places(self) -> int:
        """Decimals to round currency to: the setting, else the caller's preference."""
        configured = self.settings.get("currency_decimals")
        if configured is not None:
            return int(configured)
        user = getattr(self, "_caller", None)
        pref = user.record.get("no_of_currency_decimals", "") if user is not None else ""
        return int(pref) if str(pref).isdigit() else 8

    def currency(self, text: str) -> str:
        """Round to the configured currency decimals, show 8 decimals (``1000.50000000``)."""
        t = text.strip()
        if not t:
            return ""
        try:
            d = Decimal(t)
            if not d.is_finite():
                return ""
            places = max(0, min(8, self._currency_places()))
            d = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)  # PHP round()
            return f"{d:.8f}"
        except (InvalidOperation, ValueError):
            return ""

    def check_reference(self, m: Module, name: str, value: str) -> None:
        """References and owners must point at live records of an allowed module."""
        if not value:
            return
        f = m.fields[name]
        ftype = f["type"]["name"]
        allowed = ["Users", "Groups"] if ftype == "owner" else list(f["type"].get("refersTo", []))
        bad = VtigerApiError("REFERENCE_INVALID", f"Invalid reference specified for {name}", 400)
        mo = ID_RE.fullmatch(value)
        if mo is None or int(mo.group(2)) > MAX_CRMID:
            raise bad
        target = self.store.by_prefix.get(mo.group(1))
        if target is None or (allowed and target.name not in allowed):
            raise bad
        with self.store.lock:
            if not self.store.exists(target, int(mo.group(2))):
                raise bad

    def _writable(self, m: Module, name: str) -> bool:
        f = m.fields.get(name)
        if f is None or name in SERVER_FIELDS:
            return False
        if f["type"]["name"] == "autogenerated":
            return False
        return bool(f.get("editable", True))

    def _check_mandatory(self, m: Module, values: dict, names: Any) -> None:
        for f in m.describe["fields"]:
            n = f["name"]
            if f.get("mandatory") and self._writable(m, n) and n in names:
                v = values.get(n, "")
                if not (v.strip() if isinstance(v, str) else v):
                    raise VtigerApiError(
                        "MANDATORY_FIELDS_MISSING", f"{n} does not have a value", 400
                    )

    def _with_label(self, m: Module, rec: dict, currency1: int | None = None) -> dict:
        """A single record as create/update/revise (and retrieve) answer it."""
        out = self.wire_record(m, rec, single=True, currency1=currency1)
        out["label"] = self.label(m, rec)
        if m.name in PRICED_MODULES:
            # after the label, as on the real server
            out["currency1"] = out.pop("currency1")
            out["currency_id"] = out.pop("currency_id")
        return out

    def wire_record(self, m: Module, rec: dict, single: bool,
                    currency1: int | None = None) -> dict:
        """A stored record in the form a real server sends it, which is not its describe.

        ``single``: the form of one record (create, retrieve, update, revise); else the form of
        query and sync rows. ``currency1``: the number a priced module's single record carries
        (default: the whole part of its ``unit_price``).
        """
        extra = UNDECLARED_FIELDS.get(m.name)
        priced = m.name in PRICED_MODULES
        if not extra and not priced:
            return rec
        out: dict[str, Any] = {}
        for k, v in rec.items():
            if priced and (k in TAX_PSEUDO_FIELDS or k == "currency1"):
                continue
            out[k] = v
            if extra and k == "ticketcategories":
                out.update(extra)
        if extra:
            for k, v in extra.items():
                out.setdefault(k, v)
        if priced and single:
            if currency1 is None:
                try:
                    currency1 = int(Decimal(str(rec.get("unit_price") or "0")))
                except (InvalidOperation, ValueError):
                    currency1 = 0
            out["currency1"] = currency1
            out["currency_id"] = f"{self.modules['Currency'].id_prefix}x1"
        return out

    def wire_rows(self, m: Module, names: list[str], rows: list[dict]) -> list[dict]:
        """Query/sync rows in the real server's form (only ``select *`` rows change)."""
        if (m.name not in UNDECLARED_FIELDS and m.name not in PRICED_MODULES) or \
                names != self.store.tables[m.name].fields:
            return rows
        return [self.wire_record(m, r, single=False) for r in rows]

    # ======================================================================= metadata
    def me(self, user: User, params: dict) -> dict:
        """Who am I: the calling user."""
        r = user.record
        return {"id": r["id"], "user_name": r.get("user_name", ""),
                "first_name": r.get("first_name", ""), "last_name": r.get("last_name", ""),
                "email1": r.get("email1", ""), "is_admin": r.get("is_admin", "off")}

    def listtypes(self, user: User, params: dict) -> dict:
        """Modules, optionally only those having a field of one of ``fieldTypeList``'s types."""
        raw = params.get("fieldTypeList")
        wanted: set[str] | None = None
        if raw not in (None, "", "null"):
            try:
                parsed = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                parsed = [raw]
            if isinstance(parsed, str):
                parsed = [parsed]
            if isinstance(parsed, list):
                wanted = {str(x) for x in parsed}
        types, info = [], {}
        for m in self.modules.values():
            if wanted is not None and (m.name == "Users" or not any(
                f["type"]["name"] in wanted for f in m.describe["fields"]
            )):
                continue  # a filtered list never names Users (listtypes_fieldTypeList_email)
            types.append(m.name)
            info[m.name] = {"isEntity": m.is_entity, "label": m.label, "singular": m.singular}
        return {"types": types, "information": info}

    def describe(self, user: User, params: dict) -> dict:
        """The module's describe document (including custom fields)."""
        name = params.get("elementType", "")
        m = self.module(name, f"Permission to perform the operation is denied for name : {name}")
        # Users' describe lists user_password/accesskey like the real one; values never show.
        return m.describe

    # ========================================================================== CRUD
    def create(self, user: User, params: dict) -> dict:
        """Create one record; returns it whole (with ``label``)."""
        m = self.module(params.get("elementType"))
        if not m.describe.get("createable", True) or not m.is_entity or m.name == "Users":
            raise access_denied()
        self._caller = user
        element = self.parse_element(params.get("element"))
        values = {k: v for k, v in element.items() if isinstance(k, str) and self._writable(m, k)}
        texts = {k: self.normalize(m, k, v) for k, v in values.items()}
        self._check_mandatory(m, texts, m.fields)
        for k, v in texts.items():
            if m.fields[k]["type"]["name"] in ("reference", "owner"):
                self.check_reference(m, k, v)
        return self._insert(m, user, texts)

    def _insert(self, m: Module, user: User, texts: dict, epoch: int | None = None) -> dict:
        epoch = epoch or now_epoch()
        ts = epoch_to_text(epoch)
        row: dict[str, str] = {}
        for f in m.describe["fields"]:
            n = f["name"]
            row[n] = texts[n] if n in texts else default_value(f)
        for n in ("createdtime", "modifiedtime"):
            if n in m.fields:
                row[n] = ts
        if "modifiedby" in m.fields:
            row["modifiedby"] = user.id
        if "source" in m.fields:
            row["source"] = "WEBSERVICE"
        st = self.store
        with st.transaction():
            auto = self.autonumber_field(m)
            if auto:
                row[auto] = f"{AUTONUM_PREFIX.get(m.name, m.name[:3].upper())}" + str(
                    st.next_seq(f"autonum:{m.name}")
                )
            row["_mtime"] = epoch  # type: ignore[assignment]
            (rid,) = st.insert_rows(m, [row])
        row.pop("_mtime")
        row["id"] = rid
        rec = {n: row.get(n, "") for n in st.tables[m.name].fields}
        return self._with_label(m, rec)

    @staticmethod
    def autonumber_field(m: Module) -> str | None:
        """The ``*_no`` field Vtiger fills with a module sequence (CON1, ACC2...)."""
        for f in m.describe["fields"]:
            if f["name"].endswith("_no") and not f.get("editable", True):
                return f["name"]
        return None

    def retrieve(self, user: User, params: dict) -> dict:
        """One live record with its label (a converted lead stays retrievable, as in Vtiger)."""
        m, crmid = self.parse_id(params.get("id"))
        if m.name == "Leads":
            with self.store.lock:
                converted = self.store.conn.execute(
                    "SELECT 1 FROM converted_leads WHERE crmid = ?", (crmid,)).fetchone()
                got = self.store.fetch(m, crmid) if converted else None
            if got is not None:
                return self._with_label(m, got[0])
        m, _crmid, rec = self.load_live(params.get("id"))
        out = self._with_label(m, rec)
        if m.name == "Users":
            del out["label"]  # retrieve_Users_admin (a revise of a user does carry one)
        return out

    def _write(self, user: User, params: dict, full: bool) -> dict:
        element = self.parse_element(params.get("element"))
        m, crmid, old = self.load_live(element.get("id"))
        self._caller = user
        if m.name == "Users":
            # users may edit their own preferences (admin: anyone's), never identity/secrets
            if user.crmid != 1 and crmid != user.crmid:
                raise access_denied()
            element = {k: v for k, v in element.items() if k not in PROTECTED_USER_FIELDS}
        elif not m.is_entity:
            raise access_denied()
        values = {k: v for k, v in element.items() if isinstance(k, str) and self._writable(m, k)}
        texts = {k: self.normalize(m, k, v) for k, v in values.items()}
        if full:
            # update: every mandatory field must be restated; an empty reference is ignored.
            self._check_mandatory(m, texts, m.fields)
            texts = {
                k: v for k, v in texts.items()
                if v or m.fields[k]["type"]["name"] not in ("reference",)
            }
        else:
            self._check_mandatory(m, texts, texts)
        for k, v in texts.items():
            if m.fields[k]["type"]["name"] in ("reference", "owner"):
                self.check_reference(m, k, v)
        epoch = now_epoch()
        if "modifiedby" in m.fields:
            texts["modifiedby"] = user.id
        with self.store.transaction():
            self.store.update_values(m, crmid, texts, epoch)
        new = dict(old)
        new.update(texts)
        if "modifiedtime" in new:
            new["modifiedtime"] = epoch_to_text(epoch)
        # a real update/revise answers currency1 0 whatever the price (revise_Products_*)
        return self._with_label(m, new, currency1=0)

    def retrieve_inventory(self, user: User, params: dict) -> dict:
        """A record with its ``LineItems`` (the sandbox stores no line items: always ``[]``).

        Stock 8.2 on PHP 8 crashes on it (retrieve_inventory_stock); the sync-capable build
        answers any record, inventory or not (sync-capable_retrieve_inventory_nonInventory).
        """
        if self.settings.get("flavor") == "self-hosted-stock":
            raise ServerCrash("retrieve_inventory on stock 8.2")
        rec = self.retrieve(user, params)
        rec["LineItems"] = []
        return rec

    def update(self, user: User, params: dict) -> dict:
        """Full update: mandatory fields required, omitted fields keep their values."""
        return self._write(user, params, full=True)

    def revise(self, user: User, params: dict) -> dict:
        """Partial update; returns the whole record."""
        return self._write(user, params, full=False)

    def delete(self, user: User, params: dict) -> dict:
        """Soft delete (sync reports it); deleting again is ACCESS_DENIED."""
        m, crmid, _rec = self.load_live(params.get("id"))
        if not m.is_entity or m.name == "Users":
            raise access_denied()
        with self.store.transaction():
            self.store.mark_deleted(m, crmid, now_epoch())
        return {"status": "successful"}

    # ========================================================================= query
    def query(self, user: User, params: dict) -> list[dict]:
        """VTQL via ``vtql.compile_query`` (imported lazily: written by another engineer)."""
        vtql = _vtql()
        text = params.get("query", "")
        if not isinstance(text, str) or not text.strip():
            raise access_denied("Permission to perform the operation is denied for query")
        cap = int(self.settings.get("query_row_cap", 100))
        compiled = vtql.compile_query(text, self.modules, row_cap=cap)
        if self._refuses("query", compiled.module):
            raise access_denied("Permission to perform the operation is denied for query")
        with self.store.lock:
            cur = self.store.conn.execute(compiled.sql, compiled.params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        if compiled.is_count:  # an offset past the single count row leaves nothing, as in MySQL
            return [{"count": str(rows[0][0])}] if rows else []
        if len(rows) > cap:
            rows = rows[:cap]
        if compiled.module.name == "Users":
            keep = [i for i, n in enumerate(names) if n not in HIDDEN_USER_FIELDS]
            names = [names[i] for i in keep]
            rows = [tuple(r[i] for i in keep) for r in rows]
        return self.wire_rows(compiled.module, names, rows_to_records(names, rows))

    def _refuses(self, operation: str, m: Module) -> bool:
        """Whether the ``refused_modules`` setting makes ``operation`` refuse module ``m``."""
        return m.name in ((self.settings.get("refused_modules") or {}).get(operation) or ())

    # ========================================================================== sync
    def sync(self, user: User, params: dict) -> dict:
        """Vtiger's sync page: ties at the boundary second are never split across pages."""
        if self.settings.get("sync_http_500"):
            raise ServerCrash("sync_http_500")
        raw = params.get("modifiedTime")
        try:
            since = int(float(raw))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise ServerCrash("modifiedTime") from None
        if since < 1:
            raise ServerCrash("modifiedTime < 1")
        since = min(since, MAX_CRMID)
        name = params.get("elementType")
        if not name:
            raise ServerCrash("elementType")
        m = self.module(name)
        if m.name == "Emails" and self.self_hosted():
            raise ServerCrash("sync of Emails")  # sync-capable_sync_typed_Emails
        if m.name == "Users":
            return {"updated": [], "deleted": [], "lastModifiedTime": str(since), "more": False}
        if not m.is_entity or self._refuses("sync", m):
            raise access_denied()
        st = self.store
        mt = st.tables[m.name]
        owner_sql, owner_params = "", []
        sync_type = str(params.get("syncType") or "application")
        if is_self_hosted(self.settings):
            sync_type = "user"  # self-hosted ignores syncType: always the caller's own records
        if "assigned_user_id" in m.fields and sync_type == "user":
            owner_sql, owner_params = " AND assigned_user_id = ?", [user.id]
        elif "assigned_user_id" in m.fields and sync_type == "userandgroup":
            # group membership is not modelled: the admin belongs to every group, others none
            if user.crmid == 1:
                owner_sql = " AND (assigned_user_id = ? OR assigned_user_id LIKE ?)"
                owner_params = [user.id, f"{self.modules['Groups'].id_prefix}x%"]
            else:
                owner_sql, owner_params = " AND assigned_user_id = ?", [user.id]
        limit = int(self.settings.get("sync_page_limit", 100))
        with st.lock:
            c = st.conn
            top = c.execute(
                f"SELECT MAX(_mtime) FROM (SELECT _mtime FROM {m.table} WHERE _mtime > ?"
                f"{owner_sql} ORDER BY _mtime LIMIT ?)",
                (since, *owner_params, limit),
            ).fetchone()[0]
            if top is None:
                return {"updated": [], "deleted": [], "more": False, "lastModifiedTime": since}
            cur = c.execute(
                f"SELECT deleted, {mt.select_cols} FROM {m.table} WHERE _mtime > ? "
                f"AND _mtime <= ?{owner_sql} ORDER BY _mtime, crmid",
                (since, top, *owner_params),
            )
            rows = cur.fetchall()
            more = c.execute(
                f"SELECT EXISTS (SELECT 1 FROM {m.table} WHERE _mtime > ?{owner_sql})",
                (top, *owner_params),
            ).fetchone()[0]
        live = [r[1:] for r in rows if not r[0]]
        id_idx = mt.fields.index("id") + 1
        deleted = [r[id_idx] for r in rows if r[0]]
        return {
            "updated": self.wire_rows(m, mt.fields, rows_to_records(mt.fields, live)),
            "deleted": deleted,
            "more": bool(more),
            "lastModifiedTime": int(top),
        }

    # ======================================================================== misc
    def edition_limits(self, user: User, params: dict) -> dict:
        """``editionLimits``: a fixed, plausible answer per service name."""
        name = params.get("serviceName", "")
        from .ratelimit import edition_limits

        limits = {"WEBSERVICE_LIMIT": str(edition_limits(self.settings)[2]),
                  "DOCUMENT_UPLOAD_FILE_LIMIT": "50MB", "CUSTOM_FIELD_LIMIT": "100"}
        if not name:
            return {"limits": limits}
        return {"serviceName": name, "limit": limits.get(name, "0")}

    def dispatch(self, operation: str) -> Callable[[User, dict], Any] | None:
        """The method serving an operation name, or None when unknown."""
        table: dict[str, Callable[[User, dict], Any]] = {
            "me": self.me, "listtypes": self.listtypes, "describe": self.describe,
            "create": self.create, "retrieve": self.retrieve, "update": self.update,
            "revise": self.revise, "delete": self.delete, "query": self.query,
            "sync": self.sync, "editionLimits": self.edition_limits,
            "retrieve_inventory": self.retrieve_inventory,
        }
        extra = getattr(self, "extra_operations", None)
        if extra:
            table.update(extra())
        return table.get(operation)

    # ======================================================================== admin
    def touch(self, ids: list, modifiedtime: str) -> int:
        """Admin: set modifiedtime of records directly (to build ties for sync tests)."""
        from .store import text_to_epoch

        epoch = text_to_epoch(modifiedtime)
        n = 0
        with self.store.transaction():
            for rid in ids:
                m, crmid = self.parse_id(rid)
                mt = self.store.tables[m.name]
                if "modifiedtime" in mt.data_columns:
                    cur = self.store.conn.execute(
                        f"UPDATE {m.table} SET _mtime = ?, modifiedtime = ? WHERE crmid = ?",
                        (epoch, epoch_to_text(epoch), crmid),
                    )
                else:
                    cur = self.store.conn.execute(
                        f"UPDATE {m.table} SET _mtime = ? WHERE crmid = ?", (epoch, crmid)
                    )
                n += cur.rowcount
        return n

    def bulk_create(self, module: str, count: int, modifiedtime: str | None = None,
                    fields: dict | None = None, assigned_user_id: str | None = None,
                    user: User | None = None) -> list[str]:
        """Admin: create many records in one transaction (valid by construction)."""
        from .store import text_to_epoch

        m = self.module(module)
        if not m.is_entity or m.name == "Users":
            raise access_denied()
        count = int(count)
        if count < 0 or count > 1_000_000:
            raise VtigerApiError("INVALID_COUNT", "count must be 0..1000000", 400)
        epoch = text_to_epoch(modifiedtime) if modifiedtime else now_epoch()
        ts = epoch_to_text(epoch)
        owner = assigned_user_id or "19x1"
        base: dict[str, str] = {}
        for f in m.describe["fields"]:
            base[f["name"]] = default_value(f)
        for k, v in (fields or {}).items():
            if k in m.fields:
                base[k] = self.normalize(m, k, v)
        for n in ("createdtime", "modifiedtime"):
            if n in m.fields:
                base[n] = ts
        if "assigned_user_id" in m.fields:
            base["assigned_user_id"] = owner
        if "modifiedby" in m.fields:
            base["modifiedby"] = "19x1"
        if "source" in m.fields:
            base["source"] = "WEBSERVICE"
        auto = self.autonumber_field(m)
        mandatory = [
            f["name"] for f in m.describe["fields"]
            if f.get("mandatory") and self._writable(m, f["name"])
            and f["type"]["name"] not in ("reference", "owner")
        ]
        with self.store.transaction():
            first_no = self.store.reserve_seq(f"autonum:{m.name}", count) if auto else 0
            rows = []
            for i in range(count):
                row = dict(base)
                for n in mandatory:
                    if not row.get(n):
                        row[n] = _filler(m.fields[n], i)
                if auto:
                    row[auto] = f"{AUTONUM_PREFIX.get(m.name, m.name[:3].upper())}{first_no + i}"
                row["_mtime"] = epoch  # type: ignore[assignment]
                rows.append(row)
            return self.store.insert_rows(m, rows)

    def reset(self) -> dict:
        """Admin: forget every record, tag, relation, extra user and session; default settings.

        Custom fields stay (their columns exist); the admin, groups and currency are kept.
        """
        st = self.store
        keep_flavor = self.settings.get("flavor", "cloud")
        with st.transaction() as c:
            for m in self.modules.values():
                if m.name in ("Groups", "Currency"):
                    continue
                if m.name == "Users":
                    c.execute(f"DELETE FROM {m.table} WHERE crmid != 1")
                else:
                    c.execute(f"DELETE FROM {m.table}")
            for table in ("crmentity", "tags", "relations", "converted_leads", "seq"):
                c.execute(f"DELETE FROM {table}")
            c.execute("DELETE FROM access_keys WHERE user_crmid != 1")
            c.execute("DELETE FROM sqlite_sequence WHERE name = 'crmentity'")
            c.execute("DELETE FROM settings WHERE key = 'seeded'")
        self.sessions.clear()
        self.challenges.clear()
        self.settings = copy.deepcopy(DEFAULT_SETTINGS)
        self.settings["flavor"] = keep_flavor
        st.set_setting("config", self.settings)
        st.stats.clear()
        return {"reset": True}

    def add_field(self, module: str, name: str, label: str, type_: dict | None = None,
                  mandatory: bool = False) -> dict:
        """Admin: add a custom field (``cf_*``) to a module."""
        m = self.module(module)
        if not re.fullmatch(r"cf_[A-Za-z0-9_]{1,60}", name or ""):
            raise VtigerApiError("INVALID_FIELD", "custom field names look like cf_xxx", 400)
        if name in m.fields:
            return m.fields[name]
        describe = {
            "name": name, "label": label or name, "mandatory": bool(mandatory),
            "type": type_ or {"name": "string"}, "isunique": False, "nullable": True,
            "editable": True, "default": "",
        }
        self.store.add_custom_field(m, describe)
        return describe


#: Zero as MySQL shows numeric columns of a given precision (recorded create answers).
DOUBLE_ZERO = {"qty_per_unit": "0.00", "hours": "0.00000000", "days": "0.00000000"}


def _check_setting(key: str, value: Any) -> Any:
    """Validate one setting so that a bad value fails here, not inside a later API call."""
    bad = VtigerApiError("INVALID_SETTING", f"bad value for {key}: {value!r}", 400)
    ints = ("sync_page_limit", "query_row_cap", "minute_limit", "daily_limit", "hourly_limit")
    floats = ("session_idle_ttl", "session_max_ttl", "challenge_ttl")
    if key == "edition":
        from .ratelimit import EDITIONS

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


def _vtql() -> Any:
    """The VTQL compiler (``vtiger_sandbox.vtql``, another room's module), imported lazily."""
    try:
        from . import vtql
    except ImportError as exc:
        raise VtigerApiError("INTERNAL_SERVER_ERROR",
                             f"VTQL is not available in this sandbox build: {exc}", 500) from None
    return vtql


def _filler(f: dict, i: int) -> str:
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


def _valid_dt(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def rows_to_records(names: list[str], rows: list[tuple]) -> list[dict]:
    """SQLite rows -> wire dicts. Values are TEXT already; non-text ones are stringified."""
    if not rows:
        return []
    first = rows[0]
    if all(isinstance(v, str) for v in first):
        return [dict(zip(names, r, strict=False)) for r in rows]
    return [
        {n: _text(v) for n, v in zip(names, r, strict=False)}
        for r in rows
    ]


def _text(v: object) -> str:
    return "" if v is None else v if isinstance(v, str) else str(v)


# =============================================================================== relations
#: relatedtypes of the two modules recorded from a real server: (label, module) in order.
RELATED_TYPES: dict[str, list[tuple[str, str]]] = {
    "Accounts": [
        ("Contacts", "Contacts"), ("Potentials", "Potentials"), ("Quotes", "Quotes"),
        ("Sales Order", "SalesOrder"), ("Invoice", "Invoice"), ("Activities", "Calendar"),
        ("Emails", "Emails"), ("Activity History", "Calendar"), ("Documents", "Documents"),
        ("HelpDesk", "HelpDesk"), ("Products", "Products"), ("Campaigns", "Campaigns"),
        ("PBXManager", "PBXManager"), ("Service Contracts", "ServiceContracts"),
        ("Services", "Services"), ("Projects", "Project"), ("ModComments", "ModComments"),
        ("Assets", "Assets"),
    ],
    "Contacts": [
        ("Potentials", "Potentials"), ("Activities", "Calendar"), ("Emails", "Emails"),
        ("HelpDesk", "HelpDesk"), ("Quotes", "Quotes"), ("Purchase Order", "PurchaseOrder"),
        ("Sales Order", "SalesOrder"), ("Products", "Products"),
        ("Activity History", "Calendar"), ("Documents", "Documents"),
        ("Campaigns", "Campaigns"), ("Invoice", "Invoice"), ("PBXManager", "PBXManager"),
        ("Service Contracts", "ServiceContracts"), ("Services", "Services"),
        ("Projects", "Project"), ("ModComments", "ModComments"), ("Assets", "Assets"),
        ("Vendors", "Vendors"),
    ],
}

#: Lead field -> field of the entity created by convertlead.
LEAD_MAP: dict[str, dict[str, str]] = {
    "Contacts": {"salutationtype": "salutationtype", "firstname": "firstname",
                 "lastname": "lastname", "email": "email", "phone": "phone", "mobile": "mobile",
                 "fax": "fax", "leadsource": "leadsource", "designation": "title",
                 "secondaryemail": "secondaryemail", "emailoptout": "emailoptout",
                 "description": "description", "lane": "mailingstreet", "city": "mailingcity",
                 "state": "mailingstate", "code": "mailingzip", "country": "mailingcountry",
                 "pobox": "mailingpobox"},
    "Accounts": {"company": "accountname", "phone": "phone", "website": "website",
                 "industry": "industry", "annualrevenue": "annual_revenue",
                 "noofemployees": "employees", "rating": "rating", "lane": "bill_street",
                 "city": "bill_city", "state": "bill_state", "code": "bill_code",
                 "country": "bill_country", "pobox": "bill_pobox", "description": "description"},
    "Potentials": {"company": "potentialname", "leadsource": "leadsource",
                   "description": "description"},
}


#: module -> (status field, closed values, value a reopen sets)
REOPEN_STATUS: dict[str, tuple[str, frozenset[str], str]] = {
    "HelpDesk": ("ticketstatus", frozenset({"Closed"}), "Open"),
    "Potentials": ("sales_stage", frozenset({"Closed Won", "Closed Lost"}), "Prospecting"),
    "Project": ("projectstatus", frozenset({"completed", "archived"}), "in progress"),
    "ProjectTask": ("projecttaskstatus", frozenset({"Completed"}), "In Progress"),
    "Calendar": ("taskstatus", frozenset({"Completed"}), "In Progress"),
    "Events": ("eventstatus", frozenset({"Held"}), "Planned"),
}


class ExtraOperations:
    """Relations, tags, lookup, picklist dependency, convertlead, account hierarchy.

    A mixin of :class:`Operations` (kept apart because these are secondary to CRUD/sync).
    """

    def extra_operations(self: Operations) -> dict[str, Callable[[User, dict], Any]]:  # type: ignore[misc]
        """Operation name -> method for the secondary operations."""
        return {
            "relatedtypes": self.relatedtypes, "retrieve_related": self.retrieve_related,
            "query_related": self.query_related, "add_related": self.add_related,
            "delete_related": self.delete_related, "tags_add": self.tags_add,
            "tags_retrieve": self.tags_retrieve, "tags_delete": self.tags_delete,
            "tag_delete": self.tags_delete, "lookup": self.lookup,
            "picklist_dependency": self.picklist_dependency, "convertlead": self.convertlead,
            "get_account_hierarchy": self.get_account_hierarchy,
            "files_retrieve": self.files_retrieve, "reopen": self.reopen,
            "decrypt": self.decrypt, "add_picklist": self.add_picklist,
            "edit_picklist": self.edit_picklist, "delete_picklist": self.delete_picklist,
        }

    # ------------------------------------------------------ Cloud-only record/admin APIs
    def _cloud_only(self: Operations, operation: str) -> None:  # type: ignore[misc]
        """The open-source edition has no such operation: HTTP 500, empty body."""
        if self.self_hosted():
            raise ServerCrash(f"{operation} is Vtiger Cloud only")

    def reopen(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Reopen a closed record: its closing status goes back to the module's open one.

        A record that is not closed stays as it is (the answer is the same).
        """
        self._cloud_only("reopen")
        m, crmid, rec = self.load_live(params.get("id"))
        rule = REOPEN_STATUS.get(m.name)
        if rule is not None and rec.get(rule[0]) in rule[1]:
            changes = {rule[0]: rule[2]}
            if "modifiedby" in m.fields:
                changes["modifiedby"] = user.id
            with self.store.transaction():
                self.store.update_values(m, crmid, changes, now_epoch())
        return {"message": "Record reopened successfully."}

    def decrypt(self: Operations, user: User, params: dict) -> str:  # type: ignore[misc]
        """The clear value of one field of a record (``result`` is the bare string)."""
        self._cloud_only("decrypt")
        m, _crmid, rec = self.load_live(params.get("id"))
        name = params.get("fieldname")
        if not isinstance(name, str) or name not in m.fields or name in HIDDEN_USER_FIELDS:
            raise access_denied(f"Permission to access {name} attribute denied.")
        return str(rec.get(name, ""))

    def _picklist_field(self: Operations, user: User, params: dict  # type: ignore[misc]
                        ) -> tuple[Module, dict, dict]:
        """(module, field describe, element) of a picklist edit; admins only."""
        if user.record.get("is_admin") != "on":
            raise access_denied("Permission to perform the operation is denied")
        m = self.module(params.get("elementType"))
        element = self.parse_element(params.get("element"))
        name = element.get("fieldname")
        f = m.fields.get(name) if isinstance(name, str) else None
        if f is None or f["type"]["name"] not in ("picklist", "multipicklist"):
            raise VtigerApiError("INVALID_PARAMETER",
                                 f"{name} is not a picklist field of {m.name}", 400)
        return m, f, element

    def _save_picklist(self: Operations, m: Module, f: dict, values: list[str]  # type: ignore[misc]
                       ) -> None:
        f["type"]["picklistValues"] = [{"label": v, "value": v} for v in values]
        saved = self.store.get_setting("picklists")
        saved = saved if isinstance(saved, dict) else {}
        saved.setdefault(m.name, {})[f["name"]] = values
        self.store.set_setting("picklists", saved)

    def restore_picklists(self: Operations) -> None:  # type: ignore[misc]
        """Apply the picklist values edited through the API (they survive restarts)."""
        saved = self.store.get_setting("picklists")
        for module, fields in (saved if isinstance(saved, dict) else {}).items():
            m = self.modules.get(module)
            for name, values in fields.items():
                if m is not None and name in m.fields:
                    m.fields[name]["type"]["picklistValues"] = [
                        {"label": v, "value": v} for v in values]

    @staticmethod
    def _values_of(f: dict) -> list[str]:
        return [str(p["value"]) for p in f["type"].get("picklistValues") or []]

    def add_picklist(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Add values to a picklist; answers the new values' ids (``id0``, ``id1``...)."""
        self._cloud_only("add_picklist")
        m, f, element = self._picklist_field(user, params)
        new = element.get("values")
        if isinstance(new, str):
            new = [new]
        if not isinstance(new, list) or not new or not all(
                isinstance(v, str) and v.strip() for v in new):
            raise VtigerApiError("INVALID_PARAMETER", "values must be a list of values", 400)
        values = self._values_of(f)
        ids: dict[str, int] = {}
        for i, v in enumerate(new):
            if v not in values:
                values.append(v)
            ids[f"id{i}"] = values.index(v) + 1
        self._save_picklist(m, f, values)
        return {"success": True, "result": ids}

    def edit_picklist(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Rename a picklist value; records holding it are renamed with it."""
        self._cloud_only("edit_picklist")
        m, f, element = self._picklist_field(user, params)
        old, new = element.get("current_value"), element.get("new_value")
        values = self._values_of(f)
        if old not in values or not isinstance(new, str) or not new.strip():
            raise VtigerApiError("INVALID_PARAMETER",
                                 f"{old!r} is not a value of {m.name}.{f['name']}", 400)
        values = [new if v == old else v for v in values]
        with self.store.transaction():
            self._replace_values(m, f["name"], {old}, new)
        self._save_picklist(m, f, list(dict.fromkeys(values)))
        return {"success": True, "result": ["success", True]}

    def delete_picklist(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Delete picklist values; records holding them take ``replace_with`` (a kept value)."""
        self._cloud_only("delete_picklist")
        m, f, element = self._picklist_field(user, params)
        gone = element.get("delete_values")
        if isinstance(gone, str):
            gone = [gone]
        values = self._values_of(f)
        repl = element.get("replace_with")
        if not isinstance(gone, list) or not gone or any(v not in values for v in gone):
            raise VtigerApiError("INVALID_PARAMETER", "delete_values must be existing values",
                                 400)
        if repl not in values or repl in gone:
            raise VtigerApiError("INVALID_PARAMETER",
                                 "replace_with must be a value that is kept", 400)
        with self.store.transaction():
            self._replace_values(m, f["name"], set(gone), str(repl))
        self._save_picklist(m, f, [v for v in values if v not in gone])
        return {"success": True, "result": ["success", True]}

    def _replace_values(self: Operations, m: Module, name: str,  # type: ignore[misc]
                        old: set[str], new: str) -> None:
        """Inside a transaction: records holding one of ``old`` in ``name`` get ``new``."""
        c = self.store.conn
        ids = [r[0] for r in c.execute(
            f"SELECT crmid FROM {m.table} WHERE {qi(name)} IN ({', '.join('?' * len(old))})",
            sorted(old))]
        for crmid in ids:
            self.store.update_values(m, crmid, {name: new}, now_epoch())

    def files_retrieve(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """The sandbox stores no attachments: any id is RECORD_NOT_FOUND, as Vtiger answers
        for an id that is not an attachment.
        """
        self.parse_id(params.get("id"))
        raise VtigerApiError("RECORD_NOT_FOUND", "Record you are trying to access is not found",
                             404)

    # --------------------------------------------------------------------- relations
    def related_pairs(self: Operations, m: Module) -> list[tuple[str, str]]:  # type: ignore[misc]
        """(label, module) pairs a module relates to: recorded ones, else derived."""
        if m.name in RELATED_TYPES:
            return [p for p in RELATED_TYPES[m.name] if p[1] in self.modules]
        pairs = []
        for other in self.modules.values():
            if not other.is_entity or other.name in ("Users", m.name):
                continue
            if any(m.name in (f["type"].get("refersTo") or []) for f in other.describe["fields"]
                   if f["type"]["name"] == "reference" and f["name"] != "modifiedby"):
                pairs.append((other.name, other.name))
        # N:N the other way round (Contacts list Potentials, so Potentials list Contacts),
        # and modules this one points at.
        for other_name, lst in RELATED_TYPES.items():
            if any(mod == m.name for _l, mod in lst) and (other_name, other_name) not in pairs:
                pairs.append((other_name, other_name))
        for f in m.describe["fields"]:
            if f["type"]["name"] != "reference" or f["name"] == "modifiedby":
                continue
            for ref in f["type"].get("refersTo") or []:
                target = self.modules.get(ref)
                if (target is not None and target.is_entity and ref not in ("Users", m.name)
                        and (ref, ref) not in pairs):
                    pairs.append((ref, ref))
        for extra in ("Documents", "ModComments"):
            if extra in self.modules and (extra, extra) not in pairs and extra != m.name:
                pairs.append((extra, extra))
        return pairs

    def relatedtypes(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Modules related to ``elementType``, keyed by relation label."""
        m = self.module(params.get("elementType"))
        pairs = self.related_pairs(m)
        return {
            "types": [mod for _label, mod in pairs],
            "information": {label: {"name": mod, "label": label, "isEntity": "1"}
                            for label, mod in pairs},
        }

    def _relation_target(self: Operations, m: Module, label: Any,  # type: ignore[misc]
                         related_type: Any = None) -> Module:
        for lab, mod in self.related_pairs(m):
            if label in (lab, mod) and (not related_type or related_type == mod):
                return self.modules[mod]
        raise VtigerApiError("UNKOWN_ENTITY", "Relation specified is incorrect", 400)

    def _related_crmids(self: Operations, src: Module, crmid: int,  # type: ignore[misc]
                        target: Module, rid: str) -> list[int]:
        """Related records: reference fields pointing at the source plus add_related links."""
        c = self.store.conn
        ids: set[int] = set()
        for f in target.describe["fields"]:
            if (f["type"]["name"] == "reference" and f["name"] != "modifiedby"
                    and src.name in (f["type"].get("refersTo") or [])):
                ids.update(r[0] for r in c.execute(
                    f"SELECT crmid FROM {target.table} WHERE {qi(f['name'])} = ? AND deleted = 0",
                    (rid,)))
        for (other,) in c.execute(
            "SELECT dst FROM relations WHERE src = ? UNION SELECT src FROM relations WHERE dst = ?",
            (crmid, crmid),
        ):
            if self.store.setype(other) == target.name:
                ids.add(other)
        return sorted(ids)

    def retrieve_related(self: Operations, user: User, params: dict) -> list[dict]:  # type: ignore[misc]
        """Full records related to ``id`` under ``relatedLabel`` (of ``relatedType``)."""
        m, crmid, rec = self.load_live(params.get("id"))
        target = self._relation_target(m, params.get("relatedLabel"), params.get("relatedType"))
        mt = self.store.tables[target.name]
        with self.store.lock:
            ids = self._related_crmids(m, crmid, target, rec["id"])
            rows = []
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                rows += self.store.conn.execute(
                    f"{mt.select_sql} WHERE deleted = 0 AND crmid IN "
                    f"({', '.join('?' * len(chunk))}) ORDER BY crmid", chunk).fetchall()
        return rows_to_records(mt.fields, rows)

    def query_related(self: Operations, user: User, params: dict) -> list[dict]:  # type: ignore[misc]
        """VTQL restricted to related records; Vtiger wants no ``;`` and an upper-case WHERE."""
        vtql = _vtql()
        text = params.get("query", "")
        if not isinstance(text, str) or not text.strip():
            raise access_denied("Permission to perform the operation is denied for query")
        stripped = text.strip()
        cap = int(self.settings.get("query_row_cap", 100))
        if hasattr(vtql, "compile_query_related"):
            compiled = vtql.compile_query_related(stripped, self.modules, row_cap=cap)
        else:
            if stripped.endswith(";"):
                raise VtigerApiError("UNKOWN_ENTITY", "Relation specified is incorrect", 400)
            compiled = vtql.compile_query(stripped + ";", self.modules)
        m, crmid, rec = self.load_live(params.get("id"))
        target = self._relation_target(m, params.get("relatedLabel"))
        if compiled.module.name != target.name:
            raise VtigerApiError("UNKOWN_ENTITY", "Relation specified is incorrect", 400)
        st = self.store
        with st.lock:
            ids = self._related_crmids(m, crmid, target, rec["id"])
            # A TEMP table of the same name shadows the module table for this one query, so
            # the compiled SQL (limits and all) runs over the related records only.
            name = target.table
            st.conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            st.conn.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM main.{name} WHERE 0")
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                st.conn.execute(
                    f"INSERT INTO temp.{name} SELECT * FROM main.{name} "
                    f"WHERE crmid IN ({', '.join('?' * len(chunk))})", chunk)
            try:
                cur = st.conn.execute(compiled.sql, compiled.params)
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
            finally:
                st.conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        if compiled.is_count:
            return [{"count": str(rows[0][0])}] if rows else []
        return rows_to_records(names, rows)

    def add_related(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Link two records (``{"message": "successfull"}``, sic)."""
        m, src, _ = self.load_live(params.get("sourceRecordId"))
        m2, dst, _ = self.load_live(params.get("relatedRecordId"))
        label = params.get("relationIdLabel") or m2.name
        self._relation_target(m, label, m2.name)
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT OR IGNORE INTO relations (src, dst, label) VALUES (?, ?, ?)",
                (src, dst, str(label)))
        return {"message": "successfull"}

    def delete_related(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Unlink two records (explicit links; reference fields are left alone)."""
        _m, src, _ = self.load_live(params.get("sourceRecordId"))
        _m2, dst, _ = self.load_live(params.get("relatedRecordId"))
        with self.store.transaction():
            self.store.conn.execute(
                "DELETE FROM relations WHERE (src = ? AND dst = ?) OR (src = ? AND dst = ?)",
                (src, dst, dst, src))
        return {"status": "successful"}

    # -------------------------------------------------------------------------- tags
    def _tag_list(self: Operations, raw: Any) -> list[str]:  # type: ignore[misc]
        if isinstance(raw, list):
            items = raw
        else:
            try:
                items = json.loads(raw) if isinstance(raw, str) else []
            except ValueError:
                items = [t for t in str(raw).split(",")]
            if isinstance(items, str):
                items = [items]
        if not isinstance(items, list):
            items = []
        return [self._to_text(t, "string").strip() for t in items if str(t).strip()]

    def _sync_tags_field(self: Operations, m: Module, crmid: int) -> list[str]:  # type: ignore[misc]
        tags = [r[0] for r in self.store.conn.execute(
            "SELECT tag FROM tags WHERE crmid = ? ORDER BY rowid", (crmid,))]
        if "tags" in self.store.tables[m.name].data_columns:
            self.store.conn.execute(f"UPDATE {m.table} SET tags = ? WHERE crmid = ?",
                                    (",".join(tags), crmid))
        return tags

    def tags_add(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Add tags to a record."""
        m, crmid, _ = self.load_live(params.get("id"))
        tags = self._tag_list(params.get("tags"))
        with self.store.transaction():
            self.store.conn.executemany("INSERT OR IGNORE INTO tags (crmid, tag) VALUES (?, ?)",
                                        [(crmid, t) for t in tags])
            self._sync_tags_field(m, crmid)
        return {"message": "tags added"}

    def tags_retrieve(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Tags of a record."""
        _m, crmid, _ = self.load_live(params.get("id"))
        with self.store.lock:
            tags = [r[0] for r in self.store.conn.execute(
                "SELECT tag FROM tags WHERE crmid = ? ORDER BY rowid", (crmid,))]
        return {"tags": tags}

    def tags_delete(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Remove some tags, or all with ``delete_all``."""
        m, crmid, _ = self.load_live(params.get("id"))
        delete_all = str(params.get("delete_all", "")).lower() in ("1", "true", "yes", "on")
        tags = self._tag_list(params.get("tags"))
        with self.store.transaction():
            if delete_all:
                self.store.conn.execute("DELETE FROM tags WHERE crmid = ?", (crmid,))
            else:
                self.store.conn.executemany("DELETE FROM tags WHERE crmid = ? AND tag = ?",
                                            [(crmid, t) for t in tags])
            self._sync_tags_field(m, crmid)
        return {"message": "tags deleted"}

    # ------------------------------------------------------------------------ lookup
    def lookup(self: Operations, user: User, params: dict) -> list[dict]:  # type: ignore[misc]
        """Exact phone/email search over the given (or all phone/email) fields."""
        kind = str(params.get("type", "")).lower()
        if kind not in ("phone", "email"):
            raise VtigerApiError("INVALID_PARAMETER", "type must be phone or email", 400)
        value = str(params.get("value", ""))
        raw = params.get("searchIn")
        search: dict[str, list[str]] = {}
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                parsed = None
        if isinstance(parsed, dict):
            search = {str(k): list(v) if isinstance(v, list) else [] for k, v in parsed.items()}
        elif isinstance(parsed, list):
            search = {str(k): [] for k in parsed}
        elif isinstance(parsed, str):
            search = {parsed: []}
        else:
            search = {"Contacts": [], "Leads": [], "Accounts": []}
        out: list[dict] = []
        if not value:
            return out
        with self.store.lock:
            for name, wanted in search.items():
                m = self.module(name)
                mt = self.store.tables[m.name]
                cols = [f["name"] for f in m.describe["fields"] if f["type"]["name"] == kind]
                if wanted:
                    cols = [c for c in wanted if isinstance(c, str) and c in m.fields]
                if not cols:
                    continue
                where = " OR ".join(f"{qi(c)} = ?" for c in cols)
                rows = self.store.conn.execute(
                    f"{mt.select_sql} WHERE deleted = 0 AND ({where}) ORDER BY crmid LIMIT 100",
                    [value] * len(cols)).fetchall()
                out += rows_to_records(mt.fields, rows)
        return out

    def picklist_dependency(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """The value mapping of one (module, source field, target field) dependency.

        Dependencies come from the ``picklist_dependencies`` setting (the demo seed configures
        some). As Vtiger's ``getPickListDependency`` does, a pair without a configured
        dependency answers the same shape with an empty ``valuemapping``; the mapping keeps the
        configured order of source values.
        """
        m = self.module(params.get("module"))
        src, dst = params.get("sourcefield", ""), params.get("targetfield", "")
        for f in (src, dst):
            if f not in m.fields:
                raise access_denied(f"Permission to access {f} attribute denied.")
        mapping: list[dict] = []
        for dep in self.settings.get("picklist_dependencies") or ():
            if (dep["module"], dep["sourcefield"], dep["targetfield"]) == (m.name, src, dst):
                mapping = copy.deepcopy(dep["valuemapping"])
                break
        return {"sourcefield": src, "targetfield": dst, "valuemapping": mapping}

    # ------------------------------------------------------------------ convertlead
    def convertlead(self: Operations, user: User, params: dict) -> dict:  # type: ignore[misc]
        """Lead -> Account/Contact/Potential; the lead then shows as deleted in sync."""
        element = self.parse_element(params.get("element"))
        lead_id = element.get("leadId")
        if isinstance(lead_id, list):
            lead_id = lead_id[0] if lead_id else None
        m, crmid = self.parse_id(lead_id)
        if m.name != "Leads":
            raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
        with self.store.lock:
            done = self.store.conn.execute(
                "SELECT 1 FROM converted_leads WHERE crmid = ?", (crmid,)).fetchone()
        if done:
            raise VtigerApiError("LEAD_ALREADY_CONVERTED", "Lead is already converted", 400)
        m, crmid, lead = self.load_live(lead_id)
        owner = element.get("assignedTo") or lead.get("assigned_user_id") or user.id
        entities = element.get("entities") if isinstance(element.get("entities"), dict) else {}
        result: dict[str, str] = {}
        created: dict[str, dict] = {}
        for name in ("Accounts", "Contacts", "Potentials"):
            spec = entities.get(name)
            if not isinstance(spec, dict) or not spec.get("create", True):
                continue
            values = {dst: lead.get(src, "") for src, dst in LEAD_MAP[name].items()
                      if lead.get(src, "")}
            values.update({k: v for k, v in spec.items() if k not in ("create", "name")})
            values["assigned_user_id"] = owner
            if name == "Contacts" and "Accounts" in result:
                values.setdefault("account_id", result["Accounts"])
            if name == "Potentials":
                if "Accounts" in result:
                    values.setdefault("related_to", result["Accounts"])
                if "Contacts" in result:
                    values.setdefault("contact_id", result["Contacts"])
                values.setdefault("sales_stage", "Prospecting")
            if "isconvertedfromlead" in self.modules[name].fields:
                values["isconvertedfromlead"] = "1"
            rec = self.create(user, {"elementType": name, "element": values})
            created[name] = rec
            result[name] = rec["id"]
        if not result:
            raise VtigerApiError("MANDATORY_FIELDS_MISSING", "entities does not have a value", 400)
        with self.store.transaction():
            self.store.conn.execute("INSERT INTO converted_leads (crmid, result) VALUES (?, ?)",
                                    (crmid, json.dumps(result)))
            self.store.mark_deleted(m, crmid, now_epoch())
        return result

    # ------------------------------------------------------------ account hierarchy
    def get_account_hierarchy(self: Operations, user: User, params: dict) -> list[dict]:  # type: ignore[misc]
        """The parent chain and children of an account (``Accounts.account_id``)."""
        m, _crmid, rec = self.load_live(params.get("id"))
        if m.name != "Accounts":
            raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
        c = self.store.conn
        t = m.table
        with self.store.lock:
            root = rec
            seen = {rec["id"]}
            ancestors = set()
            while root.get("account_id") and root["account_id"] not in seen:
                row = c.execute(f"SELECT id, accountname, account_id FROM {t} "
                                "WHERE id = ? AND deleted = 0", (root["account_id"],)).fetchone()
                if row is None:
                    break
                seen.add(row[0])
                ancestors.add(row[0])
                root = {"id": row[0], "accountname": row[1], "account_id": row[2]}
            out: list[dict] = []
            stack: list[tuple[str, str, int]] = [(root["id"], root["accountname"], 0)]
            visited: set[str] = set()
            while stack:
                rid, name, level = stack.pop()
                if rid in visited:
                    continue
                visited.add(rid)
                out.append({"id": rid, "name": _htmlentities(name),
                            "label": "Parent Org" if rid in ancestors else "Org",
                            "level": level, "current": rid == rec["id"]})
                children = c.execute(
                    f"SELECT id, accountname FROM {t} WHERE account_id = ? AND deleted = 0 "
                    "ORDER BY crmid DESC", (rid,)).fetchall()
                stack.extend((cid, cname, level + 1) for cid, cname in children)
        return out


@dataclass
class Operations(ExtraOperations, _CoreOperations):
    """All operations of the sandbox; one instance per server."""
