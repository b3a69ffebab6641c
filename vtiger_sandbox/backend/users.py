"""Users, their access keys, and the webservice sessions they log in to."""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ..errors import VtigerApiError
from ..store import epoch_to_text, now_epoch, qi
from .core import HIDDEN_USER_FIELDS, Core, User

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


class UsersBackend:
    """The admin, other users, their access keys (the passwords of the API), groups."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def bootstrap(self, username: str = "admin", access_key: str | None = None) -> str:
        """Ensure admin user 19x1, the groups and the USD currency exist; returns the key.

        An existing database keeps its admin access key unless a new one is given.
        """
        st = self.core.store
        modules = self.core.modules
        users = modules["Users"]
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
            groups = modules["Groups"]
            if c.execute(f"SELECT COUNT(*) FROM {groups.table}").fetchone()[0] == 0:
                for i, (name, desc) in enumerate(GROUPS, start=2):
                    c.execute(
                        f"INSERT INTO {groups.table} (crmid, id, groupname, description) "
                        "VALUES (?, ?, ?, ?)",
                        (i, f"{groups.id_prefix}x{i}", name, desc),
                    )
            cur = modules["Currency"]
            if c.execute(f"SELECT COUNT(*) FROM {cur.table}").fetchone()[0] == 0:
                c.execute(
                    f"INSERT INTO {cur.table} (crmid, id, currency_name, currency_code, "
                    "currency_symbol, conversion_rate, currency_status, defaultid) "
                    "VALUES (1, ?, 'USA, Dollars', 'USD', '$', '1.00000', 'Active', '-11')",
                    (f"{cur.id_prefix}x1",),
                )
        return key

    def _fresh_currency_decimals(self) -> str:
        return FRESH_CURRENCY_DECIMALS["self-hosted" if self.core.self_hosted() else "cloud"]

    def _insert_user_row(self, rec: dict, crmid: int) -> None:
        users = self.core.modules["Users"]
        mt = self.core.store.tables["Users"]
        ts = epoch_to_text(now_epoch())
        rec = dict(rec)
        rec.setdefault("userlabel", f"{rec.get('first_name', '')} {rec.get('last_name', '')}")
        values = {c: rec.get(c, "") for c in mt.data_columns}
        for k in ("createdtime", "modifiedtime"):
            if k in values:
                values[k] = ts
        cols = ["crmid", "id", *values]
        self.core.store.conn.execute(
            f"INSERT INTO {users.table} ({', '.join(qi(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            (crmid, f"{users.id_prefix}x{crmid}", *values.values()),
        )

    def add_user(self, user_name: str, first_name: str = "", last_name: str = "",
                 access_key: str | None = None, email: str = "") -> dict:
        """Admin helper: a non-admin user with its own access key."""
        users = self.core.modules["Users"]
        key = access_key or secrets.token_hex(8)
        with self.core.store.transaction() as c:
            if c.execute(
                f"SELECT 1 FROM {users.table} WHERE user_name = ?", (user_name,)
            ).fetchone():
                raise VtigerApiError("DUPLICATE_USER", f"user {user_name} exists", 400)
            crmid = max(5, c.execute(
                f"SELECT MAX(crmid) FROM {users.table}").fetchone()[0] + 1)
            rec = dict(ADMIN_TEMPLATE, user_name=user_name, is_admin="off", is_owner="0",
                       no_of_currency_decimals=self._fresh_currency_decimals(),
                       first_name=first_name, last_name=last_name or user_name,
                       email1=email or f"{user_name}@example.com",
                       userlabel=f"{first_name} {last_name or user_name}".strip())
            self._insert_user_row(rec, crmid)
            c.execute("INSERT INTO access_keys (user_crmid, access_key) VALUES (?, ?)",
                      (crmid, key))
        user = self.by_crmid(crmid)
        assert user is not None
        return {**user.record, "access_key": key}

    def by_crmid(self, crmid: int) -> User | None:
        """The user record (without secrets)."""
        users = self.core.modules["Users"]
        with self.core.store.lock:
            got = self.core.store.fetch(users, crmid)
        if got is None:
            return None
        rec = {k: v for k, v in got[0].items() if k not in HIDDEN_USER_FIELDS}
        return User(crmid, rec["user_name"], rec)

    def by_name(self, user_name: str) -> User | None:
        """Look a user up by login name (exact match; MySQL would ignore case)."""
        users = self.core.modules["Users"]
        with self.core.store.lock:
            row = self.core.store.conn.execute(
                f"SELECT crmid FROM {users.table} WHERE user_name = ? AND deleted = 0",
                (user_name,),
            ).fetchone()
        return self.by_crmid(row[0]) if row else None

    def access_key(self, user: User) -> str:
        """A user's access key (the password of the API)."""
        with self.core.store.lock:
            row = self.core.store.conn.execute(
                "SELECT access_key FROM access_keys WHERE user_crmid = ?", (user.crmid,)
            ).fetchone()
        return row[0] if row else ""

    def authenticate_basic(self, user_name: str, key: str) -> User | None:
        """REST Basic auth: username + access key."""
        user = self.by_name(user_name)
        if user is None or not secrets.compare_digest(self.access_key(user), key):
            return None
        return user

    def me(self, user: User) -> dict:
        """Who am I: the calling user."""
        r = user.record
        return {"id": r["id"], "user_name": r.get("user_name", ""),
                "first_name": r.get("first_name", ""), "last_name": r.get("last_name", ""),
                "email1": r.get("email1", ""), "is_admin": r.get("is_admin", "off")}


class SessionsBackend:
    """``getchallenge`` / ``login`` / ``logout`` and the live sessions of webservice.php."""

    def __init__(self, core: Core, users: UsersBackend) -> None:
        self.core = core
        self.users = users
        self.sessions: dict[str, Session] = {}
        self.challenges: dict[str, Challenge] = {}

    def getchallenge(self, username: str) -> dict:
        """Issue a 5-minute token; a new one for the same user replaces the previous one."""
        if not username:
            raise VtigerApiError("ACCESS_DENIED", "No username given", 403)
        if self.users.by_name(username) is None:
            raise VtigerApiError("ACCESS_DENIED", "username does not exists", 403)
        now = self.core.clock()
        token = secrets.token_hex(7)[:13]
        ttl = int(self.core.settings.get("challenge_ttl", 300))
        self.challenges[username] = Challenge(token, now + ttl)
        return {"token": token, "serverTime": int(now), "expireTime": int(now) + ttl}

    def login(self, username: str, access_key_digest: str) -> dict:
        """``accessKey = md5(token + accesskey)``; returns a new session."""
        ch = self.challenges.get(username)
        now = self.core.clock()
        if ch is None or ch.expires < now:
            raise VtigerApiError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired", 401)
        user = self.users.by_name(username)
        if user is None:
            raise VtigerApiError("INVALID_AUTH_TOKEN", "Specified token is invalid or expired", 401)
        expected = hashlib.md5((ch.token + self.users.access_key(user)).encode()).hexdigest()  # noqa: S324
        if not secrets.compare_digest(expected, access_key_digest):
            raise VtigerApiError("INVALID_USER_CREDENTIALS", "Invalid username or password", 401)
        session = secrets.token_hex(10)
        if len(self.sessions) > 1000:
            self._prune(now)
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

    def _expired(self, s: Session, now: float) -> bool:
        settings = self.core.settings
        return (now - s.last_used > float(settings.get("session_idle_ttl", 1800))
                or now - s.created > float(settings.get("session_max_ttl", 86400)))

    def _prune(self, now: float) -> None:
        """Forget expired sessions (keeps memory flat under benchmarks that log in a lot)."""
        for name in [n for n, s in self.sessions.items() if self._expired(s, now)]:
            del self.sessions[name]

    def user(self, session_name: str | None) -> User:
        """The user of a live session; expired sessions are forgotten (INVALID_SESSIONID)."""
        if not session_name:
            raise VtigerApiError("AUTHENTICATION_REQUIRED", "Authencation required", 401)
        s = self.sessions.get(session_name)
        now = self.core.clock()
        if s is not None and self._expired(s, now):
            del self.sessions[session_name]
            s = None
        if s is None:
            raise VtigerApiError(
                "INVALID_SESSIONID", "Session Identifier provided is Invalid", 401
            )
        s.last_used = now
        user = self.users.by_crmid(s.user_crmid)
        if user is None:
            raise VtigerApiError("INVALID_SESSIONID", "Session Identifier provided is Invalid", 401)
        return user

    def logout(self, session_name: str | None) -> dict:
        """End the session."""
        if session_name:
            self.sessions.pop(session_name, None)
        return {"message": "successfull"}

    def clear(self) -> None:
        """Forget every session and challenge."""
        self.sessions.clear()
        self.challenges.clear()
