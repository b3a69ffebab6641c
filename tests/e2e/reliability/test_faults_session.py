"""Sessions expiring in the middle of a run (self-hosted Vtiger, ``webservice.php``): the client
logs in again and repeats the call, so no page is lost or repeated - the extraction of the demo
CRM still equals the server.

Two ways a session dies: its total lifetime ends (``session_max_ttl``, shortened to 0.3 s while
every call takes 15 ms), or it sits idle longer than ``session_idle_ttl`` (0.5 s) while the
client waits out a 429 burst's Retry-After (1 s).
"""

from __future__ import annotations

import logging

import pytest
from faults_helpers import (
    FAST_RETRIES,
    assert_equal_to_truth,
    faults_on,
    live_ids_once,
    schemas,
    server_truth,
    upsert,
)
from tap_helpers import config, run_tap

RELOGIN = "session expired (INVALID_SESSIONID); logging in again"

#: only what makes sessions expire: no random faults on top
QUIET_NETWORK = {"error_rate": 0, "drop_rate": 0, "html_rate": 0, "truncate_rate": 0,
                 "burst_429": {}}
EXPIRY = {  # server settings, faults
    "lifetime": ({"session_max_ttl": 0.3}, {**QUIET_NETWORK, "latency_ms": 15}),
    "idle": ({"session_idle_ttl": 0.5},
             {**QUIET_NETWORK, "burst_429": {"every": 40, "length": 1, "retry_after": 1}}),
}


@pytest.mark.slow
@pytest.mark.parametrize("expiry", sorted(EXPIRY))
def test_sessions_expiring_mid_run_are_renewed_without_losing_a_page(
    sandbox_factory, figures, caplog, expiry
):
    crm = sandbox_factory(seed="demo", flavor="self-hosted")
    settings, faults = EXPIRY[expiry]
    cfg = config(crm, api_style="webservice", **FAST_RETRIES)
    crm.configure(**settings)
    with faults_on(crm, figures, **faults), caplog.at_level(logging.INFO):
        stats_before = crm.stats()
        run = run_tap(cfg)
        logins = crm.stats().get("login", 0) - stats_before.get("login", 0)
    crm.configure(session_max_ttl=86400, session_idle_ttl=1800)
    figures.runs += 1

    relogins = caplog.text.count(RELOGIN)
    assert relogins >= 2, "the sessions did not expire during the run"
    assert logins == relogins + 1  # one login to start, one per expired session
    figures.notes["sessions_expired"] = relogins
    assert not live_ids_once(run.messages)
    truth = server_truth(crm, schemas(run.messages), api_style="webservice")
    assert sum(map(len, truth.values())) > 4000
    figures.records_compared += assert_equal_to_truth(upsert(run.messages), truth)
