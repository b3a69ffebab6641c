"""The figures the reliability tests report come from the sandbox's own count of the faults it
injected (``/_sandbox/stats`` -> ``faults``): that count must be exact.
"""

from __future__ import annotations

import collections
import contextlib

import requests
from faults_helpers import FAULTS

from vtiger_sandbox.faults import FaultInjector


def test_the_sandbox_counts_every_fault_it_injects_by_kind(sandbox):
    sandbox.configure(faults=FAULTS)
    calls = 300
    url = f"{sandbox.rest_url}/me"
    auth = (sandbox.username, sandbox.access_key)
    with requests.Session() as http:
        for _ in range(calls):
            with contextlib.suppress(requests.RequestException):  # dropped connections
                http.get(url, auth=auth, timeout=10)

    # the same seed replayed in-process gives the same fate to the same call numbers
    replay = FaultInjector()
    expected = collections.Counter(
        fault.kind for fault in (replay.decide(FAULTS, "me") for _ in range(calls))
        if fault is not None and fault.kind != "none")
    stats = sandbox.admin("GET", "stats")
    assert stats["calls"] == {"me": calls}
    assert stats["faults"] == dict(expected)
    assert set(expected) == {"error", "drop", "html", "truncate", "429"}

    sandbox.reset_stats()
    assert sandbox.admin("GET", "stats")["faults"] == {}
