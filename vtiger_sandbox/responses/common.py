"""What every request reader shares: parameters, Basic auth, envelopes, faults, limits.

Error responses on the REST API carry Vtiger's message in the ``X-Error-Message`` header as
well as in the JSON envelope; ``vtiger_sandbox.app`` turns that header into the HTTP reason
phrase, as Vtiger Cloud sends it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from ..backend import ServerCrash, User, VtigerBackend
from ..errors import VtigerApiError
from ..faults import Fault, FaultInjector
from ..ratelimit import RateLimiter, edition_limits

try:  # msgspec ships with singer-sdk[msgspec]; it encodes pages ~5x faster than json.
    import msgspec

    _encoder = msgspec.json.Encoder()

    def dumps(value: Any) -> bytes:
        """Encode a response body."""
        return _encoder.encode(value)

except ImportError:  # pragma: no cover

    def dumps(value: Any) -> bytes:
        """Encode a response body."""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>vtiger</title></head><body>"
    b"<h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
    b"request.</p></body></html>"
)


#: Largest request body accepted (a Vtiger behind PHP has post_max_size too).
MAX_BODY = 32 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body exceeds :data:`MAX_BODY`."""


class DropConnection(Exception):
    """Raised after a partial response so uvicorn aborts the connection (a 'dropped' call)."""


def _ascii(text: str, limit: int = 300) -> str:
    """A legal header value: printable ASCII, no surrounding whitespace (h11 rejects it)."""
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return clean[:limit].strip() or "-"


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response with Vtiger's content type."""
    return Response(dumps(body), status_code=status, headers=headers,
                    media_type="application/json")


def error_response(err: VtigerApiError, rest: bool, headers: dict | None = None) -> Response:
    """Vtiger's error envelope: REST with the error's HTTP status, webservice.php with 200."""
    if not rest:
        return json_response(err.envelope(), 200, headers)
    h = dict(headers or {})
    h["X-Error-Message"] = _ascii(err.message)
    return json_response(err.envelope(), err.http_status, h)


def crash_response(headers: dict | None = None) -> Response:
    """PHP fatal error: HTTP 500 with an empty body."""
    return Response(b"", status_code=500, headers=headers, media_type="text/html; charset=UTF-8")


class _DroppingResponse(Response):
    """A dropped connection: reset before any byte, or cut after a fragment (``partial``)."""

    def __init__(self, partial: bool) -> None:
        super().__init__(b"")
        self.partial = partial

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        transport = scope.get("sandbox.transport")
        if not self.partial and transport is not None and hasattr(transport, "abort"):
            transport.abort()  # TCP reset: the client sees a ConnectionError
            await asyncio.sleep(0)  # let uvicorn notice the disconnect before we return
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"success":tr', "more_body": True})
        raise DropConnection("fault injection: dropped connection")


async def read_params(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query-string params, body params). Body: urlencoded form or a JSON object."""
    query: dict[str, Any] = {}
    for k, v in request.query_params.multi_items():
        if k.endswith("[]"):
            query.setdefault(k[:-2], [])
            if isinstance(query[k[:-2]], list):
                query[k[:-2]].append(v)
        else:
            query[k] = v
    body: dict[str, Any] = {}
    if request.method == "POST":
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise BodyTooLarge(f"request body over {MAX_BODY} bytes")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BodyTooLarge(f"request body over {MAX_BODY} bytes")
        ctype = request.headers.get("content-type", "")
        if raw:
            if "json" in ctype:
                try:
                    parsed = json.loads(raw)
                except (ValueError, RecursionError):
                    parsed = None
                if isinstance(parsed, dict):
                    body = {str(k): v for k, v in parsed.items()}
            else:
                text = raw.decode("utf-8", "replace")
                for k, v in parse_qsl(text, keep_blank_values=True):
                    if k.endswith("[]"):
                        body.setdefault(k[:-2], [])
                        if isinstance(body[k[:-2]], list):
                            body[k[:-2]].append(v)
                    else:
                        body[k] = v
    for d in (query, body):
        for k, v in list(d.items()):
            if isinstance(v, list) and k in ("fieldTypeList", "tags"):
                d[k] = json.dumps(v)
    return query, body


def parse_basic(request: Request) -> tuple[str, str] | None:
    """(username, secret) from an HTTP Basic header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, secret = decoded.partition(":")
    return (user, secret) if sep else None


class Server:
    """One sandbox as the request readers see it: the backend, the rate limiter, the faults."""

    def __init__(self, backend: VtigerBackend) -> None:
        self.backend = backend
        self.limiter = RateLimiter(
            minute_limit=lambda: edition_limits(backend.settings)[0],
            hourly_limit=lambda: edition_limits(backend.settings)[1],
            daily_limit=lambda: edition_limits(backend.settings)[2],
            time_scale=lambda: float(backend.settings.get("time_scale") or 1.0),
        )
        self.faults = FaultInjector()

    async def apply_fault(
        self, operation: str, headers: dict
    ) -> tuple[Fault | None, Response | None]:
        """The injected fault for this call and, when it replaces the answer, that answer."""
        fault = self.faults.decide(self.backend.settings.get("faults"), operation)
        if fault is None:
            return None, None
        if fault.latency_s:
            await asyncio.sleep(fault.latency_s)
        if fault.kind == "429":
            h = dict(headers, **{"Retry-After": str(fault.retry_after)})
            err = VtigerApiError("TOO_MANY_REQUESTS", "Too many requests", 429)
            return fault, error_response(err, True, h)
        if fault.kind == "error":
            body = b"<html><body><h1>%d Server Error</h1></body></html>" % fault.status
            return fault, Response(body, status_code=fault.status, headers=headers,
                                   media_type="text/html")
        if fault.kind == "html":
            return fault, Response(HTML_ERROR_PAGE, status_code=200, headers=headers,
                                   media_type="text/html; charset=UTF-8")
        if fault.kind == "drop":
            return fault, _DroppingResponse(partial=fault.status == 1)
        return fault, None

    @staticmethod
    def truncate(resp: Response) -> Response:
        """The ``truncate`` fault: the first half of the answer's body."""
        body = bytes(resp.body)
        cut = body[: max(1, len(body) // 2)]
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        return Response(cut, status_code=resp.status_code, headers=headers,
                        media_type="application/json")

    async def hold(self, operation: str) -> None:
        """The ``hold_create_s`` fault: a create is held that long before it is written, and
        then written even if the client gave up waiting (a slow real server does the same).
        """
        if operation != "create":
            return
        hold = float((self.backend.settings.get("faults") or {}).get("hold_create_s", 0) or 0)
        if hold > 0:
            self.faults.injected["hold_create"] += 1
            await asyncio.sleep(hold)

    def run(self, call: Callable[[VtigerBackend, User, dict], Any], user: User,
            params: dict[str, Any]) -> Any:
        """Run an operation's call (synchronously: SQLite work is short and serialized
        anyway), unless the ``crash_values`` fault crashes it first.
        """
        if self.faults.crashes_on(self.backend.settings.get("faults"), params):
            raise ServerCrash("fault injection: crash_values")
        return call(self.backend, user, params)
