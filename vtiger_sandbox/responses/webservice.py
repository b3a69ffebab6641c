"""``/webservice.php``: sessions, errors on HTTP 200, crashes as empty 500s."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from ..backend import ServerCrash
from ..backend.settings import flavor_crashes
from ..errors import VtigerApiError
from .common import BodyTooLarge, Server, crash_response, error_response, json_response, read_params
from .operations import CALLS, OPERATION_METHODS, text

log = logging.getLogger("vtiger_sandbox")


async def webservice(server: Server, request: Request) -> Response:
    """Read the operation and its parameters (from the source Vtiger reads), run it."""
    backend = server.backend
    try:
        query, body = await read_params(request)
    except BodyTooLarge as exc:
        err = VtigerApiError("REQUEST_TOO_LARGE", str(exc), 413)
        return error_response(err, False)
    operation = str(query.get("operation") or body.get("operation") or "")
    backend.store.stats[operation or "(none)"] += 1
    fault, early = await server.apply_fault(operation, {})
    if early is not None:
        return early
    settings = backend.settings
    if operation in (settings.get("crash_operations") or ()) or flavor_crashes(
            settings, operation):
        return crash_response()
    if (query.get("format") or body.get("format", "json")) != "json" and \
            backend.core.self_hosted():
        # error_format_xml: only JSON is implemented; PHP dies after the JSON header
        return Response(b"", status_code=500, media_type="application/json")
    declared = OPERATION_METHODS.get(operation)
    # Vtiger reads an operation's parameters from the source its declared method implies.
    params = dict(query if declared == "GET" else body)
    session_name = query.get("sessionName") or body.get("sessionName")
    sessions = backend.sessions
    try:
        if operation == "getchallenge":
            result = sessions.getchallenge(text(params, "username"))
        elif operation == "login":
            result = sessions.login(text(params, "username"), str(params.get("accessKey", "")))
        elif operation == "extendsession":
            raise VtigerApiError("AUTHENTICATION_FAILURE", "Authencation Failed", 401)
        elif operation == "logout":
            sessions.user(session_name)
            result = sessions.logout(session_name)
        else:
            call = CALLS.get(operation) if declared else None
            if call is None:
                if declared is None or backend.core.self_hosted():
                    return crash_response()
                raise VtigerApiError("UNKNOWN_OPERATION", "Unknown operation", 400)
            user = sessions.user(session_name)
            await server.hold(operation)
            result = server.run(call, user, params)
        resp = json_response({"success": True, "result": result})
    except VtigerApiError as err:
        resp = error_response(err, False)
    except ServerCrash:
        resp = crash_response()
    except Exception:
        log.exception("operation %s failed", operation)
        resp = crash_response()
    if fault is not None and fault.kind == "truncate":
        resp = server.truncate(resp)
    return resp
