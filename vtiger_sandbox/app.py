"""The sandbox as one ASGI application: routing (``urls``) over request readers
(``responses``) over typed backend methods (``backend``).

Error responses on the REST API carry Vtiger's message three ways: in the HTTP reason phrase
(as Vtiger Cloud does; ASGI has no reason phrase, so :func:`install_reason_phrases` teaches
uvicorn's h11 protocol to take it from the ``X-Error-Message`` header of the response), in that
``X-Error-Message`` header itself, and in the JSON body envelope.
"""

from __future__ import annotations

import builtins
import contextvars
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response
from uvicorn.protocols.http import h11_impl

from .backend import VtigerBackend
from .backend.settings import is_self_hosted
from .responses.common import DropConnection, Server
from .urls import routes

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


class _ReasonPhrases(dict):
    """uvicorn h11's status -> reason phrase table, answering the phrase the response being
    sent chose (``_REASON``) when it chose one.
    """

    def __getitem__(self, status: int) -> bytes:
        reason = _REASON.get()
        return reason if reason is not None else dict.__getitem__(self, status)


def install_reason_phrases() -> None:
    """Let responses choose their HTTP reason phrase (uvicorn h11 looks it up per status)."""
    if not isinstance(h11_impl.STATUS_PHRASES, _ReasonPhrases):
        h11_impl.STATUS_PHRASES = _ReasonPhrases(h11_impl.STATUS_PHRASES)


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


class SandboxApp:
    """One sandbox's ASGI application: the backend behind every route of :mod:`urls`."""

    def __init__(self, backend: VtigerBackend) -> None:
        self.server = Server(backend)
        self.starlette = Starlette(routes=routes(self.server))

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
                and is_self_hosted(self.server.backend.settings)):
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


def build_app(backend: VtigerBackend) -> SandboxApp:
    """The ASGI application serving one sandbox."""
    install_reason_phrases()
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return SandboxApp(backend)
