"""tap-vtiger on self-hosted Vtiger 8.2 (open-source edition) with several owners: a default run
(only api_url, username, access_key, api_style webservice) succeeds, reads every owner's
records, and skips what the server lacks with one warning each.
"""

from __future__ import annotations

import json
import logging

import pytest
from tap_helpers import run_cli, run_tap

FLAVORS = ["self-hosted-sync", "self-hosted-stock"]


def default_config(server) -> dict:
    """What a self-hosted user sets: nothing but the connection."""
    return {**server.tap_config(), "api_style": "webservice"}


def multi_owner_crm(server) -> dict[str, list[str]]:
    """Accounts and Contacts owned by the admin, another user and a group."""
    bob = server.add_user("bob", "Bob", "Builder")["id"]
    ids: dict[str, list[str]] = {"Accounts": [], "Contacts": []}
    for owner in ("19x1", bob, "20x2"):
        ids["Accounts"] += server.bulk_create("Accounts", 2, modifiedtime="2026-01-01 10:00:00",
                                              assigned_user_id=owner)
        ids["Contacts"] += server.bulk_create("Contacts", 3, modifiedtime="2026-01-01 11:00:00",
                                              assigned_user_id=owner)
    return ids


def warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and text in r.getMessage()]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_default_run_succeeds_and_reads_every_owner(sandbox_factory, tmp_path, flavor):
    server = sandbox_factory(flavor=flavor)
    ids = multi_owner_crm(server)
    proc = run_cli(default_config(server), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    for module, expected in ids.items():
        got = [m["record"]["id"] for m in messages
               if m["type"] == "RECORD" and m["stream"] == module]
        assert sorted(got) == sorted(expected), module
    assert "Traceback" not in proc.stderr
    # a default run asks for nothing only Vtiger Cloud has
    assert not {"me", "get_account_hierarchy", "tags_retrieve", "picklist_dependency"} & set(
        server.stats())


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_stream_needing_a_cloud_only_operation_emits_nothing(sandbox_factory, caplog, flavor):
    """account_hierarchy (opt-in) needs get_account_hierarchy: tried once (crash + one retry),
    never per account; one warning; the run goes on."""
    server = sandbox_factory(flavor=flavor)
    multi_owner_crm(server)
    cfg = {**default_config(server), "modules": ["Accounts"], "include_account_hierarchy": True}
    with caplog.at_level(logging.INFO):
        run = run_tap(cfg, streams={"Accounts", "account_hierarchy"})
    assert len(run.records("Accounts")) == 6
    assert run.records("account_hierarchy") == []
    assert len(warnings(caplog, "not offered by this server")) == 1
    assert run.tap.client.unavailable.keys() == {"get_account_hierarchy"}


def test_the_same_stream_is_read_on_vtiger_cloud(sandbox_factory):
    server = sandbox_factory(flavor="cloud")
    multi_owner_crm(server)
    cfg = {**default_config(server), "modules": ["Accounts"], "include_account_hierarchy": True}
    run = run_tap(cfg, streams={"Accounts", "account_hierarchy"})
    assert len(run.records("account_hierarchy")) == 6
    assert run.tap.client.unavailable == {}


def test_stock_build_warns_once_that_sync_crashes_and_reads_through_query(
        sandbox_factory, caplog):
    server = sandbox_factory(flavor="self-hosted-stock")
    ids = multi_owner_crm(server)
    cfg = {**default_config(server), "modules": ["Accounts", "Contacts"],
           "include_metadata_streams": False}
    with caplog.at_level(logging.INFO):
        run = run_tap(cfg)
    assert sorted(run.ids("Accounts")) == sorted(ids["Accounts"])
    assert sorted(run.ids("Contacts")) == sorted(ids["Contacts"])
    assert len(warnings(caplog, "sync is not available")) == 1
    # the verdict is kept in state: the next run spends no call on sync
    server.reset_stats()
    run_tap(cfg, state=run.state())
    assert server.stats().get("sync", 0) == 0


def test_cloud_only_me_falls_back_to_the_login_user_without_a_warning(sandbox_factory, caplog):
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    server = sandbox_factory(flavor="self-hosted-stock")
    client = VtigerClient(ClientConfig.from_mapping(default_config(server)))
    with caplog.at_level(logging.WARNING):
        assert client.me()["id"] == "19x1"
        assert client.me()["user_name"] == server.username
    assert caplog.records == []
    assert server.stats().get("me") == 1  # one crash is enough; later calls go to retrieve


def test_a_missing_operation_is_remembered_in_state_and_asked_again_after_a_day(
        sandbox_factory, caplog):
    server = sandbox_factory(flavor="self-hosted-sync")
    multi_owner_crm(server)
    cfg = {**default_config(server), "modules": ["Accounts"], "include_account_hierarchy": True}
    first = run_tap(cfg, streams={"Accounts", "account_hierarchy"})
    found_at = first.state()["vtiger_unavailable"]["get_account_hierarchy"]
    assert server.stats()["get_account_hierarchy"] == 2

    server.bulk_create("Accounts", 2, modifiedtime="2026-01-02 10:00:00")  # new Accounts
    server.reset_stats()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        second = run_tap(cfg, streams={"Accounts", "account_hierarchy"}, state=first.state())
    assert len(second.records("Accounts")) >= 2
    assert "get_account_hierarchy" not in server.stats()  # not asked again
    assert len(warnings(caplog, "get_account_hierarchy: not offered")) == 1  # still said once
    assert second.state()["vtiger_unavailable"]["get_account_hierarchy"] == found_at

    stale = {**second.state(), "vtiger_unavailable": {"get_account_hierarchy": found_at - 86400}}
    server.bulk_create("Accounts", 1, modifiedtime="2026-01-03 10:00:00")
    server.reset_stats()
    run_tap(cfg, streams={"Accounts", "account_hierarchy"}, state=stale)
    assert server.stats()["get_account_hierarchy"] == 2  # a day later: asked again


def test_a_server_offering_everything_leaves_no_trace_in_state(sandbox_factory):
    server = sandbox_factory(flavor="cloud")
    multi_owner_crm(server)
    cfg = {**default_config(server), "modules": ["Accounts"], "include_account_hierarchy": True}
    run = run_tap(cfg, streams={"Accounts", "account_hierarchy"})
    assert "vtiger_unavailable" not in run.state()
