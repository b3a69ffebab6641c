"""HTTP layer of the sandbox (Starlette): REST, webservice.php, admin, API Designer hook.

Deliberately thin: authenticate, count the call, apply rate limits and injected faults, pick
the parameters, call :class:`~vtiger_sandbox.operations.Operations`, wrap the envelope.

Error responses on the REST API carry Vtiger's message three ways: in the HTTP reason phrase
(as Vtiger Cloud does; ASGI has no reason phrase, so :func:`install_reason_phrases` teaches
uvicorn's h11 protocol to take it from the ``X-Error-Message`` header of the response), in that
``X-Error-Message`` header itself, and in the JSON body envelope.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import contextvars
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from .errors import VtigerApiError
from .faults import Fault, FaultInjector
from .operations import (
    OPERATION_METHODS,
    Operations,
    ServerCrash,
    User,
    flavor_crashes,
    is_self_hosted,
)
from .ratelimit import RateLimiter, edition_limits

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


REST_PREFIX = "/restapi/v1/vtiger/default"
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>vtiger</title></head><body>"
    b"<h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
    b"request.</p></body></html>"
)

#: What a self-hosted server answers on any path it has no handler for (restapi_v1_*.json).
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>vtiger</title>"
    b'<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /></head>'
    b'<body><div class="loginPageContainer"><form class="form-horizontal" method="POST" '
    b'action="index.php"><input type="hidden" name="module" value="Users"/>'
    b'<input type="hidden" name="action" value="Login"/>'
    b'<input id="username" type="text" name="username" placeholder="Username">'
    b'<input id="password" type="password" name="password" placeholder="Password">'
    b'<button type="submit">Sign in</button></form></div></body></html>'
)

_REASON: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("reason", default=None)
log = logging.getLogger("vtiger_sandbox")


#: Largest request body accepted (a Vtiger behind PHP has post_max_size too).
MAX_BODY = 32 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body exceeds :data:`MAX_BODY`."""


class DropConnection(Exception):
    """Raised after a partial response so uvicorn aborts the connection (a 'dropped' call)."""


def install_reason_phrases() -> None:
    """Let responses choose their HTTP reason phrase (uvicorn h11 looks it up per status)."""
    from uvicorn.protocols.http import h11_impl

    base = h11_impl.STATUS_PHRASES
    if getattr(base, "_sandbox", False):
        return

    class _Phrases(dict):
        _sandbox = True

        def __getitem__(self, status: int) -> bytes:
            reason = _REASON.get()
            return reason if reason is not None else dict.__getitem__(self, status)

    h11_impl.STATUS_PHRASES = _Phrases(base)


_EXC_GROUP: type = getattr(builtins, "BaseExceptionGroup", type(None))


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DropConnection):
                return False
            exc = exc.__cause__ or exc.__context__ or (
                exc.exceptions[0] if isinstance(exc, _EXC_GROUP) and exc.exceptions
                else None
            )
        return True


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


class SandboxApp:
    """Holds the operations, limiter and fault injector; builds the Starlette app."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.limiter = RateLimiter(
            minute_limit=lambda: edition_limits(ops.settings)[0],
            hourly_limit=lambda: edition_limits(ops.settings)[1],
            daily_limit=lambda: edition_limits(ops.settings)[2],
            time_scale=lambda: float(ops.settings.get("time_scale") or 1.0),
        )
        self.faults = FaultInjector()
        routes: list[BaseRoute] = [
            Route(REST_PREFIX + "/{operation}", self.rest, methods=["GET", "POST"]),
            Route("/webservice.php", self.webservice, methods=["GET", "POST"]),
            Route("/_sandbox/{path:path}", self.admin, methods=["GET", "POST"]),
        ]
        routes.extend(self._api_designer_routes())
        self.starlette = Starlette(routes=routes)

    # -------------------------------------------------------- API Designer hook (other room)
    def _api_designer_routes(self) -> list[BaseRoute]:
        """HOOK: mount ``vtiger_sandbox.apidesigner`` (/restapi/vtap/...) when it exists."""
        try:
            from . import apidesigner  # type: ignore[attr-defined]
        except ImportError:
            return []
        if hasattr(apidesigner, "mount"):
            got = apidesigner.mount(self.ops, apply_fault=self._apply_fault,
                                    truncate=self._truncate, limiter=self.limiter)
        elif hasattr(apidesigner, "routes"):
            got = apidesigner.routes(self.ops)
        else:
            return []
        if isinstance(got, (Mount, Route)):
            return [got]
        return list(got)

    # ------------------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """ASGI entry: records the reason phrase a response wants (see module docstring)."""

        async def send_with_reason(message: dict) -> None:
            if message["type"] == "http.response.start":
                reason = None
                for k, v in message.get("headers", []):
                    if k == b"x-error-message":
                        reason = v.replace(b"\r", b" ").replace(b"\n", b" ")[:300]
                        break
                _REASON.set(reason)
            await send(message)

        if (scope.get("type") == "http" and scope.get("path", "").startswith("/restapi/")
                and is_self_hosted(self.ops.settings)):
            # the open-source edition has no /restapi at all (REST and API Designer alike)
            # the open-source edition has no /restapi at all (REST and API Designer alike):
            # Apache's rewrite hands the path to index.php, which shows its login page
            await Response(LOGIN_PAGE, 200,
                           media_type="text/html; charset=UTF-8")(scope, receive, send)
            return
        if scope.get("type") == "http":
            # uvicorn's send is a bound method of its request cycle, which owns the transport;
            # fault injection uses it to drop connections for real.
            owner = getattr(send, "__self__", None)
            scope["sandbox.transport"] = getattr(owner, "transport", None)
        await self.starlette(scope, receive, send_with_reason)

    # ------------------------------------------------------------------------- faults
    async def _apply_fault(
        self, operation: str, headers: dict
    ) -> tuple[Fault | None, Response | None]:
        fault = self.faults.decide(self.ops.settings.get("faults"), operation)
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
    def _truncate(resp: Response) -> Response:
        body = bytes(resp.body)
        cut = body[: max(1, len(body) // 2)]
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        return Response(cut, status_code=resp.status_code, headers=headers,
                        media_type="application/json")

    async def _hold(self, operation: str) -> None:
        """The ``hold_create_s`` fault: a create is held that long before it is written, and
        then written even if the client gave up waiting (a slow real server does the same).
        """
        if operation != "create":
            return
        hold = float((self.ops.settings.get("faults") or {}).get("hold_create_s", 0) or 0)
        if hold > 0:
            self.faults.injected["hold_create"] += 1
            await asyncio.sleep(hold)

    def _run(self, fn: Callable[[User, dict], Any], user: User, params: dict) -> Any:
        """Run an operation (synchronously: SQLite work is short and serialized anyway)."""
        return fn(user, params)

    # --------------------------------------------------------------------------- REST
    async def rest(self, request: Request) -> Response:
        """``/restapi/v1/vtiger/default/<operation>``: Basic auth, HTTP error statuses."""
        ops = self.ops
        operation = request.path_params["operation"]
        ops.store.stats[operation] += 1
        rate = self.limiter.hit()
        headers = rate.headers
        if not rate.allowed:
            err = VtigerApiError("TOO_MANY_REQUESTS", "Too many requests", 429)
            return error_response(err, True, headers)
        fault, early = await self._apply_fault(operation, headers)
        if early is not None:
            return early
        creds = parse_basic(request)
        if creds is None:
            err = VtigerApiError("AUTHENTICATION_REQUIRED", "Authencation required", 401)
            return error_response(err, True, headers)
        user = ops.authenticate_basic(*creds)
        if user is None:
            err = VtigerApiError("INVALID_USER_CREDENTIALS", "Invalid username or password", 401)
            return error_response(err, True, headers)
        fn = ops.dispatch(operation)
        if fn is None:
            err = VtigerApiError("UNKNOWN_OPERATION", f"Unknown operation: {operation}", 404)
            return error_response(err, True, headers)
        if operation in (ops.settings.get("crash_operations") or ()):
            return crash_response(headers)
        try:
            query, body = await read_params(request)
        except BodyTooLarge as exc:
            return error_response(VtigerApiError("REQUEST_TOO_LARGE", str(exc), 413), True,
                                  headers)
        params = {**query, **body}
        await self._hold(operation)
        try:
            result = self._run(fn, user, params)
            resp = json_response({"success": True, "result": result}, 200, headers)
        except VtigerApiError as err:
            resp = error_response(err, True, headers)
        except ServerCrash:
            resp = crash_response(headers)
        except Exception:  # a bug must look like Vtiger's crash, never kill the server
            log.exception("operation %s failed", operation)
            resp = crash_response(headers)
        if fault is not None and fault.kind == "truncate":
            resp = self._truncate(resp)
        return resp

    # --------------------------------------------------------------------- webservice
    async def webservice(self, request: Request) -> Response:
        """``/webservice.php``: sessions, errors on HTTP 200, crashes as empty 500s."""
        ops = self.ops
        try:
            query, body = await read_params(request)
        except BodyTooLarge as exc:
            err = VtigerApiError("REQUEST_TOO_LARGE", str(exc), 413)
            return error_response(err, False)
        operation = str(query.get("operation") or body.get("operation") or "")
        ops.store.stats[operation or "(none)"] += 1
        fault, early = await self._apply_fault(operation, {})
        if early is not None:
            return early
        if operation in (ops.settings.get("crash_operations") or ()) or flavor_crashes(
                ops.settings, operation):
            return crash_response()
        if (query.get("format") or body.get("format", "json")) != "json" and \
                ops.self_hosted():
            # error_format_xml: only JSON is implemented; PHP dies after the JSON header
            return Response(b"", status_code=500, media_type="application/json")
        declared = OPERATION_METHODS.get(operation)
        # Vtiger reads an operation's parameters from the source its declared method implies.
        params = dict(query if declared == "GET" else body)
        session_name = query.get("sessionName") or body.get("sessionName")
        try:
            if operation == "getchallenge":
                result = ops.getchallenge(params)
            elif operation == "login":
                result = ops.login(params)
            elif operation == "extendsession":
                raise VtigerApiError("AUTHENTICATION_FAILURE", "Authencation Failed", 401)
            else:
                fn = ops.dispatch(operation) if declared else None
                if operation == "logout":
                    user = ops.session_user(session_name)
                    result = ops.logout(user, params, session_name)
                elif fn is None:
                    if declared is None or is_self_hosted(ops.settings):
                        return crash_response()
                    raise VtigerApiError("UNKNOWN_OPERATION", "Unknown operation", 400)
                else:
                    user = ops.session_user(session_name)
                    await self._hold(operation)
                    result = self._run(fn, user, params)
            resp = json_response({"success": True, "result": result})
        except VtigerApiError as err:
            resp = error_response(err, False)
        except ServerCrash:
            resp = crash_response()
        except Exception:
            log.exception("operation %s failed", operation)
            resp = crash_response()
        if fault is not None and fault.kind == "truncate":
            resp = self._truncate(resp)
        return resp

    # -------------------------------------------------------------------------- admin
    async def admin(self, request: Request) -> Response:
        """``/_sandbox/*``: test control, Basic auth of the admin user (19x1)."""
        ops = self.ops
        creds = parse_basic(request)
        user = ops.authenticate_basic(*creds) if creds else None
        if user is None or user.crmid != 1:
            err = VtigerApiError("INVALID_USER_CREDENTIALS", "admin credentials required", 401)
            return error_response(err, True)
        path = request.path_params["path"].strip("/")
        payload: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.body()
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    return error_response(VtigerApiError("BAD_JSON", "body is not JSON", 400), True)
                if not isinstance(parsed, dict):
                    return error_response(
                        VtigerApiError("BAD_JSON", "body must be an object", 400), True)
                payload = parsed
        handler = self._admin_handlers().get((request.method, path))
        if handler is None:
            err = VtigerApiError("NOT_FOUND", f"no admin endpoint {request.method} {path}", 404)
            return error_response(err, True)
        try:
            result = handler(payload)
            if asyncio.iscoroutine(result):
                result = await result
        except VtigerApiError as err:
            return error_response(err, True)
        except (KeyError, TypeError, ValueError) as exc:
            err = VtigerApiError("BAD_REQUEST", f"{type(exc).__name__}: {exc}", 400)
            return error_response(err, True)
        return json_response(result)

    def _admin_handlers(self) -> dict[tuple[str, str], Callable[[dict], Any]]:
        ops = self.ops

        def stats(_: dict) -> dict:
            calls = {k: v for k, v in ops.store.stats.items() if v}
            # faults injected by kind since the last stats reset / faults setting
            faults = {k: v for k, v in self.faults.injected.items() if v}
            return {"calls": calls, "total": sum(calls.values()), "faults": faults}

        def stats_reset(_: dict) -> dict:
            ops.store.stats.clear()
            self.faults.injected.clear()  # the tallies only; fault numbering is unchanged
            return {"calls": {}, "total": 0, "faults": {}}

        def config_post(p: dict) -> dict:
            out = ops.configure(p)
            if "faults" in p:
                self.faults.reset()
            if {"minute_limit", "daily_limit", "hourly_limit", "edition", "time_scale"} & set(p):
                self.limiter.reset()
            return out

        def touch(p: dict) -> dict:
            return {"updated": ops.touch(list(p["ids"]), str(p["modifiedtime"]))}

        def bulk(p: dict) -> dict:
            return {"ids": ops.bulk_create(
                p["module"], int(p["count"]), p.get("modifiedtime"), p.get("fields"),
                p.get("assigned_user_id"))}

        def users(p: dict) -> dict:
            return ops.add_user(str(p["user_name"]), str(p.get("first_name", "")),
                                str(p.get("last_name", "")), p.get("access_key"),
                                str(p.get("email", "")))

        def fields(p: dict) -> dict:
            return ops.add_field(p["module"], p["name"], p.get("label", ""), p.get("type"),
                                 bool(p.get("mandatory", False)))

        def reset(_: dict) -> dict:
            out = ops.reset()
            self.faults.reset()
            self.limiter.reset()
            return out

        handlers: dict[tuple[str, str], Callable[[dict], Any]] = {
            ("GET", "stats"): stats,
            ("POST", "stats/reset"): stats_reset,
            ("GET", "config"): lambda _: dict(ops.settings),
            ("POST", "config"): config_post,
            ("POST", "records/touch"): touch,
            ("POST", "records/bulk"): bulk,
            ("POST", "users"): users,
            ("POST", "fields"): fields,
            ("GET", "health"): lambda _: {"ok": True},
            # test control (admin auth): the live session names and the last challenge token
            # per user, so secret-leak tests can search a client's output for them
            ("GET", "sessions"): lambda _: {
                "sessions": sorted(ops.sessions),
                "challenges": {u: c.token for u, c in ops.challenges.items()}},
            ("POST", "reset"): reset,
        }
        extra = getattr(self, "extra_admin_handlers", None)
        if extra:
            handlers.update(extra())
        return handlers


def build_app(ops: Operations) -> SandboxApp:
    """The ASGI application serving one sandbox."""
    install_reason_phrases()
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return SandboxApp(ops)

