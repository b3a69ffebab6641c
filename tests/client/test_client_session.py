"""vtiger_client.session: configuration, transports, retries, pacing, budget, secrets.

Error paths that a server cannot be made to produce on demand use a fake HTTP session
(narrow unit tests); everything else runs against the sandbox over HTTP.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests

from vtiger_client.config import ClientConfig
from vtiger_client.errors import (
    AuthenticationError,
    BudgetExhaustedError,
    ConfigError,
    QuerySyntaxError,
    RateLimitError,
    RecordError,
    RetryableError,
    UnknownModuleError,
)
from vtiger_client.session import VtigerClient

SECRET = "SUPERSECRETKEY123"


def cfg(**kw) -> ClientConfig:
    base = {"api_url": "http://127.0.0.1:9", "username": "admin", "access_key": SECRET}
    return ClientConfig.from_mapping({**base, **kw})


# ------------------------------------------------------------------ configuration


class TestConfig:
    @pytest.mark.parametrize("missing", ["api_url", "username", "access_key"])
    def test_required_settings_are_named(self, missing):
        data = {"api_url": "https://x.example", "username": "u", "access_key": "k"}
        data.pop(missing)
        with pytest.raises(ConfigError, match=missing):
            ClientConfig.from_mapping(data)

    def test_plain_http_only_for_loopback(self):
        with pytest.raises(ConfigError, match="api_url"):
            cfg(api_url="http://crm.example.com")
        assert cfg(api_url="http://crm.example.com", allow_http=True)
        assert cfg(api_url="http://localhost:8080")
        assert cfg(api_url="http://[::1]:8080")

    @pytest.mark.parametrize(
        "url",
        [
            "https://acme.od2.vtiger.com",
            "https://acme.od2.vtiger.com/",
            "https://acme.od2.vtiger.com/restapi/v1/vtiger/default",
            "https://acme.od2.vtiger.com/webservice.php",
        ],
    )
    def test_instance_or_endpoint_url(self, url):
        rest = VtigerClient(cfg(api_url=url))
        webservice = VtigerClient(cfg(api_url=url, api_style="webservice"))
        assert rest.transport.url == "https://acme.od2.vtiger.com/restapi/v1/vtiger/default"
        assert webservice.transport.url == "https://acme.od2.vtiger.com/webservice.php"

    def test_bad_style_and_numbers(self):
        with pytest.raises(ConfigError, match="api_style"):
            cfg(api_style="soap")
        with pytest.raises(ConfigError, match="max_retries"):
            cfg(max_retries="many")
        with pytest.raises(ConfigError, match="api_budget_percent"):
            cfg(api_budget_percent=150)

    def test_tls_verification_defaults_on_and_takes_a_bundle(self, tmp_path):
        bundle = tmp_path / "my.pem"
        bundle.write_text("-----BEGIN CERTIFICATE-----\n")
        assert VtigerClient(cfg()).http.verify is True
        assert VtigerClient(cfg(ca_bundle=str(bundle))).http.verify == str(bundle)

    def test_repr_hides_the_key(self):
        assert SECRET not in repr(cfg())
        assert SECRET not in repr(VtigerClient(cfg()))


# ------------------------------------------------------------------ fake transport


def response(status=200, body=b"", headers=None, reason="OK") -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r.headers.update(headers or {})
    r.reason = reason
    r.url = "http://127.0.0.1:9/x"
    return r


def ok(result) -> requests.Response:
    return response(200, {"success": True, "result": result})


class FakeHTTP(requests.Session):
    """Answers requests from a script: a list of responses or exceptions, in order."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.sent: list[tuple[str, str, dict]] = []

    def request(self, method, url, params=None, data=None, **kw):
        self.sent.append((method, url, dict(params or data or {})))
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def fake_client(script, **kw) -> tuple[VtigerClient, FakeHTTP, list[float]]:
    http = FakeHTTP(script)
    slept: list[float] = []
    client = VtigerClient(cfg(**kw), session=http, sleep=slept.append, clock=lambda: 1000.0)
    return client, http, slept


class TestRetries:
    @pytest.mark.parametrize(
        "failure",
        [
            response(503, b"<html>busy</html>", reason="Service Unavailable"),
            response(502, b"", reason="Bad Gateway"),
            response(200, b"<!DOCTYPE html><html>vtiger</html>"),
            response(200, b'{"success": true, "result": [{"id": "1'),
            requests.exceptions.ChunkedEncodingError("cut"),
            requests.exceptions.ConnectionError("refused"),
            requests.exceptions.ReadTimeout("slow"),
        ],
    )
    def test_transient_failures_are_retried(self, failure):
        client, http, slept = fake_client([failure, ok({"id": "19x1"})])
        assert client.call("me") == {"id": "19x1"}
        assert len(http.sent) == 2
        assert client.calls["me"] == 2
        assert len(slept) == 1

    def test_gives_up_after_max_retries(self):
        client, http, _ = fake_client([response(503, b"x")] * 3, max_retries=2)
        with pytest.raises(RetryableError):
            client.call("me")
        assert len(http.sent) == 3

    def test_429_honours_retry_after(self):
        client, _, slept = fake_client(
            [response(429, b"", {"Retry-After": "7"}), ok([])])
        assert client.call("query", query="select * from Contacts;") == []
        assert slept == [7.0]
        assert client.rejected["query"] == 1

    def test_429_without_retry_after_waits_for_the_floodcontrol_reset(self):
        client, _, slept = fake_client(
            [response(429, b"", {"X-FloodControl-Reset": "1012"}), ok([])])
        client.call("query", query="q")
        assert slept == [12.0]

    def test_429_for_the_daily_quota_stops_cleanly_instead_of_sleeping_until_midnight(self):
        daily_gone = {"Retry-After": "30000", "X-RateLimit-DailyLimit": "100",
                      "X-RateLimit-Remaining": "0"}
        client, http, slept = fake_client([response(429, b"", daily_gone), ok([])])
        with pytest.raises(BudgetExhaustedError, match="daily API limit is used up") as info:
            client.call("query", query="q")
        assert info.value.code == "DAILY_LIMIT"
        assert slept == [] and len(http.sent) == 1

    def test_429_asking_for_an_absurd_wait_stops_cleanly(self):
        client, _, slept = fake_client([response(429, b"", {"Retry-After": "7200"}), ok([])])
        with pytest.raises(BudgetExhaustedError, match="wait 7200 s"):
            client.call("me")
        assert slept == []

    def test_429_gives_up_with_rate_limit_error(self):
        client, _, _ = fake_client([response(429, b"", {"Retry-After": "1"})] * 2, max_retries=1)
        with pytest.raises(RateLimitError):
            client.call("me")

    @pytest.mark.parametrize(
        ("resp", "exc"),
        [
            (response(400, {"success": False, "error": {"code": "QUERY_SYNTAX_ERROR",
                                                         "message": "bad"}}), QuerySyntaxError),
            (response(401, {"success": False, "error": {"code": "INVALID_USER_CREDENTIALS",
                                                         "message": "no"}}), AuthenticationError),
            (response(401, b"", {"X-Error-Message": "AUTHENTICATION_REQUIRED"}),
             AuthenticationError),
            (response(200, {"success": False, "error": {"code": "MANDATORY_FIELDS_MISSING",
                                                         "message": "lastname"}}), RecordError),
        ],
    )
    def test_bad_requests_and_credentials_are_never_retried(self, resp, exc):
        client, http, slept = fake_client([resp, ok({})])
        with pytest.raises(exc):
            client.call("query", query="x")
        assert len(http.sent) == 1 and slept == []

    def test_a_crash_is_retried_only_once(self):
        crash = response(500, b"", reason="Internal Server Error")
        client, http, _ = fake_client([crash, crash, ok({})], max_retries=5)
        with pytest.raises(RetryableError) as info:
            client.call("sync", modifiedTime=1, elementType="Contacts")
        assert info.value.code == "EMPTY_RESPONSE"
        assert len(http.sent) == 2


class TestPacingAndBudget:
    def test_no_delay_while_plenty_remain(self):
        client, _, slept = fake_client([ok({}), ok({})])
        client._read_rate_headers({"X-FloodControl-MinuteLimit": "60",
                                   "X-FloodControl-Remaining": "50",
                                   "X-FloodControl-Reset": "1030"})
        client.call("me")
        assert slept == []

    def test_spreads_the_last_calls_over_the_window(self):
        client, _, slept = fake_client([ok({})])
        client._read_rate_headers({"X-FloodControl-MinuteLimit": "60",
                                   "X-FloodControl-Remaining": "3",
                                   "X-FloodControl-Reset": "1030"})
        client.call("me")
        assert slept == [10.0]

    def test_budget_stops_the_run_at_its_share_of_the_daily_limit(self):
        hdr = {"X-RateLimit-DailyLimit": "100", "X-RateLimit-Remaining": "90"}
        client, http, _ = fake_client([response(200, {"success": True, "result": {}}, hdr)] * 5,
                                      api_budget_percent=3)
        for _ in range(3):
            client.call("me")
        with pytest.raises(BudgetExhaustedError, match="3"):
            client.call("me")
        assert len(http.sent) == 3


class TestWebserviceSession:
    def test_login_then_relogin_once_on_expired_session(self):
        script = [
            ok({"token": "tok"}),
            ok({"sessionName": "sess-1", "userId": "19x1"}),
            response(200, {"success": False, "error": {"code": "INVALID_SESSIONID",
                                                        "message": "expired"}}),
            ok({"token": "tok2"}),
            ok({"sessionName": "sess-2", "userId": "19x1"}),
            ok({"types": []}),
        ]
        client, http, _ = fake_client(script, api_style="webservice")
        assert client.listtypes() == {"types": []}
        ops = [s[2]["operation"] for s in http.sent]
        assert ops == ["getchallenge", "login", "listtypes", "getchallenge", "login",
                       "listtypes"]
        import hashlib

        assert http.sent[1][2]["accessKey"] == hashlib.md5(
            ("tok" + SECRET).encode()).hexdigest()
        assert http.sent[5][2]["sessionName"] == "sess-2"
        assert http.sent[1][0] == "POST" and http.sent[2][0] == "GET"

    def test_bad_key_is_one_line_without_the_key(self, caplog):
        script = [ok({"token": "tok"}),
                  response(200, {"success": False, "error": {
                      "code": "INVALID_USER_CREDENTIALS",
                      "message": "Invalid username or password"}})]
        client, _, _ = fake_client(script, api_style="webservice")
        with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
            client.me()
        assert "INVALID_USER_CREDENTIALS" in str(info.value)
        assert SECRET not in str(info.value) and SECRET not in caplog.text


class TestViewWithoutRetries:
    def test_the_view_never_retries_but_the_client_still_does(self):
        client, http, slept = fake_client([response(503, b"x"), response(503, b"x"),
                                           ok({"id": "19x1"})])
        view = client.without_retries()
        with pytest.raises(RetryableError):
            view.call("me")
        assert client.call("me") == {"id": "19x1"}
        assert (len(http.sent), len(slept)) == (3, 1)

    def test_the_view_counts_into_the_clients_counters(self):
        client, _, _ = fake_client([ok({"id": "19x1"}), ok({"id": "19x1"})])
        client.without_retries().call("me")
        client.call("me")
        assert client.calls["me"] == 2 and client.total_calls == 2

    def test_one_login_serves_the_client_and_its_view(self):
        script = [ok({"token": "tok"}), ok({"sessionName": "sess-1", "userId": "19x1"}),
                  ok({"types": []}), ok({"id": "12x1"})]
        client, http, _ = fake_client(script, api_style="webservice")
        view = client.without_retries()
        client.listtypes()
        view.create("Contacts", {"lastname": "A"})
        assert [s[2]["operation"] for s in http.sent] == [
            "getchallenge", "login", "listtypes", "create"]
        assert http.sent[3][2]["sessionName"] == "sess-1"
        assert view.user_id == client.user_id == "19x1"

    def test_a_relogin_by_the_view_serves_the_client_too(self):
        expired = response(200, {"success": False, "error": {"code": "INVALID_SESSIONID",
                                                             "message": "expired"}})
        script = [ok({"token": "t1"}), ok({"sessionName": "sess-1", "userId": "19x1"}),
                  ok({"types": []}), expired, ok({"token": "t2"}),
                  ok({"sessionName": "sess-2", "userId": "19x1"}), ok({"id": "12x1"}),
                  ok({"types": []})]
        client, http, _ = fake_client(script, api_style="webservice")
        client.listtypes()
        client.without_retries().create("Contacts", {"lastname": "A"})
        client.listtypes()
        assert [s[2].get("sessionName") for s in http.sent[-2:]] == ["sess-2", "sess-2"]
        assert client.calls["login"] == 2


# ------------------------------------------------------------------ against the sandbox


@pytest.fixture(params=["rest", "webservice"])
def live(request, sandbox) -> VtigerClient:
    return VtigerClient(ClientConfig.from_mapping({**sandbox.tap_config(),
                                                   "api_style": request.param}))


class TestAgainstSandbox:
    def test_metadata_and_crud(self, live, sandbox):
        assert live.me()["id"] == "19x1"
        types = live.listtypes()
        assert "Contacts" in types["types"]
        describe = live.describe("Contacts")
        assert describe["idPrefix"]
        created = live.create("Contacts", {"lastname": "Ada", "assigned_user_id": "19x1"})
        assert live.retrieve(created["id"])["lastname"] == "Ada"
        assert live.revise({"id": created["id"], "firstname": "Lovelace"})["firstname"] == (
            "Lovelace")
        rows = live.query(f"select id, lastname from Contacts where id = {created['id']};")
        assert rows == [{"id": created["id"], "lastname": "Ada"}]
        page = live.sync("Contacts", 1)
        assert [r["id"] for r in page["updated"]] == [created["id"]]
        live.delete(created["id"])
        with pytest.raises(RecordError):
            live.retrieve(created["id"])

    def test_unknown_module(self, live):
        with pytest.raises(UnknownModuleError):
            live.describe("contacts")

    def test_call_counts_match_the_server(self, live, sandbox):
        sandbox.reset_stats()
        live.me()
        live.describe("Accounts")
        server = sandbox.stats()
        assert dict(live.calls) == server

    def test_bad_key(self, sandbox):
        for style in ("rest", "webservice"):
            client = VtigerClient(ClientConfig.from_mapping(
                {**sandbox.tap_config(), "access_key": SECRET, "api_style": style}))
            with pytest.raises(AuthenticationError) as info:
                client.me()
            assert SECRET not in str(info.value)

    def test_faults_are_survived(self, sandbox):
        client = VtigerClient(ClientConfig.from_mapping(
            {**sandbox.tap_config(), "backoff_base": 0.001, "max_retries": 8}))
        sandbox.configure(faults={"seed": 3, "error_rate": 0.2, "drop_rate": 0.1,
                                  "html_rate": 0.1, "truncate_rate": 0.1})
        for _ in range(15):
            assert client.me()["id"] == "19x1"
        assert client.calls["me"] > 15

    def test_429_bursts_are_waited_out(self, sandbox):
        client = VtigerClient(ClientConfig.from_mapping(sandbox.tap_config()))
        sandbox.configure(faults={"seed": 1, "burst_429": {"every": 2, "length": 1,
                                                           "retry_after": 0}})
        for _ in range(6):
            client.me()
        assert client.rejected["me"] == 2
        assert sandbox.stats()["me"] == 8

    def test_relogin_after_server_restart(self, sandbox):
        client = VtigerClient(ClientConfig.from_mapping({**sandbox.tap_config(),
                                                         "api_style": "webservice"}))
        client.me()
        sandbox.restart()  # same port; sessions live in memory: they are gone now
        assert client.me()["id"] == "19x1"
        assert client.calls["login"] == 2


def test_debug_logs_never_show_the_session_or_key(sandbox, caplog):
    client = VtigerClient(ClientConfig.from_mapping({**sandbox.tap_config(),
                                                     "api_style": "webservice"}))
    with caplog.at_level(logging.DEBUG):
        client.me()
        client.describe("Contacts")
    session_name = client._run.session_name
    assert session_name
    assert "sessionName=***" in caplog.text  # urllib3 logged the URL, masked
    assert session_name not in caplog.text
    assert sandbox.access_key not in caplog.text
