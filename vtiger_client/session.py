"""One Vtiger API client over either transport (:mod:`vtiger_client.transports`: REST for
Vtiger Cloud, webservice.php for self-hosted servers).

Why one class: the tap and the target need the same retries, pacing, budget and call counting
whatever the transport; only URL building, auth and error shapes differ, and the transport
owns those. A webservice.php session that expires is opened again once, transparently.

Retries (only :class:`RetryableError`): timeouts, dropped connections, 5xx, HTML or truncated
bodies and 429s, with full-jitter exponential backoff from the ``backoff`` library; a 429 waits
``Retry-After`` (or until ``X-FloodControl-Reset``). An HTTP 500 with an *empty* body is how
Vtiger crashes deterministically (stock 8.2 ``sync``, ``logout``...): retried only once, so a
caller can fall back quickly instead of burning five calls and a minute of backoff.

What the server offers: the open-source edition lacks Vtiger Cloud's extra operations
(:data:`OPTIONAL_OPERATIONS`: ``me``, ``tags_*``, ``lookup``, ``get_account_hierarchy``...) and
stock 8.2 on PHP 8 crashes on a few more; both answer HTTP 500 with an empty body. When one of
those crashes twice in a row, the client logs ONE warning, remembers it for the rest of the
run (:attr:`VtigerClient.unavailable`) and raises :class:`OperationUnavailableError`, also for
every later call of that operation (without sending it), so callers skip what needs it.
Bad requests and bad credentials are never retried.

Pacing: when ``X-FloodControl-Remaining`` falls below a low-water mark the client spreads the
remaining calls over the rest of the minute window instead of running into 429s.

Budget: with ``api_budget_percent`` the client refuses (``BudgetExhaustedError``) to make a call
once this run has spent that share of ``X-RateLimit-DailyLimit`` (or the server reports the
daily quota gone), so a scheduled run never starves the CRM's other integrations.

Secrets: the access key, session name and Authorization header never reach a log line or an
exception text (errors carry the operation, code and server message only; :func:`errors.scrub`
masks anything secret-looking a server might echo).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import email.utils
import hashlib
import json
import logging
import threading
import time
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

import backoff
import requests
from requests.adapters import HTTPAdapter

from vtiger_client import vtql
from vtiger_client.config import ClientConfig
from vtiger_client.errors import (
    SESSION_CODES,
    AuthenticationError,
    BudgetExhaustedError,
    FatalError,
    OperationUnavailableError,
    RateLimitError,
    RetryableError,
    VtigerError,
    error_from_payload,
    refused_before_work,
    scrub,
)
from vtiger_client.transports import SESSION_OPENERS, transport_for

try:  # msgspec decodes sync/query pages ~2-3x faster than json; optional.
    import msgspec

    _decode = msgspec.json.Decoder().decode
    _DecodeErrors: tuple[type[Exception], ...] = (ValueError, msgspec.DecodeError)
except ImportError:  # pragma: no cover - msgspec is a dependency via singer-sdk[msgspec]
    _decode = json.loads
    _DecodeErrors = (ValueError,)

log = logging.getLogger("vtiger_client")


class _ScrubSecrets(logging.Filter):
    """urllib3 logs request URLs at DEBUG; for webservice.php GETs they hold the sessionName.
    Mask secret-looking query parameters in those records (defence in depth).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(scrub_text(a) if isinstance(a, str) else a for a in args)
        return True


def scrub_text(text: str) -> str:
    """Mask ``sessionName=...`` / ``accessKey=...`` in a URL or log text."""
    return scrub(text) if ("=" in text or ":" in text) else text


logging.getLogger("urllib3.connectionpool").addFilter(_ScrubSecrets())

#: Vtiger's declared HTTP method per operation (webservice.php reads parameters only from the
#: source that method implies: GET ops from the query string, POST ops from the form).
OPERATION_METHODS: dict[str, str] = {
    "getchallenge": "GET",
    "login": "POST",
    "logout": "POST",
    "me": "GET",
    "listtypes": "GET",
    "describe": "GET",
    "create": "POST",
    "retrieve": "GET",
    "update": "POST",
    "revise": "POST",
    "delete": "POST",
    "query": "GET",
    "sync": "GET",
    "relatedtypes": "GET",
    "retrieve_related": "GET",
    "query_related": "GET",
    "add_related": "POST",
    "delete_related": "POST",
    "tags_add": "POST",
    "tags_retrieve": "GET",
    "tags_delete": "POST",
    "lookup": "GET",
    "picklist_dependency": "GET",
    "convertlead": "POST",
    "get_account_hierarchy": "GET",
    "extendsession": "POST",
}

#: Operations a Vtiger server may lack: Cloud-only ones (the open-source edition answers them
#: with HTTP 500 and an empty body) and those stock 8.2 on PHP 8 crashes on. ``sync`` is not
#: here: module streams fall back to ``query`` themselves and re-try sync later.
OPTIONAL_OPERATIONS = frozenset({
    "me", "tags_add", "tags_retrieve", "tags_delete", "tag_delete", "lookup",
    "get_account_hierarchy", "editionLimits", "picklist_dependency", "reopen", "decrypt",
    "add_picklist", "edit_picklist", "delete_picklist", "convertlead", "files_retrieve",
})

#: Fraction of the per-minute limit under which the client starts spreading its calls.
PACE_LOW_WATER = 0.1
#: A 429 asking to wait longer than this is not a burst but an exhausted quota (Vtiger Cloud's
#: daily limit answers with Retry-After until midnight UTC): stop cleanly instead of sleeping.
MAX_RATE_LIMIT_WAIT = 900.0


#: Rows per ``query_related`` call (Vtiger's cap, like ``query``).
RELATED_PAGE = 100
#: Most records one API Designer bulk request may carry (an ``<upsert bulk="true">`` endpoint
#: or a bulk webhook): Vtiger's limit.
BULK_LIMIT = 50


def unique_ids(rows: t.Iterable[t.Any]) -> list[str]:
    """Record ids of an answer's rows (dicts with ``id``, or bare ids), first-seen order."""
    out: list[str] = []
    seen: set[str] = set()
    for row in rows or []:
        rid = row.get("id") if isinstance(row, dict) else row
        if rid and str(rid) not in seen:
            seen.add(str(rid))
            out.append(str(rid))
    return out


@dataclass
class RateInfo:
    """The last rate-limit headers seen (None = never reported)."""

    minute_limit: int | None = None
    minute_remaining: int | None = None
    minute_reset: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None


def _int_header(headers: t.Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _read_body(response: requests.Response) -> bytes:
    """The whole body of a ``stream=True`` response in one read: requests' ``.content`` reads
    it in 10 KB chunks, ~15% of the client's CPU on a 100-record page. Errors while reading are
    requests' own (``ChunkedEncodingError``, ``ConnectionError``), as with ``.content``.
    """
    if response.raw is None:  # a response built in memory (tests)
        return response.content or b""
    return b"".join(response.iter_content(1 << 22))


class _Session(requests.Session):
    """requests' Session, reading the environment (proxies, CA bundle) once per host and
    settings instead of on every call (requests scans ``os.environ`` twice per request: a
    quarter of the client's CPU per sync page).
    """

    def __init__(self) -> None:
        super().__init__()
        self._env_settings: dict[tuple, dict[str, t.Any]] = {}

    def merge_environment_settings(self, url: t.Any, proxies: t.Any, stream: t.Any,
                                   verify: t.Any, cert: t.Any) -> dict[str, t.Any]:
        """The merge of requests, cached per (scheme, host, arguments)."""
        if verify is None:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the *session's* verify
            # (requests#3829): with one of them set, ca_bundle and verify_ssl=false were ignored.
            # The session's setting (from ca_bundle/verify_ssl) decides; True still uses them.
            verify = self.verify
        key = (urlsplit(str(url))[:2], tuple(sorted((proxies or {}).items())), stream, verify,
               cert if not isinstance(cert, list) else tuple(cert))
        settings = self._env_settings.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._env_settings[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


@dataclass
class _RunState:
    """What every view of one client shares besides its counters: the webservice session,
    the user it belongs to, the server's clock offset and whether the server answered yet.
    """

    session_name: str | None = None
    user_id: str | None = None
    server_offset: float | None = None
    reached: bool = False


class VtigerClient:
    """A Vtiger API client; see the module docstring. Thread-safe enough for one tap/target."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        session: requests.Session | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.base_url = config.base_url()
        #: where calls go, how they authenticate, what a non-answer means
        self.transport = transport_for(config.api_style, self.base_url)
        #: API calls spent, by operation (every request sent, including retries and logins).
        self.calls: collections.Counter[str] = collections.Counter()
        #: Calls answered 429 (not charged by Vtiger), by operation.
        self.rejected: collections.Counter[str] = collections.Counter()
        self.rate = RateInfo()
        self._run = _RunState()
        #: operations this server turned out not to offer (name -> why), for the whole run
        self.unavailable: dict[str, str] = {}
        #: called with the operation name when the client finds one missing (the tap keeps
        #: it in its state so later runs do not spend calls finding out again)
        self.on_unavailable: t.Callable[[str], None] | None = None
        self._warned_unavailable: set[str] = set()
        self._sleep = sleep
        self._clock = clock
        self._login_lock = threading.RLock()
        self._count_lock = threading.Lock()  # prefetch threads and child streams count too
        self.http = session or _Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.headers["User-Agent"] = config.user_agent
        self.http.headers["Accept"] = "application/json"
        self.http.verify = config.ca_bundle if config.ca_bundle else config.verify_ssl
        self.transport.authenticate(self.http, config)

    def __repr__(self) -> str:
        cfg = self.config
        return f"VtigerClient({self.base_url!r}, user={cfg.username!r}, style={cfg.api_style!r})"

    def without_retries(self) -> VtigerClient:
        """A view of this client that never retries a call, for a write whose lost answer may
        mean it happened (the caller checks before trying again, instead of a transport retry
        writing twice).

        The view is the same connection with another retry policy: it shares the session (one
        login per run; a re-login by either serves both), the call counters (one
        ``api_budget_percent`` for the run), the rate-limit state (pacing), the operations
        found missing, the HTTP connection pool and the server clock.
        """
        view = copy.copy(self)  # shallow: every mutable part above is the same object
        view.config = dataclasses.replace(self.config, max_retries=0)
        return view

    @property
    def user_id(self) -> str | None:
        """The logged-in user's id (webservice ``login``; None before it and with REST)."""
        return self._run.user_id

    @property
    def server_offset(self) -> float | None:
        """Server clock - local clock (s), the largest seen in a ``Date`` header or a
        getchallenge ``serverTime`` (None before the first answer); see :meth:`server_now`.
        """
        return self._run.server_offset

    @property
    def reached(self) -> bool:
        """Whether any request got an HTTP answer (a refused first connection is a wrong
        api_url, not a hiccup worth retrying).
        """
        return self._run.reached

    # ------------------------------------------------------------------ accounting

    @property
    def total_calls(self) -> int:
        """Calls this client has sent (all operations)."""
        return sum(self.calls.values())

    def budget_allowed(self) -> int | None:
        """Calls this run may spend under ``api_budget_percent`` (None: no limit known/set)."""
        pct = self.config.api_budget_percent
        if pct is None or self.rate.daily_limit is None:
            return None
        return max(1, int(self.rate.daily_limit * pct / 100.0))

    def _check_budget(self, operation: str) -> None:
        allowed = self.budget_allowed()
        if allowed is None:
            return
        spent = self.total_calls - sum(self.rejected.values())
        if spent >= allowed:
            raise BudgetExhaustedError(
                "BUDGET_EXHAUSTED",
                f"this run spent {spent} calls = {self.config.api_budget_percent}% of the daily "
                f"limit {self.rate.daily_limit}; stopping before {operation}",
                operation=operation,
            )
        if self.rate.daily_remaining is not None and self.rate.daily_remaining <= 0:
            raise BudgetExhaustedError(
                "BUDGET_EXHAUSTED", "the server reports the daily API limit used up",
                operation=operation,
            )

    def _read_rate_headers(self, headers: t.Mapping[str, str]) -> None:
        rate = self.rate
        for attr, name in (
            ("minute_limit", "X-FloodControl-MinuteLimit"),
            ("minute_remaining", "X-FloodControl-Remaining"),
            ("minute_reset", "X-FloodControl-Reset"),
            ("daily_limit", "X-RateLimit-DailyLimit"),
            ("daily_remaining", "X-RateLimit-Remaining"),
        ):
            value = _int_header(headers, name)
            if value is not None and attr.endswith("_reset"):
                value = float(headers[name])  # a fraction of a second counts when pacing
            if value is not None:
                setattr(rate, attr, value)

    def pace_delay(self) -> float:
        """Seconds to wait before the next call so the minute budget lasts the minute.

        Below ``PACE_LOW_WATER`` of the minute limit, the remaining calls are spread evenly
        over the time left in the window; above it, no delay (the common case costs nothing).
        """
        rate = self.rate
        if rate.minute_remaining is None or rate.minute_limit is None or rate.minute_reset is None:
            return 0.0
        low_water = max(2, int(rate.minute_limit * PACE_LOW_WATER))
        if rate.minute_remaining > low_water:
            return 0.0
        window = max(0.0, rate.minute_reset - self._clock())
        return min(window, window / max(1, rate.minute_remaining))

    # ------------------------------------------------------------------ the call

    def call(self, operation: str, method: str | None = None, **params: t.Any) -> t.Any:
        """Run one API operation and return its ``result``; retries what is retryable.

        ``method`` defaults to Vtiger's declared method for the operation. Parameters that are
        dicts/lists are sent JSON-encoded (``element``, ``tags``...).
        """
        method = (method or OPERATION_METHODS.get(operation, "GET")).upper()
        if method == "GET" and operation in OPERATION_METHODS:
            method = OPERATION_METHODS[operation]
        if operation in self.unavailable:
            self._warn_unavailable(operation)
            raise OperationUnavailableError("UNAVAILABLE", self.unavailable[operation],
                                            operation=operation)
        wire = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in params.items()}
        max_retries = self.config.max_retries
        attempt = 0
        crashes = 0
        relogged = False
        while True:
            try:
                return self._once(operation, method, wire)
            except RateLimitError as exc:
                self._stop_if_quota_gone(exc)
                attempt += 1
                if attempt > max_retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                log.warning("%s: rate limited; waiting %.1f s (retry %d/%d)", operation, wait,
                            attempt, max_retries)
                self._sleep(max(0.0, float(wait)))
            except RetryableError as exc:
                attempt += 1
                crash = exc.code == "EMPTY_RESPONSE"
                crashes += crash
                # me has a complete fallback (the login's user record): no second try
                if crash and operation in OPTIONAL_OPERATIONS and (
                        crashes > 1 or operation == "me"):
                    raise self._lacks(operation) from None
                if attempt > max_retries or crashes > 1:
                    raise
                wait = self._backoff(attempt)
                # a crash is logged once, by whoever decides what it means (fallback, skip)
                (log.info if crash else log.warning)(
                    "%s: %s; retrying in %.1f s (retry %d/%d)", operation, exc.detail(), wait,
                    attempt, max_retries)
                self._sleep(wait)
            except AuthenticationError as exc:
                if (
                    self.transport.has_session
                    and exc.code in SESSION_CODES
                    and operation not in SESSION_OPENERS
                    and not relogged
                ):
                    relogged = True
                    log.info("%s: session expired (%s); logging in again", operation, exc.code)
                    with self._login_lock:
                        self._run.session_name = None
                    continue
                raise

    def _lacks(self, operation: str) -> OperationUnavailableError:
        """Remember that the server does not offer ``operation``; warn once per run."""
        why = ("not offered by this server (HTTP 500 with an empty body twice: an operation "
               "only Vtiger Cloud has, or one this Vtiger build crashes on); skipped")
        if operation not in self.unavailable:
            self.unavailable[operation] = why
            self._warn_unavailable(operation)
            if self.on_unavailable is not None:
                self.on_unavailable(operation)
        return OperationUnavailableError("UNAVAILABLE", why, operation=operation)

    def assume_unavailable(self, operation: str, why: str) -> None:
        """Treat ``operation`` as missing without asking (found so by an earlier run)."""
        self.unavailable.setdefault(operation, why)

    def _warn_unavailable(self, operation: str) -> None:
        """One warning per operation and run, when something first needs it."""
        if operation in self._warned_unavailable or operation == "me":
            return  # me has a complete fallback (the login's user record): nothing is lost
        self._warned_unavailable.add(operation)
        log.warning("%s: %s", operation, self.unavailable[operation])

    def offers(self, operation: str, **probe: t.Any) -> bool:
        """Whether the server offers ``operation``: one harmless call (``probe`` parameters
        that cannot change data); any JSON answer, even an error, means it exists.
        """
        try:
            self.call(operation, **probe)
        except OperationUnavailableError:
            return False
        except (FatalError, RateLimitError):
            raise
        except VtigerError:
            return True
        return True

    def _stop_if_quota_gone(self, exc: RateLimitError) -> None:
        """Turn a 429 that cannot clear soon into a clean :class:`BudgetExhaustedError`.

        Why: sleeping until the daily quota resets (hours) would hold a scheduler slot and
        look like a hang; stopping with the state saved lets the next scheduled run resume.
        """
        daily_gone = self.rate.daily_remaining is not None and self.rate.daily_remaining <= 0
        wait = exc.retry_after
        if daily_gone or (wait is not None and wait > MAX_RATE_LIMIT_WAIT):
            hours = f"; it resets in {wait / 3600:.1f} h" if wait is not None else ""
            what = "the daily API limit is used up" if daily_gone else (
                f"the server asks to wait {wait:.0f} s before the next call")
            raise BudgetExhaustedError(
                "DAILY_LIMIT", f"{what}{hours if daily_gone else ''}; stopping cleanly, the "
                "next run resumes from the saved state", 429, exc.operation,
            ) from None

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff (AWS's recommendation, as the ``backoff`` library
        implements it): uniform in [0, min(max, base * 2**(attempt-1))].
        """
        cap = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return backoff.full_jitter(cap)

    def _once(self, operation: str, method: str, params: dict[str, t.Any]) -> t.Any:
        """One HTTP request: auth, rate/budget checks, error mapping."""
        self._check_budget(operation)
        delay = self.pace_delay()
        if delay > 0:
            log.info("pacing: %s calls left this minute; waiting %.2f s",
                     self.rate.minute_remaining, delay)
            self._sleep(delay)
        url, payload = self.transport.address(operation, params, self._ensure_session)
        return self._send(operation, method, url, payload)

    def _send(self, operation: str, method: str, url: str, payload: dict[str, t.Any]) -> t.Any:
        with self._count_lock:
            self.calls[operation] += 1
        timeout = self.config.request_timeout
        try:
            if method == "GET":
                response = self.http.get(url, params=payload, timeout=timeout, stream=True)
            else:
                response = self.http.post(url, data=payload, timeout=timeout, stream=True)
            body = _read_body(response)
        except requests.exceptions.Timeout:
            raise RetryableError("TIMEOUT", f"no answer within {timeout} s",
                                 operation=operation) from None
        except requests.exceptions.SSLError as exc:
            raise FatalError("TLS", f"TLS verification failed ({type(exc).__name__}); set "
                             "ca_bundle for a private CA", operation=operation) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            where = _host_port(url)
            if _refused(exc):
                message = f"connection to {where} refused: nothing listens there"
                if not self.reached:
                    raise FatalError("CONNECTION_REFUSED", f"{message}; check api_url",
                                     operation=operation) from None
                raise RetryableError("CONNECTION_REFUSED", message, operation=operation) from None
            raise RetryableError("CONNECTION", f"connection to {where} failed "
                                 f"({type(exc).__name__})", operation=operation) from None
        self._run.reached = True
        return self._result(operation, response, body)

    def _result(self, operation: str, response: requests.Response,
                body: bytes | None = None) -> t.Any:
        """Map one HTTP response (and its body, when read already) to a result or an exception."""
        headers = response.headers
        self._read_rate_headers(headers)
        self._read_server_clock(headers.get("Date"))
        status = response.status_code
        if body is None:
            body = response.content
        if status == 429:
            with self._count_lock:
                self.rejected[operation] += 1
            raise RateLimitError("TOO_MANY_REQUESTS", "rate limited", 429, operation,
                                 retry_after=self._retry_after(headers))
        envelope: t.Any = None
        if body:
            try:
                envelope = _decode(body)
            except _DecodeErrors:
                envelope = None
        if isinstance(envelope, dict) and "success" in envelope:
            if envelope.get("success"):
                return envelope.get("result")
            err = envelope.get("error") or {}
            message = err.get("message") or headers.get("X-Error-Message") or response.reason
            raise error_from_payload(err.get("code"), message, status if status >= 400 else None,
                                     operation)
        # No envelope: an HTTP error, a crash, an HTML page or a truncated body.
        if status >= 400:
            code = "EMPTY_RESPONSE" if (status == 500 and not body.strip()) else f"HTTP_{status}"
            message = (headers.get("X-Error-Message") or response.reason or code) + \
                self.transport.error_hint(status)
            if code == "EMPTY_RESPONSE":
                return self._raise(RetryableError(code, "server crashed (HTTP 500, empty body)",
                                                  status, operation))
            return self._raise(error_from_payload(None if status >= 500 else code, message,
                                                  status, operation))
        wrong_api = self.transport.not_an_api(body)
        if wrong_api:
            raise FatalError("HTTP_200_LOGIN_PAGE", wrong_api, status, operation)
        kind = "HTML page" if body.lstrip()[:1] == b"<" else (
            "empty body" if not body.strip() else "truncated or invalid JSON")
        raise RetryableError("BAD_RESPONSE", f"{kind} instead of a JSON answer (HTTP {status})",
                             status, operation)

    def _read_server_clock(self, value: t.Any) -> None:
        """Note the server's clock from a ``Date`` header (an HTTP date) or a ``serverTime``
        (unix seconds). Both are whole seconds stamped before the answer travelled, so each
        reading is at most the true offset; the largest one seen is kept.
        """
        if value is None:
            return
        try:
            if isinstance(value, (int, float)) or str(value).isdigit():
                server = float(value)
            else:
                server = email.utils.parsedate_to_datetime(str(value)).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        offset = server - self._clock()
        if self._run.server_offset is None or offset > self._run.server_offset:
            self._run.server_offset = offset

    def server_now(self, *, ask: bool = False) -> float:
        """The server's current time (unix seconds) as far as its answers tell; the local
        clock before the first answer, unless ``ask``: then one answer is fetched first (the
        session login with webservice.php, due anyway; one ``me`` call with REST). The
        estimate lags the truth by up to a second (HTTP dates are whole seconds), never leads
        it when the answers' clocks are right.
        """
        if ask and self.server_offset is None:
            with contextlib.suppress(RetryableError):
                if self.transport.has_session:
                    self._ensure_session()
                else:
                    self.call("me")
        return self._clock() + (self.server_offset or 0.0)

    @staticmethod
    def _raise(exc: VtigerError) -> t.NoReturn:
        raise exc

    def _retry_after(self, headers: t.Mapping[str, str]) -> float | None:
        value = headers.get("Retry-After")
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
        reset = _int_header(headers, "X-FloodControl-Reset")
        if reset is not None:
            return max(0.0, reset - self._clock())
        return None

    # ------------------------------------------------------------------ sessions

    def _ensure_session(self) -> str:
        with self._login_lock:
            if self._run.session_name is None:
                self.login()
            assert self._run.session_name is not None
            return self._run.session_name

    def login(self) -> dict[str, t.Any]:
        """``getchallenge`` + ``login`` when the transport has sessions (webservice.php); REST
        needs no login.

        The token is fresh (a new getchallenge invalidates older tokens), so two attempts at
        most: a stale token (``INVALID_AUTH_TOKEN``) gets one new challenge.
        """
        if not self.transport.has_session:
            return {}
        with self._login_lock:
            for attempt in (1, 2):
                challenge = self._send("getchallenge", "GET", self.transport.url,
                                       {"operation": "getchallenge",
                                        "username": self.config.username})
                token = str((challenge or {}).get("token", ""))
                self._read_server_clock((challenge or {}).get("serverTime"))
                digest = hashlib.md5((token + self.config.access_key).encode()).hexdigest()  # noqa: S324 - Vtiger's protocol
                try:
                    result = self._send("login", "POST", self.transport.url,
                                        {"operation": "login", "username": self.config.username,
                                         "accessKey": digest})
                except AuthenticationError as exc:
                    if exc.code == "INVALID_AUTH_TOKEN" and attempt == 1:
                        continue
                    raise
                self._run.session_name = str(result["sessionName"])
                self._run.user_id = result.get("userId")
                return {k: v for k, v in result.items() if k != "sessionName"}
        raise AuthenticationError("INVALID_AUTH_TOKEN", "login failed", operation="login")

    def logout(self) -> None:
        """End the session (best effort: stock 8.2 crashes on logout)."""
        if not self.transport.has_session or self._run.session_name is None:
            return
        with contextlib.suppress(VtigerError):
            self._send("logout", "POST", self.transport.url,
                       {"operation": "logout", "sessionName": self._run.session_name})
        self._run.session_name = None

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    # ------------------------------------------------------------------ typed helpers

    def me(self) -> dict[str, t.Any]:
        """The calling user (``me``); on webservice.php servers without ``me``, the user
        record retrieved via the login's userId.
        """
        if "me" in self.unavailable and self.transport.has_session:
            self._ensure_session()
            return self.retrieve(str(self.user_id))
        try:
            return self.call("me")
        except VtigerError as exc:
            if not self.transport.has_session or isinstance(exc, AuthenticationError):
                raise
            self._ensure_session()
            return self.retrieve(str(self.user_id))

    def listtypes(self, field_types: t.Sequence[str] | None = None) -> dict[str, t.Any]:
        """``listtypes``: ``{"types": [...], "information": {Module: {...}}}``."""
        if field_types:
            return self.call("listtypes", fieldTypeList=list(field_types))
        return self.call("listtypes")

    def describe(self, module: str) -> dict[str, t.Any]:
        """``describe``; an unknown module raises UnknownModuleError."""
        return self.call("describe", elementType=module)

    def query(self, vtql: str) -> list[dict[str, t.Any]]:
        """One VTQL call (at most 100 rows, whatever ``limit`` says)."""
        return self.call("query", query=vtql) or []

    def query_all(
        self,
        module: str,
        fields: str | t.Sequence[str] = "*",
        where: str | None = None,
        page_size: int = 100,
    ) -> t.Iterator[dict[str, t.Any]]:
        """Every row of ``select fields from module [where ...]``, ordered by ``id``, paged by
        offset. Fine for small, stable tables (Users, Groups, Currency); incremental reads of
        changing modules should use the tap's keyset paging instead.
        """
        offset = 0
        while True:
            rows = self.query(vtql.select(module, fields, where=where, order_by="id",
                                          limit=page_size, offset=offset))
            yield from rows
            if len(rows) < page_size:
                return
            offset += len(rows)

    def sync(self, module: str, modified_time: int, sync_type: str | None = "application") -> dict:
        """One ``sync`` page: ``{"updated", "deleted", "lastModifiedTime", "more"}``.

        ``modified_time`` must be >= 1 (0 crashes Vtiger); it is clamped.
        """
        params: dict[str, t.Any] = {"modifiedTime": max(1, int(modified_time)),
                                    "elementType": module}
        if sync_type:
            params["syncType"] = sync_type
        return self.call("sync", **params)

    def retrieve(self, record_id: str) -> dict[str, t.Any]:
        """``retrieve`` one record by ``NxM`` id."""
        return self.call("retrieve", id=record_id)

    def create(self, module: str, element: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """``create``; returns the whole stored record."""
        return self.call("create", elementType=module, element=dict(element))

    def revise(self, element: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """``revise`` (partial update; needs ``id``)."""
        return self.call("revise", element=dict(element))

    def update(self, element: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """``update`` (every mandatory field needed)."""
        return self.call("update", element=dict(element))

    def delete(self, record_id: str) -> dict[str, t.Any]:
        """``delete`` one record."""
        return self.call("delete", id=record_id)

    def relatedtypes(self, module: str) -> dict[str, t.Any]:
        """Relations of a module."""
        return self.call("relatedtypes", elementType=module)

    def retrieve_related(self, record_id: str, label: str, module: str) -> list[dict]:
        """Related records (whole records, no paging)."""
        return self.call("retrieve_related", id=record_id, relatedLabel=label,
                         relatedType=module) or []

    def query_related(self, query: str, record_id: str, label: str) -> list[dict]:
        """VTQL over a relation (no trailing ``;``, upper-case ``WHERE``)."""
        return self.call("query_related", query=query, id=record_id, relatedLabel=label) or []

    def related_ids(self, source_id: str, label: str, related_module: str) -> list[str]:
        """Ids related to ``source_id`` through ``label``: ``query_related`` paged by 100,
        ``select id`` only (the tap's link streams and the target's existing-link check both
        need just the ids).
        """
        if not related_module.isidentifier():  # a module name, never user text in a query
            msg = f"not a module name: {related_module!r}"
            raise ValueError(msg)
        ids: list[str] = []
        seen: set[str] = set()
        offset = 0
        while True:
            query = f"select id from {related_module}"  # noqa: S608 - identifier checked
            if offset:
                query += f" limit {offset}, {RELATED_PAGE}"
            rows = self.query_related(query, source_id, label)
            fresh = [i for i in unique_ids(rows) if i not in seen]
            seen.update(fresh)
            ids.extend(fresh)
            # a short page is the last; a page adding nothing new means the server ignores
            # the limit clause (then the first page already held everything it will give)
            if len(rows) < RELATED_PAGE or not fresh:
                return ids
            offset += RELATED_PAGE

    def add_related(self, source_id: str, related_id: str, label: str | None = None) -> t.Any:
        """Link two records."""
        params = {"sourceRecordId": source_id, "relatedRecordId": related_id}
        if label:
            params["relationIdLabel"] = label
        return self.call("add_related", **params)

    def delete_related(self, source_id: str, related_id: str, label: str | None = None) -> t.Any:
        """Unlink two records."""
        params = {"sourceRecordId": source_id, "relatedRecordId": related_id}
        if label:
            params["relationIdLabel"] = label
        return self.call("delete_related", **params)

    def tags_add(self, record_id: str, tags: t.Sequence[str]) -> t.Any:
        """Add tags to a record."""
        return self.call("tags_add", id=record_id, tags=list(tags))

    def tags_retrieve(self, record_id: str) -> t.Any:
        """Tags of a record."""
        return self.call("tags_retrieve", id=record_id)

    def tags_delete(self, record_id: str, tags: t.Sequence[str] = (),
                    delete_all: bool = False) -> t.Any:
        """Remove tags (or all) from a record."""
        params: dict[str, t.Any] = {"id": record_id, "tags": list(tags)}
        if delete_all:
            params["delete_all"] = "true"
        return self.call("tags_delete", **params)

    def lookup(self, kind: str, value: str, search_in: t.Any = None) -> list[dict]:
        """Phone/email lookup."""
        params: dict[str, t.Any] = {"type": kind, "value": value}
        if search_in is not None:
            params["searchIn"] = search_in
        return self.call("lookup", **params) or []

    def picklist_dependency(self, module: str, source_field: str, target_field: str) -> t.Any:
        """Dependent picklist mapping."""
        return self.call("picklist_dependency", module=module, sourcefield=source_field,
                         targetfield=target_field)

    def convertlead(self, element: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Convert a lead (``{"leadId", "entities": {...}}``)."""
        return self.call("convertlead", element=dict(element))

    def get_account_hierarchy(self, record_id: str) -> t.Any:
        """The account tree around an account."""
        return self.call("get_account_hierarchy", id=record_id)

    # ------------------------------------------------------------------ API Designer

    def api_designer(
        self,
        method: str,
        path: str,
        params: t.Mapping[str, t.Any] | None = None,
        json: t.Any = None,
    ) -> t.Any:
        """Call ``<instance>/restapi/vtap/api/<path>`` with Basic auth (same retries, pacing,
        counting as core calls; counted as ``api:<path>``).
        """
        url = f"{self.base_url}/restapi/vtap/api/{path.lstrip('/')}"
        return self._custom(f"api:{path}", method, url, params=params, json_body=json,
                            auth=(self.config.username, self.config.access_key))

    def webhook(self, path: str, body: t.Any, token: str, placement: str = "header", *,
                resend_unconfirmed: bool = True) -> t.Any:
        """POST ``body`` to ``<instance>/restapi/vtap/webhook/<path>`` with its own token.

        ``resend_unconfirmed=False`` is for webhooks that create: a timeout, dropped
        connection, 5xx or truncated answer after the request left says nothing about whether
        the records were written, so only answers that refuse before any work (429, 503) are
        retried; the others are raised for the caller to keep the records as unconfirmed.
        """
        url = f"{self.base_url}/restapi/vtap/webhook/{path.lstrip('/')}"
        headers = params = None
        if placement == "header":
            headers = {"token": token}
        else:
            params = {"token": token}
        return self._custom(f"webhook:{path}", "POST", url, params=params, json_body=body,
                            headers=headers, resend_unconfirmed=resend_unconfirmed)

    def _custom(self, name: str, method: str, url: str, *, params: t.Any = None,
                json_body: t.Any = None, auth: t.Any = None, headers: t.Any = None,
                resend_unconfirmed: bool = True) -> t.Any:
        attempt = 0
        while True:
            try:
                self._check_budget(name)
                with self._count_lock:
                    self.calls[name] += 1
                try:
                    response = self.http.request(
                        method.upper(), url, params=params, json=json_body, auth=auth,
                        headers=headers, timeout=self.config.request_timeout)
                except requests.exceptions.Timeout:
                    raise RetryableError("TIMEOUT", "no answer in time", operation=name) from None
                except (requests.exceptions.ConnectionError,
                        requests.exceptions.ChunkedEncodingError) as exc:
                    raise RetryableError("CONNECTION", f"connection failed ({type(exc).__name__})",
                                         operation=name) from None
                return self._result(name, response)
            except RetryableError as exc:
                if isinstance(exc, RateLimitError):
                    self._stop_if_quota_gone(exc)
                elif not resend_unconfirmed and not refused_before_work(exc):
                    raise
                attempt += 1
                if attempt > self.config.max_retries:
                    raise
                wait = (exc.retry_after if isinstance(exc, RateLimitError) and exc.retry_after
                        is not None else self._backoff(attempt))
                self._sleep(wait)


def _host_port(url: str) -> str:
    """``host:port`` of a URL, for error lines (never the path, query or credentials)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _refused(exc: BaseException) -> bool:
    """Whether a connection error is a refused TCP connection (nothing listens there)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ConnectionRefusedError):
            return True
        todo += [err.__cause__, err.__context__, getattr(err, "reason", None)]
        todo += [a for a in err.args if isinstance(a, BaseException)]
    return False
