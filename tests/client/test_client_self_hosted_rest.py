"""A REST client pointed at a self-hosted server, which has no /restapi: the server answers
its web UI's login page with HTTP 200 (vtiger-reference restapi_v1_*.json). One call, one line
naming the setting to change; no retries (a login page never becomes an API answer).
"""

from __future__ import annotations

import pytest

from vtiger_client.config import ClientConfig
from vtiger_client.errors import FatalError
from vtiger_client.session import VtigerClient


def test_the_login_page_is_a_fatal_use_webservice_error(sandbox_factory) -> None:
    server = sandbox_factory(flavor="self-hosted")
    server.reset_stats()
    client = VtigerClient(ClientConfig.from_mapping(
        {**server.tap_config(), "api_style": "rest", "backoff_base": 0.01}))
    with pytest.raises(FatalError, match="api_style webservice") as err:
        client.listtypes()
    assert "\n" not in str(err.value) and server.access_key not in str(err.value)
    assert client.calls["listtypes"] == 1


def test_the_same_server_answers_through_webservice(sandbox_factory) -> None:
    server = sandbox_factory(flavor="self-hosted")
    client = VtigerClient(ClientConfig.from_mapping(
        {**server.tap_config(), "api_style": "webservice"}))
    assert "Contacts" in client.listtypes()["types"]
