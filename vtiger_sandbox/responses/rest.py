"""``/restapi/v1/vtiger/default/<operation>``: Basic auth, errors with HTTP statuses."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from ..backend import ServerCrash
from ..errors import VtigerApiError
from .common import (
    BodyTooLarge,
    Server,
    crash_response,
    error_response,
    json_response,
    parse_basic,
    read_params,
)
from .operations import CALLS

log = logging.getLogger("vtiger_sandbox")


async def rest(server: Server, request: Request) -> Response:
    """Count the call, apply limits and faults, authenticate, run the operation."""
    backend = server.backend
    operation = request.path_params["operation"]
    backend.store.stats[operation] += 1
    rate = server.limiter.hit()
    headers = rate.headers
    if not rate.allowed:
        err = VtigerApiError("TOO_MANY_REQUESTS", "Too many requests", 429)
        return error_response(err, True, headers)
    fault, early = await server.apply_fault(operation, headers)
    if early is not None:
        return early
    creds = parse_basic(request)
    if creds is None:
        err = VtigerApiError("AUTHENTICATION_REQUIRED", "Authencation required", 401)
        return error_response(err, True, headers)
    user = backend.users.authenticate_basic(*creds)
    if user is None:
        err = VtigerApiError("INVALID_USER_CREDENTIALS", "Invalid username or password", 401)
        return error_response(err, True, headers)
    call = CALLS.get(operation)
    if call is None:
        err = VtigerApiError("UNKNOWN_OPERATION", f"Unknown operation: {operation}", 404)
        return error_response(err, True, headers)
    if operation in (backend.settings.get("crash_operations") or ()):
        return crash_response(headers)
    try:
        query, body = await read_params(request)
    except BodyTooLarge as exc:
        return error_response(VtigerApiError("REQUEST_TOO_LARGE", str(exc), 413), True,
                              headers)
    params = {**query, **body}
    await server.hold(operation)
    try:
        result = server.run(call, user, params)
        resp = json_response({"success": True, "result": result}, 200, headers)
    except VtigerApiError as err:
        resp = error_response(err, True, headers)
    except ServerCrash:
        resp = crash_response(headers)
    except Exception:  # a bug must look like Vtiger's crash, never kill the server
        log.exception("operation %s failed", operation)
        resp = crash_response(headers)
    if fault is not None and fault.kind == "truncate":
        resp = server.truncate(resp)
    return resp
