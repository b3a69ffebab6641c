"""Routing: which path each API style answers on."""

from __future__ import annotations

from functools import partial

from starlette.routing import BaseRoute, Route

from .responses.admin import admin
from .responses.apidesigner import mount
from .responses.common import Server
from .responses.rest import rest
from .responses.webservice import webservice

REST_PREFIX = "/restapi/v1/vtiger/default"


def routes(server: Server) -> list[BaseRoute]:
    """Every route of one sandbox."""
    return [
        Route(REST_PREFIX + "/{operation}", partial(rest, server), methods=["GET", "POST"]),
        Route("/webservice.php", partial(webservice, server), methods=["GET", "POST"]),
        Route("/_sandbox/{path:path}", partial(admin, server), methods=["GET", "POST"]),
        mount(server),
    ]
