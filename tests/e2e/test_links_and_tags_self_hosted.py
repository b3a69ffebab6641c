"""The same relation and tag paths through webservice.php (session login, errors on HTTP 200)
instead of the Cloud REST API: relations on a self-hosted server, tags on Vtiger Cloud's
webservice.php (the open-source edition has no tag operations: HTTP 500, empty body)."""

from __future__ import annotations

import pytest
from singer_helpers import (
    LINK_PROPS,
    TAG_PROPS,
    counts,
    record_msg,
    run_tap,
    run_target,
    schema_msg,
)


@pytest.fixture(params=["cloud", "self-hosted-sync"])
def server(request, sandbox_factory):
    return sandbox_factory(flavor=request.param)


def has_tags(server) -> bool:
    return server.flavor == "cloud"


@pytest.fixture
def ws_config(server) -> dict:
    return {**server.tap_config(), "api_style": "webservice"}


@pytest.fixture
def client(ws_config):
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    return VtigerClient(ClientConfig.from_mapping(ws_config))


def test_links_and_tags_are_extracted_through_webservice_php(server, ws_config, client):
    acme = client.create("Accounts", {"accountname": "Acme", "assigned_user_id": "19x1"})["id"]
    person = client.create("Contacts", {"lastname": "P", "account_id": acme,
                                        "assigned_user_id": "19x1"})["id"]
    if has_tags(server):
        client.tags_add(person, ["vip"])
    config = {**ws_config, "relations": {"Accounts": ["Contacts"]}}
    run = run_tap(config, {"Accounts", "Accounts_related", "Contacts", "tags"})
    assert [(r["source_id"], r["related_id"]) for r in run.records("Accounts_related")] == [
        (acme, person)]
    expected = [(person, "vip")] if has_tags(server) else []
    assert [(r["record_id"], r["tag"]) for r in run.records("tags")] == expected


def test_links_and_tags_are_written_through_webservice_php(server, ws_config, client, tmp_path):
    acme = client.create("Accounts", {"accountname": "Acme", "assigned_user_id": "19x1"})["id"]
    person = client.create("Contacts", {"lastname": "P", "assigned_user_id": "19x1"})["id"]
    config = {**ws_config, "rejects_path": str(tmp_path / "r.jsonl")}
    link = {"source_id": acme, "related_id": person, "relation_label": "Contacts",
            "related_module": "Contacts"}
    tags = [schema_msg("tags", TAG_PROPS), record_msg("tags", {"record_id": person, "tag": "vip"})]
    run = run_target(config, [schema_msg("links", LINK_PROPS), record_msg("links", link),
                              *(tags if has_tags(server) else [])])
    assert counts(run, "links")["created"] == 1
    if not has_tags(server):
        return
    assert counts(run, "tags")["created"] == 1
    assert [r["id"] for r in client.retrieve_related(acme, "Contacts", "Contacts")] == [person]
    assert client.tags_retrieve(person)["tags"] == ["vip"]
