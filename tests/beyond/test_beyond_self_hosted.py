"""The same relation and tag paths through self-hosted Vtiger's webservice.php (session login,
errors on HTTP 200) instead of the Cloud REST API."""

from __future__ import annotations

import pytest
from beyond_helpers import (
    LINK_PROPS,
    TAG_PROPS,
    counts,
    record_msg,
    run_tap,
    run_target,
    schema_msg,
)


@pytest.fixture
def server(sandbox_factory):
    return sandbox_factory(flavor="self-hosted")


@pytest.fixture
def ws_config(server) -> dict:
    return {**server.tap_config(), "api_style": "webservice"}


@pytest.fixture
def client(ws_config):
    from vtiger_client.session import ClientConfig, VtigerClient

    return VtigerClient(ClientConfig.from_mapping(ws_config))


def test_links_and_tags_are_extracted_through_webservice_php(server, ws_config, client):
    acme = client.create("Accounts", {"accountname": "Acme", "assigned_user_id": "19x1"})["id"]
    person = client.create("Contacts", {"lastname": "P", "account_id": acme,
                                        "assigned_user_id": "19x1"})["id"]
    client.tags_add(person, ["vip"])
    config = {**ws_config, "relations": {"Accounts": ["Contacts"]}}
    run = run_tap(config, {"Accounts", "Accounts_related", "Contacts", "tags"})
    assert [(r["source_id"], r["related_id"]) for r in run.records("Accounts_related")] == [
        (acme, person)]
    assert [(r["record_id"], r["tag"]) for r in run.records("tags")] == [(person, "vip")]


def test_links_and_tags_are_written_through_webservice_php(server, ws_config, client, tmp_path):
    acme = client.create("Accounts", {"accountname": "Acme", "assigned_user_id": "19x1"})["id"]
    person = client.create("Contacts", {"lastname": "P", "assigned_user_id": "19x1"})["id"]
    config = {**ws_config, "rejects_path": str(tmp_path / "r.jsonl")}
    link = {"source_id": acme, "related_id": person, "relation_label": "Contacts",
            "related_module": "Contacts"}
    run = run_target(config, [schema_msg("links", LINK_PROPS), record_msg("links", link),
                              schema_msg("tags", TAG_PROPS),
                              record_msg("tags", {"record_id": person, "tag": "vip"})])
    assert counts(run, "links")["created"] == 1
    assert counts(run, "tags")["created"] == 1
    assert [r["id"] for r in client.retrieve_related(acme, "Contacts", "Contacts")] == [person]
    assert client.tags_retrieve(person)["tags"] == ["vip"]
