"""``/_sandbox/*``: test control, Basic auth of the admin user (19x1); JSON in, JSON out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import VtigerApiError
from .common import Server, error_response, json_response, parse_basic

Handler = Callable[[Server, dict], Any]


def _stats(server: Server, _: dict) -> dict:
    calls = {k: v for k, v in server.backend.store.stats.items() if v}
    # faults injected by kind since the last stats reset / faults setting
    faults = {k: v for k, v in server.faults.injected.items() if v}
    return {"calls": calls, "total": sum(calls.values()), "faults": faults}


def _stats_reset(server: Server, _: dict) -> dict:
    server.backend.store.stats.clear()
    server.faults.injected.clear()  # the tallies only; fault numbering is unchanged
    return {"calls": {}, "total": 0, "faults": {}}


def _config_post(server: Server, p: dict) -> dict:
    out = server.backend.configure(p)
    if "faults" in p:
        server.faults.reset()
    if {"minute_limit", "daily_limit", "hourly_limit", "edition", "time_scale"} & set(p):
        server.limiter.reset()
    return out


def _touch(server: Server, p: dict) -> dict:
    return {"updated": server.backend.admin.touch(list(p["ids"]), str(p["modifiedtime"]))}


def _bulk(server: Server, p: dict) -> dict:
    return {"ids": server.backend.admin.bulk_create(
        p["module"], int(p["count"]), p.get("modifiedtime"), p.get("fields"),
        p.get("assigned_user_id"))}


def _users(server: Server, p: dict) -> dict:
    return server.backend.users.add_user(
        str(p["user_name"]), str(p.get("first_name", "")), str(p.get("last_name", "")),
        p.get("access_key"), str(p.get("email", "")))


def _fields(server: Server, p: dict) -> dict:
    return server.backend.admin.add_field(p["module"], p["name"], p.get("label", ""),
                                          p.get("type"), bool(p.get("mandatory", False)))


def _sessions(server: Server, _: dict) -> dict:
    # the live session names and the last challenge token per user, so secret-leak tests can
    # search a client's output for them
    sessions = server.backend.sessions
    return {"sessions": sorted(sessions.sessions),
            "challenges": {u: c.token for u, c in sessions.challenges.items()}}


def _reset(server: Server, _: dict) -> dict:
    out = server.backend.admin.reset()
    server.faults.reset()
    server.limiter.reset()
    return out


#: (method, path under /_sandbox/) -> handler.
HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "stats"): _stats,
    ("POST", "stats/reset"): _stats_reset,
    ("GET", "config"): lambda server, _: dict(server.backend.settings),
    ("POST", "config"): _config_post,
    ("POST", "records/touch"): _touch,
    ("POST", "records/bulk"): _bulk,
    ("POST", "users"): _users,
    ("POST", "fields"): _fields,
    ("GET", "health"): lambda server, _: {"ok": True},
    ("GET", "sessions"): _sessions,
    ("POST", "reset"): _reset,
}


async def admin(server: Server, request: Request) -> Response:
    """Authenticate the admin, read the JSON body, run the endpoint's handler."""
    creds = parse_basic(request)
    user = server.backend.users.authenticate_basic(*creds) if creds else None
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
    handler = HANDLERS.get((request.method, path))
    if handler is None:
        err = VtigerApiError("NOT_FOUND", f"no admin endpoint {request.method} {path}", 404)
        return error_response(err, True)
    try:
        result = handler(server, payload)
    except VtigerApiError as err:
        return error_response(err, True)
    except (KeyError, TypeError, ValueError) as exc:
        err = VtigerApiError("BAD_REQUEST", f"{type(exc).__name__}: {exc}", 400)
        return error_response(err, True)
    return json_response(result)
