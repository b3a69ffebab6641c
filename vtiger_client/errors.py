"""Vtiger error codes -> exception classes.

Why a hierarchy: callers decide by *class*, not by code string. The client retries only
:class:`RetryableError`; a tap or target stops on :class:`FatalError`; a target rejects one
record on :class:`RecordError` and carries on. ``str(err)`` is always one line and carries no
secret (callers must never pass access keys or session ids into a message; :func:`scrub` removes
anything that looks like one as a second line of defence).
"""

from __future__ import annotations

import re

#: Codes that say "your credentials or session are wrong" (never retried; a session-style client
#: re-logs in once on the session ones before giving up).
AUTH_CODES = frozenset(
    {
        "INVALID_USER_CREDENTIALS",
        "INVALID_AUTH_TOKEN",
        "AUTHENTICATION_REQUIRED",
        "INVALID_SESSIONID",
        "SESSION_EXPIRED",
        "INVALID_USERNAME",
    }
)
#: Session codes after which one fresh login is worth trying.
SESSION_CODES = frozenset({"INVALID_SESSIONID", "SESSION_EXPIRED", "AUTHENTICATION_REQUIRED"})
#: Codes about one record's content or identity.
RECORD_CODES = frozenset(
    {
        "MANDATORY_FIELDS_MISSING",
        "REFERENCE_INVALID",
        "INVALID_ID_ATTRIBUTE",
        "RECORD_NOT_FOUND",
        "LEAD_ALREADY_CONVERTED",
        "UNKOWN_ENTITY",
        "UNKNOWN_ENTITY",
        "INVALID_MODULE",
        "DUPLICATE_RECORD",
        "DUPLICATES_DETECTED",
    }
)
#: Operations whose ACCESS_DENIED concerns one record (missing, deleted, not visible).
RECORD_OPERATIONS = frozenset(
    {
        "retrieve",
        "revise",
        "update",
        "delete",
        "create",
        "convertlead",
        "add_related",
        "delete_related",
        "retrieve_related",
        "query_related",
        "tags_add",
        "tags_delete",
        "tags_retrieve",
        "get_account_hierarchy",
    }
)
#: Operations whose ACCESS_DENIED means "no such module" (Vtiger says nothing more precise).
MODULE_OPERATIONS = frozenset({"describe", "sync", "relatedtypes"})

_SECRETISH = re.compile(
    r"(?i)(access_?key|sessionName|authorization|password|token)([\"']?\s*[:=]\s*[\"']?)[^\s&\"',;]+"
)


def scrub(text: str) -> str:
    """One line, with ``key=value`` pairs of secret-looking keys masked."""
    text = " ".join(str(text).split())
    return _SECRETISH.sub(r"\1\2***", text)


class VtigerError(Exception):
    """Any error Vtiger (or the way to it) reported.

    ``code`` is Vtiger's error code (``ACCESS_DENIED``...) or one of ours (``HTTP_500``,
    ``TIMEOUT``, ``CONNECTION``, ``BAD_RESPONSE``...); ``operation`` the API operation.
    """

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int | None = None,
        operation: str | None = None,
    ) -> None:
        self.code = str(code or "UNKNOWN")
        self.message = scrub(message or "")
        self.http_status = http_status
        self.operation = operation
        super().__init__(self.code, self.message)

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        return f"{where}{self.detail()}"

    def detail(self) -> str:
        """The error without its operation, for lines that name the operation already."""
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return scrub(f"{self.code}: {self.message}{status}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {self.http_status!r})"


class RetryableError(VtigerError):
    """Transient: timeouts, dropped connections, 5xx, HTML or truncated bodies."""


class RateLimitError(RetryableError):
    """HTTP 429: wait ``retry_after`` seconds (None: unknown) and try again."""

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int | None = 429,
        operation: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, http_status, operation)
        self.retry_after = retry_after


def refused_before_work(err: RetryableError) -> bool:
    """Whether a failed call certainly did nothing: 429 and 503 are answered before any work
    (rate limiter, maintenance), so a create may be sent again. A timeout, a dropped
    connection, another 5xx or a truncated answer may come after the record was written.
    """
    return isinstance(err, RateLimitError) or err.http_status == 503


class OperationUnavailableError(VtigerError):
    """The server does not offer this operation (a Vtiger Cloud-only operation on the
    open-source edition, or one stock 8.2 on PHP 8 crashes on): callers skip what needs it.
    """


class FatalError(VtigerError):
    """The run cannot continue (credentials, configuration, unknown module, budget)."""


class AuthenticationError(FatalError):
    """Bad username / access key, or a session that cannot be re-established."""


class UnknownModuleError(FatalError):
    """The module does not exist or the user may not see it (names are case-sensitive)."""


class BudgetExhaustedError(FatalError):
    """The run has spent the share of the daily API limit it was allowed (api_budget_percent)."""


class ConfigError(FatalError):
    """A setting is missing or invalid; the message names it."""


class RecordError(VtigerError):
    """One record is bad (missing mandatory field, bad reference, missing/deleted id...)."""


class QuerySyntaxError(VtigerError):
    """VTQL the server refused (syntax, unknown column)."""


def error_from_payload(
    code: str | None,
    message: str | None,
    http_status: int | None = None,
    operation: str | None = None,
) -> VtigerError:
    """The exception for a Vtiger error envelope (or an HTTP status without one).

    Decisions (from vtiger-notes.md): ``ACCESS_DENIED`` means a missing/deleted record on record
    operations, an unknown module on ``describe``/``sync``, an unknown column or module on
    ``query``; 5xx and ``INTERNAL_SERVER_ERROR`` are retryable except where the server always
    crashes (the caller decides on fallbacks using ``http_status``).
    """
    code = (code or "").strip() or (f"HTTP_{http_status}" if http_status else "UNKNOWN")
    message = message or code
    if http_status == 429 or code == "TOO_MANY_REQUESTS":
        return RateLimitError(code, message, http_status or 429, operation)
    if code in AUTH_CODES:
        return AuthenticationError(code, message, http_status, operation)
    if code == "QUERY_SYNTAX_ERROR":
        return QuerySyntaxError(code, message, http_status, operation)
    if code == "ACCESS_DENIED":
        if operation in MODULE_OPERATIONS:
            return UnknownModuleError(code, message, http_status, operation)
        if operation in ("query", "query_related"):
            return QuerySyntaxError(code, message, http_status, operation)
        if operation in RECORD_OPERATIONS:
            return RecordError(code, message, http_status, operation)
        return FatalError(code, message, http_status, operation)
    if code in RECORD_CODES:
        return RecordError(code, message, http_status, operation)
    if code == "INTERNAL_SERVER_ERROR" and operation == "query":
        # Vtiger's tokenizer failing on text it cannot parse: retrying cannot help.
        return QuerySyntaxError(code, message, http_status, operation)
    if http_status is not None and http_status >= 500:
        return RetryableError(code, message, http_status, operation)
    if code == "INTERNAL_SERVER_ERROR":
        return RetryableError(code, message, http_status, operation)
    if http_status in (401, 403):
        return AuthenticationError(code, message, http_status, operation)
    if http_status == 404:
        return FatalError(code, message, http_status, operation)
    if http_status == 413:
        return RecordError(code, message, http_status, operation)
    return VtigerError(code, message, http_status, operation)


_SDK_SETTING_PATH = re.compile(r" in config((?:\[[^\]]*\])+)$")
_SDK_REQUIRED = re.compile(r"^'([^']+)' is a required property")


def settings_error(messages: list[str], schema: dict | None = None) -> ConfigError:
    """One :class:`ConfigError` line for the singer-sdk's config validation messages.

    Why: the SDK logs one line per problem and then ``Config validation failed`` as the last
    line, which names no setting, and its messages quote the bad value (a mistyped access key
    would be echoed). Here: ``setting max_retries must be of type integer`` (never the value),
    problems joined with ``; ``.
    """
    props = (schema or {}).get("properties") or {}
    out: list[str] = []
    for text in messages:
        required = _SDK_REQUIRED.match(text)
        path = _SDK_SETTING_PATH.search(text)
        if required and not path:
            out.append(f"setting {required.group(1)} is required")
            continue
        if not path:
            out.append(scrub(text))
            continue
        keys = re.findall(r"\['([^']*)'\]|\[(\d+)\]", path.group(1))
        name = "".join(f"[{i}]" if i else f".{k}" for k, i in keys).lstrip(".")
        text = text[: path.start()]
        spec = props.get(keys[0][0], {}) if keys and len(keys) == 1 else {}
        if " is not one of " in text and spec.get("enum"):
            out.append(f"setting {name} must be one of {', '.join(map(str, spec['enum']))}")
        elif " is not of type " in text:
            kinds = [k for k in re.findall(r"'(\w+)'", text.split(" is not of type ", 1)[1])
                     if k != "null"]
            out.append(f"setting {name} must be of type {' or '.join(kinds) or 'null'}")
        elif required:
            out.append(f"setting {name}.{required.group(1)} is required")
        else:
            out.append(f"setting {name} is invalid")
    return ConfigError("CONFIG", "; ".join(out) or "invalid settings")
