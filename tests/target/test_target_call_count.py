"""What a small load costs the target, in exact API calls (counted by the server).

One login per run: creates go through the client's no-retry view, which shares the main
client's webservice session instead of logging in a second time.
"""

from __future__ import annotations

import pytest
from target_helpers import contacts_input, run_target, target_config, vtiger  # noqa: F401

#: calls of loading 3 new Contacts and updating 1, matched by email: one describe, one batch
#: look-up of the 4 emails, one `me` (the default owner), 3 creates, 1 revise
LOAD = {"describe": 1, "query": 1, "me": 1, "create": 3, "revise": 1}
LOGIN = {"getchallenge": 1, "login": 1}


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_a_small_load_costs_exactly_its_calls_and_one_login(
        api_style, sandbox, target_config, vtiger):  # noqa: F811
    vtiger.create("Contacts", {"lastname": "Old", "email": "old@example.org",
                               "assigned_user_id": vtiger.me()["id"]})
    sandbox.reset_stats()
    config = {**target_config, "api_style": api_style, "match_keys": {"Contacts": ["email"]}}
    records = [*({"lastname": f"New{i}", "email": f"new{i}@example.org"} for i in range(3)),
               {"lastname": "Renamed", "email": "old@example.org"}]

    run = run_target(config, contacts_input(records, state={"bookmark": 1}))

    expected = {**LOAD, **(LOGIN if api_style == "webservice" else {})}
    assert run.counts()["created"] == 3 and run.counts()["updated"] == 1
    assert sandbox.stats() == expected
    assert run.target.run.api_calls() == expected
