"""Both auth styles: REST Basic on every call, webservice.php sessions that expire."""

from __future__ import annotations

import hashlib
import time

import requests
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.testing import SandboxServer


def test_rest_me_identifies_the_caller(rest: Rest) -> None:
    me = rest.ok("GET", "me")
    assert me["id"] == "19x1" and me["user_name"] == "admin"


def test_rest_bad_credentials_are_401_with_a_vtiger_error(shared_sandbox: SandboxServer) -> None:
    bad = Rest(shared_sandbox, auth=("admin", "wrong"))
    resp = bad.get("me")
    assert resp.status_code == 401
    assert resp.reason == "Invalid username or password"
    assert resp.json()["error"]["code"] == "INVALID_USER_CREDENTIALS"
    resp = requests.get(f"{shared_sandbox.rest_url}/me", timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"


def test_rest_errors_carry_the_message_in_reason_and_header(rest: Rest) -> None:
    resp = rest.get("describe", elementType="contacts")
    assert resp.status_code == 403
    msg = "Permission to perform the operation is denied for name : contacts"
    assert resp.reason == msg and resp.headers["X-Error-Message"] == msg
    assert resp.json() == {"success": False, "error": {"code": "ACCESS_DENIED", "message": msg}}


def test_webservice_login_and_call(shared_sandbox: SandboxServer) -> None:
    ws = WebService(shared_sandbox)
    result = ws.login()
    assert result["userId"] == "19x1" and result["vtigerVersion"] == "8.2.0"
    body = ws.get("listtypes").json()
    assert body["success"] and "Contacts" in body["result"]["types"]


def test_webservice_errors_are_http_200(shared_sandbox: SandboxServer) -> None:
    url = f"{shared_sandbox.url}/webservice.php"
    no_session = requests.get(url, params={"operation": "listtypes"}, timeout=10)
    assert no_session.status_code == 200
    assert no_session.json()["error"] == {"code": "AUTHENTICATION_REQUIRED",
                                          "message": "Authencation required"}
    bad = requests.get(url, params={"operation": "listtypes", "sessionName": "nope"}, timeout=10)
    assert bad.json()["error"]["code"] == "INVALID_SESSIONID"


def test_getchallenge_and_login_errors(shared_sandbox: SandboxServer) -> None:
    url = f"{shared_sandbox.url}/webservice.php"
    r = requests.get(url, params={"operation": "getchallenge"}, timeout=10).json()
    assert r["error"] == {"code": "ACCESS_DENIED", "message": "No username given"}
    r = requests.get(url, params={"operation": "getchallenge", "username": "ghost"},
                     timeout=10).json()
    assert r["error"]["message"] == "username does not exists"
    token = requests.get(url, params={"operation": "getchallenge", "username": "admin"},
                         timeout=10).json()["result"]["token"]
    key = hashlib.md5((token + shared_sandbox.access_key).encode()).hexdigest()
    by_get = requests.get(url, params={"operation": "login", "username": "admin",
                                       "accessKey": key}, timeout=10).json()
    assert by_get["error"]["code"] == "INVALID_AUTH_TOKEN"
    wrong = requests.post(url, data={"operation": "login", "username": "admin",
                                     "accessKey": "0" * 32}, timeout=10).json()
    assert wrong["error"]["code"] == "INVALID_USER_CREDENTIALS"
    # a new challenge invalidates the previous token
    requests.get(url, params={"operation": "getchallenge", "username": "admin"}, timeout=10)
    stale = requests.post(url, data={"operation": "login", "username": "admin",
                                     "accessKey": key}, timeout=10).json()
    assert stale["error"]["code"] == "INVALID_USER_CREDENTIALS"


def test_describe_by_post_reads_no_parameters(ws: WebService) -> None:
    body = ws.post("describe", elementType="Contacts").json()
    assert body["error"]["message"] == "Permission to perform the operation is denied for name : "


def test_unknown_webservice_operation_crashes_like_php(ws: WebService) -> None:
    resp = ws.get("nosuchop")
    assert resp.status_code == 500 and resp.content == b""


def test_sessions_expire_when_idle_and_relogin_works(sandbox_factory) -> None:
    server = sandbox_factory(config={"session_idle_ttl": 1})
    ws = WebService(server)
    ws.login()
    assert ws.get("me").json()["success"]
    time.sleep(1.3)
    assert ws.get("me").json()["error"]["code"] == "INVALID_SESSIONID"
    ws.login()
    assert ws.get("me").json()["success"]


def test_logout_ends_the_session(ws: WebService) -> None:
    assert ws.post("logout").json() == {"success": True, "result": {"message": "successfull"}}
    assert ws.get("listtypes").json()["error"]["code"] == "INVALID_SESSIONID"


def test_admin_endpoints_need_admin_basic_auth(shared_sandbox: SandboxServer) -> None:
    resp = requests.get(f"{shared_sandbox.url}/_sandbox/stats", timeout=10)
    assert resp.status_code == 401
    user = shared_sandbox.add_user("carol")
    resp = requests.get(f"{shared_sandbox.url}/_sandbox/stats", timeout=10,
                        auth=("carol", user["access_key"]))
    assert resp.status_code == 401
    # but carol can use the API with her own key
    me = Rest(shared_sandbox, auth=("carol", user["access_key"])).ok("GET", "me")
    assert me["id"] == user["id"]


def test_self_hosted_answers_restapi_with_its_login_page(sandbox_factory) -> None:
    """The open-source edition has no /restapi: index.php shows the login page, HTTP 200."""
    server = sandbox_factory(flavor="self-hosted")
    for url in (f"{server.rest_url}/me", f"{server.url}/restapi/vtap/api/anything"):
        resp = requests.get(url, auth=(server.username, server.access_key), timeout=10)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/html; charset=UTF-8"
        assert resp.text.startswith("<!DOCTYPE html>")
        assert 'name="action" value="Login"' in resp.text
