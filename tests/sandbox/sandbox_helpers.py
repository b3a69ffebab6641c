"""Tiny REST and webservice.php clients for the sandbox's own tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from vtiger_sandbox.testing import SandboxServer


class Rest:
    """Raw REST calls (Basic auth) returning the ``requests.Response``."""

    def __init__(self, server: SandboxServer, auth: tuple[str, str] | None = None) -> None:
        self.server = server
        self.http = requests.Session()
        self.http.auth = auth or (server.username, server.access_key)

    def get(self, op: str, **params: Any) -> requests.Response:
        return self.http.get(f"{self.server.rest_url}/{op}", params=params, timeout=30)

    def post(self, op: str, **data: Any) -> requests.Response:
        data = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in data.items()}
        return self.http.post(f"{self.server.rest_url}/{op}", data=data, timeout=30)

    def ok(self, method: str, op: str, **params: Any) -> Any:
        resp = self.get(op, **params) if method == "GET" else self.post(op, **params)
        assert resp.status_code == 200, (resp.status_code, resp.text[:500])
        body = resp.json()
        assert body["success"] is True, body
        return body["result"]

    def create(self, module: str, **fields: Any) -> dict:
        fields.setdefault("assigned_user_id", "19x1")
        return self.ok("POST", "create", elementType=module, element=fields)

    def error(self, method: str, op: str, **params: Any) -> tuple[int, dict]:
        resp = self.get(op, **params) if method == "GET" else self.post(op, **params)
        body = resp.json()
        assert body["success"] is False, body
        return resp.status_code, body["error"]


class WebService:
    """Session API: getchallenge -> login -> sessionName."""

    def __init__(self, server: SandboxServer, username: str | None = None,
                 access_key: str | None = None) -> None:
        self.url = f"{server.url}/webservice.php"
        self.username = username or server.username
        self.access_key = access_key or server.access_key
        self.session: str | None = None
        self.http = requests.Session()

    def login(self) -> dict:
        ch = self.http.get(self.url, params={"operation": "getchallenge",
                                             "username": self.username}, timeout=30).json()
        token = ch["result"]["token"]
        key = hashlib.md5((token + self.access_key).encode()).hexdigest()
        res = self.http.post(self.url, data={"operation": "login", "username": self.username,
                                             "accessKey": key}, timeout=30).json()
        assert res["success"], res
        self.session = res["result"]["sessionName"]
        return res["result"]

    def get(self, op: str, **params: Any) -> requests.Response:
        params = {"operation": op, "sessionName": self.session, **params}
        return self.http.get(self.url, params=params, timeout=30)

    def post(self, op: str, **data: Any) -> requests.Response:
        data = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in data.items()}
        data = {"operation": op, "sessionName": self.session, **data}
        return self.http.post(self.url, data=data, timeout=30)


