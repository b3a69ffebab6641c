"""Vtiger Cloud edition presets of the sandbox's rate limits, and its time scale (issue 16)."""

from __future__ import annotations

import pytest
from sandbox_helpers import Rest

from vtiger_sandbox.backend.settings import DEFAULT_SETTINGS
from vtiger_sandbox.ratelimit import EDITIONS, edition_limits


def test_the_cloud_flavor_defaults_to_a_real_edition():
    assert DEFAULT_SETTINGS["edition"] == "one-enterprise"
    assert edition_limits(dict(DEFAULT_SETTINGS)) == (90, 5_000, 120_000)


@pytest.mark.parametrize(("edition", "minute", "daily"), [
    ("one-growth", 30, 24_000), ("one-professional", 60, 72_000),
    ("one-enterprise", 90, 120_000)])
def test_an_edition_sets_the_limits_the_headers_report(sandbox_factory, edition, minute, daily):
    assert EDITIONS[edition][0] == minute
    server = sandbox_factory(config={"edition": edition})
    resp = Rest(server).get("me")
    assert resp.headers["X-FloodControl-MinuteLimit"] == str(minute)
    assert resp.headers["X-RateLimit-DailyLimit"] == str(daily)


def test_an_explicit_limit_wins_over_the_edition(sandbox_factory):
    server = sandbox_factory(config={"edition": "one-growth", "daily_limit": 7})
    resp = Rest(server).get("me")
    assert resp.headers["X-FloodControl-MinuteLimit"] == "30"
    assert resp.headers["X-RateLimit-DailyLimit"] == "7"


def test_the_hourly_limit_answers_429(sandbox):
    sandbox.configure(hourly_limit=2)
    rest = Rest(sandbox)
    assert [rest.get("me").status_code for _ in range(3)] == [200, 200, 429]


def test_time_scale_makes_a_minute_pass_in_a_second_of_real_time(sandbox):
    sandbox.configure(edition="one-growth", minute_limit=2, time_scale=60)
    rest = Rest(sandbox)
    answers = [rest.get("me") for _ in range(3)]
    refused = [r for r in answers if r.status_code == 429]
    assert refused, [r.status_code for r in answers]
    assert 0 < float(refused[0].headers["Retry-After"]) <= 1.0
    assert float(refused[0].headers["X-FloodControl-Reset"]) > 0


@pytest.mark.parametrize("bad", [{"edition": "free"}, {"time_scale": 0.5},
                                 {"time_scale": "fast"}, {"hourly_limit": -1}])
def test_bad_edition_settings_are_refused(sandbox, bad):
    from vtiger_sandbox.testing import SandboxError

    with pytest.raises(SandboxError, match="400"):
        sandbox.configure(**bad)
