"""The two ways to reach Vtiger's API, and all that differs between them.

- ``rest`` (Vtiger Cloud): ``<instance>/restapi/v1/vtiger/default/<operation>`` with HTTP Basic
  auth (username + access key) on every call; errors come as HTTP 4xx/5xx.
- ``webservice`` (self-hosted): ``<instance>/webservice.php`` with the operation as a
  parameter; ``getchallenge`` then ``login`` with ``md5(token + access_key)`` open a session
  whose ``sessionName`` goes with every call; errors come as HTTP 200 envelopes.

Everything else (retries, pacing, the budget, call counting, envelopes) is the same and lives
in :class:`vtiger_client.session.VtigerClient`, which asks its transport where a call goes,
how it authenticates, and what an answer that is no API answer means.
"""

from __future__ import annotations

import re
import typing as t

from vtiger_client.config import REST_PATH, WEBSERVICE_PATH

if t.TYPE_CHECKING:
    import requests

    from vtiger_client.config import ClientConfig

#: The login form of Vtiger's web UI (what a self-hosted server shows on ``/restapi/...``).
SELF_HOSTED_LOGIN_PAGE = re.compile(
    rb"""name=["']module["'] value=["']Users["']/?>\s*<input[^>]*name=["']action["'] """
    rb"""value=["']Login["']""")
#: Operations sent without a session: the two that open one.
SESSION_OPENERS = frozenset({"getchallenge", "login"})
_NO_REST_API = "no REST API at this URL: self-hosted Vtiger needs api_style webservice"


class RestTransport:
    """Vtiger Cloud's REST API: one URL per operation, HTTP Basic auth on every call."""

    #: Calls carry no session (nothing to open, renew or close).
    has_session = False

    def __init__(self, base_url: str) -> None:
        self.url = base_url + REST_PATH

    def authenticate(self, http: requests.Session, config: ClientConfig) -> None:
        """Every request of ``http`` carries the username and access key (Basic auth)."""
        http.auth = (config.username, config.access_key)

    def address(self, operation: str, params: dict[str, t.Any],
                session: t.Callable[[], str]) -> tuple[str, dict[str, t.Any]]:
        """Where ``operation`` goes and what it sends."""
        return f"{self.url}/{operation}", params

    def error_hint(self, status: int) -> str:
        """What an HTTP error without an envelope says about the URL (a 404: no REST API)."""
        return f" ({_NO_REST_API})" if status == 404 else ""

    def not_an_api(self, body: bytes) -> str | None:
        """Why an HTTP 200 body is no API answer at all: a self-hosted server hands unknown
        paths to index.php, whose login page comes back.
        """
        if SELF_HOSTED_LOGIN_PAGE.search(body[:65536]):
            return f"the Vtiger login page instead of a REST answer ({_NO_REST_API})"
        return None


class WebserviceTransport:
    """Self-hosted ``webservice.php``: one URL, the operation a parameter, a session."""

    #: Calls carry the ``sessionName`` of a ``getchallenge`` + ``login``.
    has_session = True

    def __init__(self, base_url: str) -> None:
        self.url = base_url + WEBSERVICE_PATH

    def authenticate(self, http: requests.Session, config: ClientConfig) -> None:
        """Nothing on the HTTP session: the login digest opens an API session instead."""

    def address(self, operation: str, params: dict[str, t.Any],
                session: t.Callable[[], str]) -> tuple[str, dict[str, t.Any]]:
        """Where ``operation`` goes and what it sends (``session()`` logs in when needed)."""
        payload = {"operation": operation, **params}
        if operation not in SESSION_OPENERS:
            payload["sessionName"] = session()
        return self.url, payload

    def error_hint(self, status: int) -> str:
        """Nothing to add: webservice.php is the self-hosted API."""
        return ""

    def not_an_api(self, body: bytes) -> str | None:
        """Never decided here: a body without an envelope is a bad answer to retry."""
        return None


Transport = RestTransport | WebserviceTransport


def transport_for(style: str, base_url: str) -> Transport:
    """The transport of an ``api_style`` (validated by :class:`ClientConfig`)."""
    return RestTransport(base_url) if style == "rest" else WebserviceTransport(base_url)
