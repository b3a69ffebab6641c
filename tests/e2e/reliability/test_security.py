"""Security (issue 6): secrets never reach output, TLS is verified (with a private CA through
``ca_bundle``), plain http only to loopback, and the sandbox authenticates every endpoint.

Secrets searched for after the runs: the access key, the ``Authorization`` header value and its
base64 part, every session name the sandbox handed out (``/_sandbox/sessions``, admin only, a
test-control endpoint), the md5 login digest of the last challenge, webhook tokens and the wrong
keys/tokens of failing runs. Searched in stdout, stderr and a DEBUG log file of every run
(``LOGLEVEL=DEBUG`` is how the singer-sdk sets its level; ``SINGER_SDK_LOG_CONFIG`` adds the
file), and in the rejects file.

Decisions: ``/_sandbox/*`` (test control: stats, reset, users...) needs the admin's Basic auth
like the REST API; ``getchallenge`` is public by protocol (it hands out a one-time token and no
data), every other webservice operation needs a session.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from bad_input_helpers import (
    BIN,
    QUIET,
    ROOT,
    TlsSandbox,
    all_rows,
    client,
    debug_logging_env,
    error_lines,
    make_ca_and_server_cert,
    message_of,
    record,
    run_cli,
    schema,
    secrets_of,
    singer,
)

from vtiger_sandbox.testing import SandboxServer

FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 8}
FAULTS = {"seed": 11, "error_rate": 0.15, "drop_rate": 0.05, "html_rate": 0.05,
          "truncate_rate": 0.05}
WRONG_KEY = "WrongKey-0f9e8d7c6b5a"
WEBHOOK_TOKEN = "hook-token-7c1d9e3a5b"
WRONG_TOKEN = "bad-hook-token-2b4d6f"


def _contacts(n: int, tag: str) -> str:
    return singer(schema("Contacts", "lastname", "email", "description"),
                  *(record("Contacts", {"lastname": f"{tag}{i}", "email": f"{tag}{i}@x.com",
                                        "description": "key? token? none here"})
                    for i in range(n)),
                  {"type": "STATE", "value": {"tag": tag}})


class Outputs:
    """Everything a set of runs printed or logged, to be searched at the end."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        #: secrets of the server seen after each run (every login's digest, not only the last)
        self.secrets: dict[str, str] = {}

    def collect(self, server: SandboxServer, **kw) -> dict[str, str]:
        for name, value in secrets_of(server, other_keys=(WRONG_KEY,), **kw).items():
            if value not in self.secrets.values():
                self.secrets[f"{name}#{len(self.secrets)}"] = value
        return self.secrets

    def add(self, name: str, proc: subprocess.CompletedProcess, log_file: Path) -> None:
        self.texts[f"{name}:stdout"] = proc.stdout
        self.texts[f"{name}:stderr"] = proc.stderr
        self.texts[f"{name}:log"] = log_file.read_text() if log_file.exists() else ""

    def lines(self) -> int:
        return sum(len(t.splitlines()) for t in self.texts.values())

    def leaks(self, secrets: dict[str, str]) -> list[tuple[str, str]]:
        return [(where, what) for where, text in self.texts.items()
                for what, value in secrets.items() if value and value in text]


def _run(outputs: Outputs, exe: str, name: str, cfg: dict, tmp_path: Path, *args: str,
         stdin: str = "", server: SandboxServer) -> subprocess.CompletedProcess:
    env, log_file = debug_logging_env(tmp_path, name)
    proc = run_cli(exe, cfg, *args, tmp_path=tmp_path, stdin=stdin, env=env,
                   name=f"{name}.json")
    outputs.add(name, proc, log_file)
    outputs.collect(server)
    return proc


@pytest.mark.slow
def test_tap_never_prints_or_logs_a_secret_even_at_debug(sandbox, tmp_path):
    sandbox.bulk_create("Contacts", 30)
    out = Outputs()
    base = {**sandbox.tap_config(), **QUIET, **FAST, "modules": ["Contacts"]}
    for style in ("rest", "webservice"):
        cfg = {**base, "api_style": style}
        assert _run(out, "tap-vtiger", f"discover-{style}", cfg, tmp_path,
                    "--discover", server=sandbox).returncode == 0
        proc = _run(out, "tap-vtiger", f"sync-{style}", cfg, tmp_path, server=sandbox)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.count('"type":"RECORD"') + proc.stdout.count('"type": "RECORD"') == 30
        wrong = _run(out, "tap-vtiger", f"wrong-key-{style}", {**cfg, "access_key": WRONG_KEY},
                     tmp_path, server=sandbox)
        assert wrong.returncode == 1
    sandbox.configure(faults=FAULTS)
    proc = _run(out, "tap-vtiger", "faults-webservice", {**base, "api_style": "webservice"},
                tmp_path, server=sandbox)
    faults = sandbox.admin("GET", "stats")["faults"]
    sandbox.configure(faults={})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum(faults.values()) > 0  # the run went through faults

    secrets = {**out.collect(sandbox), "wrong_key": WRONG_KEY}
    assert sum(k.startswith("session_") for k in secrets) >= 3  # the webservice runs logged in
    assert sum(k.startswith("login_digest") for k in secrets) >= 3
    assert "DEBUG" in out.texts["sync-webservice:log"]  # DEBUG logging really was on
    assert "sessionName=***" in out.texts["sync-webservice:log"]  # urllib3's URLs, masked
    assert out.leaks(secrets) == []
    print(f"tap: {len(secrets)} secrets {sorted(secrets)} searched in {len(out.texts)} outputs, "
          f"{out.lines()} lines")


@pytest.fixture
def webhook_sandbox(tmp_path):
    """A sandbox whose API Designer webhook has a token of this test (definitions file beside
    the database, where the sandbox looks first).
    """
    db = tmp_path / "hook.sqlite"
    demo = (ROOT / "vtiger_sandbox" / "apidesigner_demo.xml").read_text()
    Path(str(db) + ".apidesigner.xml").write_text(demo.replace("demo-webhook-token",
                                                               WEBHOOK_TOKEN))
    server = SandboxServer(db).start()
    yield server
    server.stop(wait=False)


@pytest.mark.slow
def test_target_never_prints_or_logs_a_secret_even_at_debug(webhook_sandbox, tmp_path):
    server = webhook_sandbox
    out = Outputs()
    rejects = tmp_path / "rejects.jsonl"
    base = {**server.tap_config(), **FAST, "rejects_path": str(rejects),
            "match_keys": {"Contacts": ["email"]}}
    for style in ("rest", "webservice"):
        cfg = {**base, "api_style": style}
        proc = _run(out, "target-vtiger", f"write-{style}", cfg, tmp_path,
                    stdin=_contacts(10, style), server=server)
        assert proc.returncode == 0, proc.stderr[-2000:]
        wrong = _run(out, "target-vtiger", f"wrong-key-{style}",
                     {**cfg, "access_key": WRONG_KEY}, tmp_path, stdin=_contacts(2, "w"),
                     server=server)
        assert wrong.returncode == 1
    server.configure(faults=FAULTS)
    proc = _run(out, "target-vtiger", "faults-webservice", {**base, "api_style": "webservice"},
                tmp_path, stdin=_contacts(20, "f"), server=server)
    faults = server.admin("GET", "stats")["faults"]
    server.configure(faults={})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum(faults.values()) > 0
    hook = {**server.tap_config(), "webhook_url": "contacts_upsert",
            "webhook_token": WEBHOOK_TOKEN, "webhook_batch_size": 50,
            "rejects_path": str(rejects)}
    bad = {"lastname": "", "email": "rejected@x.com"}  # rejected: the rejects file is searched
    proc = _run(out, "target-vtiger", "webhook", {**hook, "allow_rejects": True}, tmp_path,
                stdin=_contacts(5, "h") + singer(record("Contacts", bad)), server=server)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before = len(all_rows(client(server), "Contacts"))
    wrong = _run(out, "target-vtiger", "webhook-wrong-token",
                 {**hook, "webhook_token": WRONG_TOKEN}, tmp_path, stdin=_contacts(5, "x"),
                 server=server)
    assert wrong.returncode == 1
    assert "INVALID_AUTH_TOKEN" in wrong.stderr
    assert len(all_rows(client(server), "Contacts")) == before  # the wrong token wrote nothing
    out.texts["rejects"] = rejects.read_text() if rejects.exists() else ""

    secrets = {**out.collect(server, tokens=(WEBHOOK_TOKEN, WRONG_TOKEN)),
               "wrong_key": WRONG_KEY}
    assert sum(k.startswith("session_") for k in secrets) >= 2
    assert out.texts["rejects"]  # something was rejected, so the file was searched too
    assert "DEBUG" in out.texts["write-webservice:log"]  # DEBUG logging really was on
    assert out.leaks(secrets) == []
    print(f"target: {len(secrets)} secrets {sorted(secrets)} searched in {len(out.texts)} outputs, "
          f"{out.lines()} lines")


def _about(exe: str) -> dict:
    proc = subprocess.run([str(BIN / exe), "--about", "--format", "json"], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)["settings"]["properties"]


@pytest.mark.parametrize(("exe", "kind"), [("tap-vtiger", "extractors"),
                                           ("target-vtiger", "loaders")])
def test_every_secret_setting_is_sensitive_in_meltano_yml(exe, kind):
    about = _about(exe)
    secret = {name for name, spec in about.items() if spec.get("secret")}
    # anything named like a credential is declared secret by the plugin itself
    looks_secret = {name for name in about
                    if re.search(r"(^|_)(key|token|password|secret)$", name)}
    assert looks_secret <= secret, looks_secret - secret
    assert "access_key" in secret
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = [p for p in project["plugins"][kind]
               if p["name"] == exe or p.get("inherit_from") == exe]
    assert plugins
    for plugin in plugins:
        settings = {s["name"]: s for s in plugin.get("settings", [])}
        for name in secret:
            if name in settings or plugin["name"] == exe:
                assert settings[name].get("sensitive") is True, (plugin["name"], name)
                assert settings[name].get("kind") == "password", (plugin["name"], name)


# ---------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    material = make_ca_and_server_cert(directory)
    server = TlsSandbox(directory / "tls.sqlite", material["cert"], material["key"],
                        material["ca"]).start()
    yield server
    server.stop(wait=False)


def test_client_verifies_tls_by_default():
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    cfg = ClientConfig.from_mapping({"api_url": "https://crm.example.com", "username": "u",
                                     "access_key": "k"})
    assert cfg.verify_ssl is True
    assert VtigerClient(cfg).http.verify is True


@pytest.mark.slow
@pytest.mark.parametrize("exe", ["tap-vtiger", "target-vtiger"])
def test_private_ca_fails_by_default_and_works_with_ca_bundle_or_verify_off(tls_sandbox,
                                                                            tmp_path, exe):
    server = tls_sandbox
    assert server.url.startswith("https://127.0.0.1:")
    base = {**server.tap_config(), **QUIET, "modules": ["Contacts"]}
    args = ("--discover",) if exe == "tap-vtiger" else ()

    def run(cfg: dict, tag: str) -> subprocess.CompletedProcess:
        stdin = _contacts(1, tag) if exe == "target-vtiger" else ""
        return run_cli(exe, cfg, *args, tmp_path=tmp_path, stdin=stdin, name=f"{tag}.json")

    before = server.total_calls()
    default = run(base, "default")
    assert default.returncode == 1
    assert "Traceback" not in default.stderr
    errors = error_lines(default)
    assert len(errors) == 1, default.stderr
    assert "TLS" in errors[0] and "ca_bundle" in errors[0]
    assert server.total_calls() == before  # nothing got through the handshake

    trusted = run({**base, "ca_bundle": str(server.ca)}, "cabundle")
    assert trusted.returncode == 0, trusted.stderr[-2000:]
    unverified = run({**base, "verify_ssl": False}, "noverify")
    assert unverified.returncode == 0, unverified.stderr[-2000:]
    if exe == "tap-vtiger":
        assert "Contacts" in {s["tap_stream_id"] for s in json.loads(trusted.stdout)["streams"]}
    else:
        names = {r["lastname"] for r in all_rows(client(server, ca_bundle=str(server.ca)),
                                                 "Contacts")}
        assert {"cabundle0", "noverify0"} <= names


@pytest.mark.parametrize("exe", ["tap-vtiger", "target-vtiger"])
def test_plain_http_only_to_loopback_unless_allow_http(sandbox, tmp_path, exe):
    """0.0.0.0 reaches this machine on Linux but is not a loopback address: without
    allow_http the run is refused before any call, with it the same server answers.
    """
    remote_looking = sandbox.url.replace("127.0.0.1", "0.0.0.0")
    args = ("--discover",) if exe == "tap-vtiger" else ()
    stdin = _contacts(1, "http") if exe == "target-vtiger" else ""
    cfg = {**sandbox.tap_config(), **QUIET, "modules": ["Contacts"], "api_url": remote_looking}
    before = sandbox.total_calls()
    refused = run_cli(exe, cfg, *args, tmp_path=tmp_path, stdin=stdin, name="refused.json")
    assert refused.returncode == 1
    assert "api_url" in message_of(error_lines(refused)[-1])
    assert "allow_http" in message_of(error_lines(refused)[-1])
    assert sandbox.total_calls() == before
    allowed = run_cli(exe, {**cfg, "allow_http": True}, *args, tmp_path=tmp_path, stdin=stdin,
                      name="allowed.json")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert sandbox.total_calls() > before
    for host in ("localhost", "127.0.0.1"):
        local = {**cfg, "api_url": sandbox.url.replace("127.0.0.1", host)}
        ok = run_cli(exe, local, *args, tmp_path=tmp_path, stdin=stdin, name=f"{host}.json")
        assert ok.returncode == 0, ok.stderr[-2000:]


# ------------------------------------------------------------------- sandbox endpoints


def _route_paths() -> list[str]:
    """Every path template the sandbox app serves (Starlette routes, mounts flattened)."""
    from starlette.routing import Mount

    from vtiger_sandbox.app import build_app
    from vtiger_sandbox.backend import VtigerBackend
    from vtiger_sandbox.modules import load_modules
    from vtiger_sandbox.store import Store

    app = build_app(VtigerBackend(Store(":memory:", load_modules())))
    paths: list[str] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            else:
                paths.append(prefix + route.path)

    walk(app.starlette.routes, "")
    return paths


ADMIN_PATHS = ["stats", "stats/reset", "config", "records/touch", "records/bulk", "users",
               "fields", "health", "reset", "sessions"]


def _requests_for(path: str, operations: list[str]) -> list[tuple[str, str, dict]]:
    """(method, concrete path, kwargs) calls covering one route template."""
    out: list[tuple[str, str, dict]] = []
    if path.endswith("/{operation}"):
        for op in operations:
            for method in ("GET", "POST"):
                out.append((method, path.replace("{operation}", op),
                            {"params": {"elementType": "Contacts", "query":
                                        "select * from Contacts;", "id": "12x1"}}))
    elif path == "/webservice.php":
        for op in operations:
            if op in ("getchallenge",):
                continue  # public by protocol: a one-time token, no data
            for method in ("GET", "POST"):
                params = {"operation": op, "elementType": "Contacts", "id": "12x1",
                          "query": "select * from Contacts;", "username": "admin",
                          "accessKey": "0" * 32}
                kw = {"params": params} if method == "GET" else {"data": params}
                out.append((method, path, kw))
    elif path.startswith("/_sandbox/"):
        for admin_path in ADMIN_PATHS:
            for method in ("GET", "POST"):
                out.append((method, "/_sandbox/" + admin_path,
                            {"json": {"module": "Contacts", "count": 3}}))
    elif path.endswith("/api/{path:path}"):
        for method in ("GET", "POST", "PUT", "DELETE"):
            out.append((method, path.replace("{path:path}", "contacts"), {}))
    elif path.endswith("/webhook/{path:path}"):
        for hook in ("contacts_upsert", "leads_in"):
            out.append(("POST", path.replace("{path:path}", hook),
                        {"json": {"lastname": "Intruder", "email": "in@x.com",
                                  "company": "X"}}))
    else:
        raise AssertionError(f"a new route nobody checks: {path}")
    return out


def test_every_sandbox_route_refuses_missing_and_wrong_credentials(sandbox_factory):
    from vtiger_client.session import OPERATION_METHODS

    server = sandbox_factory(seed="demo")
    routes = _route_paths()
    assert len(routes) >= 5
    operations = sorted(OPERATION_METHODS)
    counts_before = {m: len(all_rows(client(server), m)) for m in ("Contacts", "Leads")}
    config_before = server.admin("GET", "config")
    calls = 0
    for template in routes:
        for method, path, kw in _requests_for(template, operations):
            for auth in ("none", "wrong"):
                extra: dict = {}
                if auth == "wrong":
                    extra = {"auth": ("admin", WRONG_KEY), "headers": {"token": WRONG_TOKEN}}
                    if "params" in kw and "webservice" in path:
                        kw = {**kw, "params": {**kw["params"], "sessionName": "0" * 20}}
                    if "data" in kw:
                        kw = {**kw, "data": {**kw["data"], "sessionName": "0" * 20}}
                if "/webhook/" in path and auth == "wrong":
                    path = path.split("?")[0] + f"?token={WRONG_TOKEN}"
                resp = requests.request(method, server.url + path, timeout=10, **kw, **extra)
                calls += 1
                where = f"{auth} {method} {path}"
                if path.startswith("/webservice.php"):
                    body = resp.json()
                    assert body["success"] is False, where
                    assert "result" not in body, where
                    assert body["error"]["code"] in (
                        "AUTHENTICATION_REQUIRED", "INVALID_SESSIONID", "INVALID_AUTH_TOKEN",
                        "AUTHENTICATION_FAILURE",
                        "INVALID_USER_CREDENTIALS"), (where, body)
                else:
                    assert resp.status_code == 401, (where, resp.status_code, resp.text[:200])
                    assert "result" not in resp.json(), where
    assert {m: len(all_rows(client(server), m)) for m in ("Contacts", "Leads")} == counts_before
    assert server.admin("GET", "config") == config_before
    print(f"{len(routes)} routes, {calls} unauthenticated/wrong-credential calls")


@pytest.mark.parametrize(("hook", "placement"), [("contacts_upsert", "header"),
                                                 ("leads_in", "query")])
@pytest.mark.parametrize("token", [None, "", WRONG_TOKEN, "demo-webhook-token x"])
def test_a_webhook_with_a_missing_or_wrong_token_writes_nothing(sandbox, hook, placement, token):
    vt = client(sandbox)
    before = {m: len(all_rows(vt, m)) for m in ("Contacts", "Leads")}
    body = {"records": [{"lastname": "Intruder", "email": "in@x.com", "company": "X"}]}
    kw: dict = {"json": body}
    if token is not None:
        kw["headers" if placement == "header" else "params"] = {"token": token}
    resp = requests.post(f"{sandbox.url}/restapi/vtap/webhook/{hook}", timeout=10, **kw)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "INVALID_AUTH_TOKEN"
    assert {m: len(all_rows(vt, m)) for m in ("Contacts", "Leads")} == before
    # the right token on the same request writes (so the refusal above was the token's doing)
    right = "demo-webhook-token" if placement == "header" else "demo-query-token"
    kw["headers" if placement == "header" else "params"] = {"token": right}
    ok = requests.post(f"{sandbox.url}/restapi/vtap/webhook/{hook}", timeout=10,
                       **({**kw, "json": body["records"][0]}))
    assert ok.status_code == 200, ok.text
    assert sum(len(all_rows(vt, m)) for m in ("Contacts", "Leads")) == sum(before.values()) + 1
