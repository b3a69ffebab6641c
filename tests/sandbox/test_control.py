"""Admin control: call stats, rate limits (429 + headers), deterministic fault injection."""

from __future__ import annotations

import requests
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.testing import SandboxServer

RATE_HEADERS = ("X-FloodControl-MinuteLimit", "X-FloodControl-Remaining",
                "X-FloodControl-Reset", "X-RateLimit-DailyLimit", "X-RateLimit-Remaining",
                "X-RateLimit-Reset")


def test_stats_count_api_calls_per_operation(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    rest.ok("GET", "me")
    rest.ok("GET", "listtypes")
    rest.create("Contacts", lastname="S")
    rest.error("GET", "retrieve", id="12x999")
    ws = WebService(sandbox)
    ws.login()
    assert sandbox.stats() == {"me": 1, "listtypes": 1, "create": 1, "retrieve": 1,
                               "getchallenge": 1, "login": 1}
    assert sandbox.total_calls() == 6  # admin calls are not counted
    sandbox.reset_stats()
    assert sandbox.total_calls() == 0


def test_every_rest_response_carries_rate_headers(rest: Rest) -> None:
    ok = rest.get("me")
    err = rest.get("retrieve", id="nope")
    for resp in (ok, err):
        for h in RATE_HEADERS:
            assert h in resp.headers, h
    assert int(ok.headers["X-FloodControl-MinuteLimit"]) == 100000


def test_minute_limit_gives_429_with_retry_after(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    for _attempt in range(2):  # the minute window may roll over mid-test: then try again
        sandbox.configure(minute_limit=3)  # (re)setting a limit restarts the counts
        resps = [rest.get("me") for _ in range(4)]
        if len({r.headers["X-FloodControl-Reset"] for r in resps}) == 1:
            break
    remaining = [int(r.headers["X-FloodControl-Remaining"]) for r in resps[:3]]
    assert remaining == [2, 1, 0]
    resp = resps[3]
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-FloodControl-Remaining"] == "0"
    assert resp.json()["success"] is False
    sandbox.configure(minute_limit=100000)
    assert rest.get("me").status_code == 200


def test_daily_limit(sandbox: SandboxServer) -> None:
    sandbox.configure(daily_limit=1)
    rest = Rest(sandbox)
    assert rest.get("me").status_code == 200
    resp = rest.get("me")
    assert resp.status_code == 429 and resp.headers["X-RateLimit-Remaining"] == "0"


def _outcomes(server: SandboxServer, n: int) -> list[str]:
    rest = Rest(server)
    out = []
    for _ in range(n):
        try:
            resp = rest.get("listtypes")
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            out.append("drop")  # the connection broke mid-response
            continue
        if resp.headers.get("content-type", "").startswith("text/html"):
            out.append(f"html{resp.status_code}")
            continue
        try:
            resp.json()
        except ValueError:
            out.append("truncated")
            continue
        out.append(str(resp.status_code))
    return out


def test_fault_injection_is_deterministic_for_a_seed(sandbox: SandboxServer) -> None:
    faults = {"seed": 7, "error_rate": 0.2, "drop_rate": 0.1, "html_rate": 0.1,
              "truncate_rate": 0.1}
    sandbox.configure(faults=faults)
    first = _outcomes(sandbox, 40)
    sandbox.configure(faults=faults)  # re-applying restarts the call numbering
    second = _outcomes(sandbox, 40)
    assert first == second
    kinds = set(first)
    assert "200" in kinds and "drop" in kinds and "truncated" in kinds
    assert kinds & {"html500", "html502", "html503"}
    assert "html200" in kinds
    sandbox.configure(faults={**faults, "seed": 8})
    assert _outcomes(sandbox, 40) != first
    sandbox.configure(faults={})
    assert set(_outcomes(sandbox, 5)) == {"200"}


def test_burst_429_and_operation_filter(sandbox: SandboxServer) -> None:
    sandbox.configure(faults={"burst_429": {"every": 3, "length": 2, "retry_after": 2},
                              "operations": ["listtypes"]})
    rest = Rest(sandbox)
    statuses = [rest.get("listtypes").status_code for _ in range(10)]
    assert statuses == [200, 200, 200, 429, 429] * 2
    resp = None
    for _ in range(5):
        resp = rest.get("listtypes")
        if resp.status_code == 429:
            break
    assert resp is not None and resp.headers["Retry-After"] == "2"
    assert rest.get("me").status_code == 200  # other operations are unaffected


def test_latency_injection(sandbox: SandboxServer) -> None:
    sandbox.configure(faults={"latency_ms": 150})
    rest = Rest(sandbox)
    resp = rest.get("me")
    assert resp.elapsed.total_seconds() >= 0.14


def test_config_roundtrip(sandbox: SandboxServer) -> None:
    cfg = sandbox.admin("GET", "config")
    assert cfg["sync_page_limit"] == 100 and cfg["flavor"] == "cloud"
    assert sandbox.configure(sync_page_limit=50)["sync_page_limit"] == 50
    resp = requests.post(f"{sandbox.url}/_sandbox/config", json={"nonsense": 1},
                         auth=(sandbox.username, sandbox.access_key), timeout=10)
    assert resp.status_code == 400


def test_reset_empties_the_sandbox(sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    rec = rest.create("Contacts", lastname="Before")
    sandbox.configure(sync_page_limit=5)
    sandbox.reset()
    assert rest.error("GET", "retrieve", id=rec["id"])[1]["code"] == "ACCESS_DENIED"
    assert sandbox.admin("GET", "config")["sync_page_limit"] == 100
    again = rest.create("Contacts", lastname="After")
    assert again["contact_no"] == "CON1"
    assert sandbox.stats() == {"retrieve": 1, "create": 1}


def test_crash_operations_answer_empty_500s(sandbox: SandboxServer) -> None:
    sandbox.configure(crash_operations=["logout", "convertlead"])
    ws = WebService(sandbox)
    ws.login()
    resp = ws.post("logout")
    assert resp.status_code == 500 and resp.content == b""
    assert ws.get("me").json()["success"] is True  # the session survived the crash


def test_oversized_body_is_refused(shared_sandbox: SandboxServer) -> None:
    rest = Rest(shared_sandbox)
    resp = rest.post("create", elementType="Contacts", element="x" * (33 * 1024 * 1024))
    assert resp.status_code == 413


def test_bad_setting_values_are_refused(shared_sandbox: SandboxServer) -> None:
    for bad in ({"sync_page_limit": "many"}, {"flavor": "saas"}, {"faults": [1]},
                {"currency_decimals": 12}, {"minute_limit": -1},
                {"faults": {"error_rate": "often"}}, {"faults": {"burst_429": [3]}},
                {"faults": {"operations": "sync"}}, {"refused_modules": ["sync"]},
                {"refused_modules": {"update": ["Contacts"]}},
                {"refused_modules": {"sync": "Contacts"}}):
        resp = requests.post(f"{shared_sandbox.url}/_sandbox/config", json=bad, timeout=10,
                             auth=(shared_sandbox.username, shared_sandbox.access_key))
        assert resp.status_code == 400, bad


def test_refused_modules_answer_access_denied_for_that_operation_only(
        sandbox: SandboxServer) -> None:
    rest = Rest(sandbox)
    sandbox.configure(refused_modules={"sync": ["Contacts"], "query": ["Currency"]})
    refused = rest.get("sync", elementType="Contacts", modifiedTime=1)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ACCESS_DENIED"
    assert rest.get("query", query="select * from Currency;").json()["error"]["code"] == (
        "ACCESS_DENIED")
    # the other operation and the other modules still answer
    assert rest.ok("GET", "query", query="select count(*) from Contacts;")
    assert rest.ok("GET", "sync", elementType="Accounts", modifiedTime=1)["more"] is False
    sandbox.configure(refused_modules={})
    assert rest.get("sync", elementType="Contacts", modifiedTime=1).status_code == 200
