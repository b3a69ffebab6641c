"""tap-vtiger beside the records, against a running sandbox over HTTP: relationship child streams,
tags, picklist metadata and account hierarchies, with the API calls each one costs."""

from __future__ import annotations

import logging

import pytest
from singer_helpers import create, discover, run_tap, select, vt

__all__ = ["vt"]

OLDER = "2025-06-01 00:00:00"
OLD = "2026-01-01 00:00:00"
LATER = "2026-06-01 00:00:00"


def hierarchy_config(sandbox) -> dict:
    """The sandbox's settings with the opt-in account_hierarchy stream on."""
    return {**sandbox.tap_config(), "include_account_hierarchy": True}


@pytest.fixture
def config(sandbox) -> dict:
    return {**sandbox.tap_config(), "relations": {"Accounts": ["Contacts"]}}


@pytest.fixture
def accounts(sandbox, vt) -> dict[str, str]:
    """Acme with two contacts (one by reference field, one by add_related) and Solo with none,
    all last modified long ago (Solo earliest)."""
    acme = create(vt, "Accounts", accountname="Acme")["id"]
    solo = create(vt, "Accounts", accountname="Solo")["id"]
    by_field = create(vt, "Contacts", lastname="ByField", account_id=acme)["id"]
    by_link = create(vt, "Contacts", lastname="ByLink")["id"]
    vt.add_related(acme, by_link, "Contacts")
    sandbox.touch([acme, by_field, by_link], OLD)
    sandbox.touch([solo], OLDER)
    return {"acme": acme, "solo": solo, "by_field": by_field, "by_link": by_link}


def without_field(catalog: dict, stream: str, name: str) -> dict:
    """``catalog`` with one field of one stream deselected."""
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)
    md = next(m for m in entry["metadata"] if m["breadcrumb"] == ["properties", name])
    md["metadata"]["selected"] = False
    return catalog


def links(run) -> set[tuple[str, str, str]]:
    return {(r["source_id"], r["relation_label"], r["related_id"])
            for r in run.records("Accounts_related")}


class TestRelationStreams:
    def test_every_module_stream_gets_a_related_child_stream_selected_only_on_request(
        self, config
    ):
        entries = {s["tap_stream_id"]: s for s in discover(config)["streams"]}
        assert {"Accounts_related", "Contacts_related"} <= set(entries)
        root = next(m for m in entries["Accounts_related"]["metadata"] if m["breadcrumb"] == [])
        assert root["metadata"]["selected-by-default"] is False

    def test_a_run_without_catalog_reads_no_links(self, sandbox, config, accounts):
        config["modules"] = ["Accounts"]
        sandbox.reset_stats()
        run = run_tap(config)
        assert run.records("Accounts")
        assert run.records("Accounts_related") == []
        assert sandbox.stats().get("query_related", 0) == 0

    def test_links_of_the_emitted_accounts_with_one_query_per_account_and_relation(
        self, sandbox, config, accounts
    ):
        sandbox.reset_stats()
        run = run_tap(config, {"Accounts", "Accounts_related"})
        assert links(run) == {(accounts["acme"], "Contacts", accounts["by_field"]),
                              (accounts["acme"], "Contacts", accounts["by_link"])}
        record = run.records("Accounts_related")[0]
        assert record["related_module"] == "Contacts"
        assert record["source_module"] == "Accounts"
        stats = sandbox.stats()
        assert stats.get("relatedtypes") == 1
        assert stats.get("query_related") == len(run.records("Accounts")) == 2

    def test_next_run_reads_links_only_of_accounts_changed_since_the_bookmark(
        self, sandbox, config, accounts
    ):
        first = run_tap(config, {"Accounts", "Accounts_related"})
        sandbox.touch([accounts["acme"]], LATER)
        sandbox.reset_stats()
        second = run_tap(config, {"Accounts", "Accounts_related"}, state=first.state())
        emitted = {r["id"] for r in second.records("Accounts")}
        assert accounts["acme"] in emitted
        assert accounts["solo"] not in emitted
        assert sandbox.stats().get("query_related", 0) == len(emitted)
        assert {r["source_id"] for r in second.records("Accounts_related")} == {accounts["acme"]}

    def test_an_unchanged_crm_costs_no_relation_calls(self, sandbox, config, accounts):
        first = run_tap(config, {"Accounts", "Accounts_related"})
        sandbox.reset_stats()
        second = run_tap(config, {"Accounts", "Accounts_related"}, state=first.state())
        stats = sandbox.stats()
        reread = len(second.records("Accounts"))  # the tap may re-read the bookmark's second
        assert stats.get("query_related", 0) == reread
        assert stats.get("relatedtypes", 0) == (1 if reread else 0)

    def test_a_deleted_contact_is_not_linked(self, sandbox, config, vt, accounts):
        vt.delete(accounts["by_link"])
        run = run_tap(config, {"Accounts", "Accounts_related"})
        assert links(run) == {(accounts["acme"], "Contacts", accounts["by_field"])}

    def test_a_deleted_account_costs_no_link_call(self, sandbox, config, vt, accounts):
        first = run_tap(config, {"Accounts", "Accounts_related"})
        vt.delete(accounts["acme"])
        sandbox.reset_stats()
        second = run_tap(config, {"Accounts", "Accounts_related"}, state=first.state())
        gone = [r for r in second.records("Accounts") if r.get("_sdc_deleted_at")]
        assert [r["id"] for r in gone] == [accounts["acme"]]
        live = len(second.records("Accounts")) - len(gone)
        assert sandbox.stats().get("query_related", 0) == live
        assert second.records("Accounts_related") == []

    def test_links_alone_can_be_selected_without_the_parent_records(
        self, sandbox, config, accounts
    ):
        run = run_tap(config, {"Accounts_related"})
        assert run.records("Accounts") == []
        assert len(links(run)) == 2

    def test_include_relations_false_removes_the_streams_and_their_calls(
        self, sandbox, config, accounts
    ):
        config["include_relations"] = False
        names = {s["tap_stream_id"] for s in discover(config)["streams"]}
        assert not any(n.endswith("_related") for n in names)
        sandbox.reset_stats()
        run_tap(config, {"Accounts"})
        assert sandbox.stats().get("query_related", 0) == 0

    def test_an_empty_relation_list_follows_nothing(self, sandbox, config, accounts):
        config["relations"] = {"Accounts": []}
        sandbox.reset_stats()
        run = run_tap(config, {"Accounts", "Accounts_related"})
        assert run.records("Accounts_related") == []
        stats = sandbox.stats()
        assert stats.get("query_related", 0) == 0
        assert stats.get("relatedtypes", 0) == 0

    def test_a_spent_api_budget_stops_the_links_cleanly(self, sandbox, config, vt):
        ids = sandbox.bulk_create("Accounts", 30)
        catalog = select(discover(config), {"Accounts", "Accounts_related"})
        sandbox.configure(daily_limit=1000)
        budget = {**config, "api_budget_percent": 1}  # 10 calls: sync, relatedtypes, 8 links
        run = run_tap(budget, catalog=catalog)
        assert run.tap.budget_exhausted
        assert len(run.records("Accounts")) == len(ids)
        assert run.state()  # state written: the next run resumes

    def test_a_relation_query_related_cannot_serve_falls_back_to_retrieve_related(
        self, sandbox, config, accounts
    ):
        catalog = select(discover(config), {"Accounts", "Accounts_related"})
        sandbox.configure(faults={"error_rate": 1.0, "operations": ["query_related"]})
        sandbox.reset_stats()
        run = run_tap({**config, "max_retries": 0}, catalog=catalog)
        assert links(run) == {(accounts["acme"], "Contacts", accounts["by_field"]),
                              (accounts["acme"], "Contacts", accounts["by_link"])}
        stats = sandbox.stats()
        assert stats.get("retrieve_related") == 2  # one per account
        assert stats.get("query_related") == 1  # tried once, then remembered for the run

    def test_account_trees_are_reread_only_when_an_account_in_them_changed(self, sandbox, vt):
        top = create(vt, "Accounts", accountname="Top")["id"]
        leaf = create(vt, "Accounts", accountname="Leaf", account_id=top)["id"]
        other = create(vt, "Accounts", accountname="Other")["id"]
        sandbox.touch([top, leaf], OLDER)
        sandbox.touch([other], OLD)
        first = run_tap(hierarchy_config(sandbox), {"Accounts", "account_hierarchy"})
        sandbox.touch([leaf], LATER)
        sandbox.reset_stats()
        second = run_tap(hierarchy_config(sandbox), {"Accounts", "account_hierarchy"},
                         state=first.state())
        assert {r["account_id"] for r in second.records("account_hierarchy")} >= {top, leaf}
        # the leaf's tree, plus the bookmark second re-read (Other): one call per tree
        assert sandbox.stats().get("get_account_hierarchy") == len(second.records("Accounts"))

    def test_logs_carry_no_record_data_and_no_line_per_parent(self, sandbox, config, caplog):
        sandbox.bulk_create("Accounts", 20, fields={"accountname": "SecretCorp"})
        catalog = select(discover(config), {"Accounts", "Accounts_related"})
        caplog.set_level(logging.INFO)
        run_tap(config, catalog=catalog)
        assert "SecretCorp" not in caplog.text
        related_metrics = [r for r in caplog.records
                           if "METRIC" in r.getMessage() and "Accounts_related" in r.getMessage()]
        assert len(related_metrics) <= 3  # totals at the end, not 2 lines per account

    def test_link_schema_is_sent_once_however_many_parents(self, sandbox, config, accounts):
        run = run_tap(config, {"Accounts", "Accounts_related"})
        assert len(run.schemas("Accounts_related")) == 1


class TestTagsStream:
    def test_tags_come_from_the_records_without_extra_calls(self, sandbox, vt):
        a = create(vt, "Contacts", lastname="A")["id"]
        b = create(vt, "Contacts", lastname="B")["id"]
        vt.tags_add(a, ["vip", "beta"])
        sandbox.reset_stats()
        run = run_tap(sandbox.tap_config(), {"Contacts", "tags"})
        assert {(r["record_id"], r["tag"]) for r in run.records("tags")} == {
            (a, "vip"), (a, "beta")}
        assert all(r["module"] == "Contacts" for r in run.records("tags"))
        assert b not in {r["record_id"] for r in run.records("tags")}
        assert sandbox.stats().get("tags_retrieve", 0) == 0

    def test_with_the_tags_field_deselected_each_emitted_record_costs_one_tags_retrieve(
        self, sandbox, vt
    ):
        a = create(vt, "Contacts", lastname="A")["id"]
        b = create(vt, "Contacts", lastname="B")["id"]
        create(vt, "Contacts", lastname="Untagged")
        vt.tags_add(a, ["vip", "beta"])
        vt.tags_add(b, ["gamma"])
        server_tags = {(r["id"], tag) for r in vt.query("select id from Contacts;")
                       for tag in vt.tags_retrieve(r["id"])["tags"]}
        assert server_tags == {(a, "vip"), (a, "beta"), (b, "gamma")}
        config = sandbox.tap_config()
        catalog = without_field(select(discover(config), {"Contacts", "tags"}), "Contacts", "tags")
        sandbox.reset_stats()
        run = run_tap(config, catalog=catalog)
        contacts = run.records("Contacts")
        assert len(contacts) == 3
        assert all("tags" not in r for r in contacts)  # the field really was deselected
        assert {(r["record_id"], r["tag"]) for r in run.records("tags")} == server_tags
        assert sandbox.stats().get("tags_retrieve") == len(contacts)

    def test_tags_read_only_the_selected_modules(self, sandbox, vt):
        create(vt, "Contacts", lastname="A")
        sandbox.reset_stats()
        run_tap(sandbox.tap_config(), {"Contacts", "tags"})
        assert sandbox.stats().get("sync") == 1  # Contacts only, not every module below tags

    def test_include_tags_false_removes_the_stream(self, sandbox):
        config = {**sandbox.tap_config(), "include_tags": False}
        assert "tags" not in {s["tap_stream_id"] for s in discover(config)["streams"]}


class TestMetadataStreams:
    def test_picklist_values_come_from_describe(self, sandbox, vt):
        run = run_tap(sandbox.tap_config(), {"picklist_values"})
        rows = [r for r in run.records("picklist_values")
                if r["module"] == "Contacts" and r["field"] == "leadsource"]
        describe = vt.describe("Contacts")
        field = next(f for f in describe["fields"] if f["name"] == "leadsource")
        assert [r["value"] for r in rows] == [v["value"] for v in field["type"]["picklistValues"]]
        assert [r["position"] for r in rows] == list(range(len(rows)))

    def test_picklist_values_cost_one_describe_per_selected_module(self, sandbox):
        config = {**sandbox.tap_config(), "discovery_cache": "off"}
        catalog = select(discover(config), {"Contacts", "Leads", "picklist_values"})
        sandbox.reset_stats()
        run = run_tap(config, catalog=catalog)
        assert {r["module"] for r in run.records("picklist_values")} == {"Contacts", "Leads"}
        assert sandbox.stats().get("describe") == 2

    def test_picklist_values_cost_no_describe_while_the_discovery_cache_is_fresh(self, sandbox):
        config = sandbox.tap_config()
        catalog = select(discover(config), {"Contacts", "Leads", "picklist_values"})
        sandbox.reset_stats()
        run = run_tap(config, catalog=catalog)
        assert {r["module"] for r in run.records("picklist_values")} == {"Contacts", "Leads"}
        assert "describe" not in sandbox.stats()

    def test_picklist_dependencies_read_one_call_per_configured_pair(self, sandbox):
        for name, values in (("cf_tier", ("Tier 1 & 2", "Nível 3")),
                             ("cf_team", ("Ops & Infra", "Équipe <b>L4</b>", "Desk"))):
            sandbox.add_field("HelpDesk", name, name, type={
                "name": "picklist", "picklistValues": [{"label": v, "value": v} for v in values]})
        sandbox.configure(picklist_dependencies=[
            {"module": "HelpDesk", "sourcefield": "ticketcategories",
             "targetfield": "ticketseverities", "valuemapping": [
                 {"sourcevalue": "Small Problem", "targetvalues": ["Minor", "Feature"]},
                 {"sourcevalue": "Big Problem", "targetvalues": ["Critical"]},
                 {"sourcevalue": "Other Problem", "targetvalues": []}]},
            {"module": "HelpDesk", "sourcefield": "cf_tier", "targetfield": "cf_team",
             "valuemapping": [
                 {"sourcevalue": "Nível 3", "targetvalues": ["Équipe <b>L4</b>", "Desk"]},
                 {"sourcevalue": "Tier 1 & 2", "targetvalues": ["Ops & Infra"]}]}])
        config = {**sandbox.tap_config(), "picklist_dependencies": [
            {"module": "HelpDesk", "source_field": "ticketcategories",
             "target_field": "ticketseverities"},
            {"module": "HelpDesk", "source_field": "cf_tier", "target_field": "cf_team"},
            # a pair without a dependency: an empty valuemapping, no rows
            {"module": "Potentials", "source_field": "leadsource",
             "target_field": "sales_stage"}]}
        sandbox.reset_stats()
        run = run_tap(config, {"picklist_dependencies"})
        assert sandbox.stats().get("picklist_dependency") == 3

        def row(src: str, dst: str, value: str, targets: list[str]) -> dict:
            return {"module": "HelpDesk", "source_field": src, "target_field": dst,
                    "source_value": value, "target_values": targets}

        assert run.records("picklist_dependencies") == [
            row("ticketcategories", "ticketseverities", "Small Problem", ["Minor", "Feature"]),
            row("ticketcategories", "ticketseverities", "Big Problem", ["Critical"]),
            row("ticketcategories", "ticketseverities", "Other Problem", []),
            row("cf_tier", "cf_team", "Nível 3", ["Équipe <b>L4</b>", "Desk"]),
            row("cf_tier", "cf_team", "Tier 1 & 2", ["Ops & Infra"]),
        ]

    def test_a_wrong_picklist_dependency_names_the_setting_entry(self, sandbox):
        from vtiger_client.errors import ConfigError

        config = {**sandbox.tap_config(), "picklist_dependencies": [
            {"module": "HelpDesk", "source_field": "nosuchfield", "target_field": "x"}]}
        with pytest.raises(ConfigError, match=r"picklist_dependencies\[0\]"):
            run_tap(config, {"picklist_dependencies"})

    def test_account_hierarchy_costs_one_call_per_tree(self, sandbox, vt):
        top = create(vt, "Accounts", accountname="Top")["id"]
        mid = create(vt, "Accounts", accountname="Mid", account_id=top)["id"]
        leaf = create(vt, "Accounts", accountname="Leaf & Co", account_id=mid)["id"]
        solo = create(vt, "Accounts", accountname="Solo")["id"]
        sandbox.reset_stats()
        run = run_tap(hierarchy_config(sandbox), {"Accounts", "account_hierarchy"})
        rows = {r["account_id"]: r for r in run.records("account_hierarchy")}
        assert set(rows) == {top, mid, leaf, solo}
        assert rows[leaf]["parent_account_id"] == mid
        assert rows[leaf]["root_account_id"] == top
        assert rows[leaf]["level"] == 2
        assert rows[leaf]["account_name"] == "Leaf & Co"
        assert rows[top]["parent_account_id"] is None
        assert rows[solo]["root_account_id"] == solo
        assert sandbox.stats().get("get_account_hierarchy") == 2
