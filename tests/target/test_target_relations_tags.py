"""target-vtiger writes links (add_related/delete_related) and tags (tags_add/tags_delete)
against a running sandbox over HTTP: idempotent, cheap, and one bad record never sinks a batch.
"""

from __future__ import annotations

import pytest
from singer_helpers import (
    LINK_PROPS,
    TAG_PROPS,
    counts,
    create,
    read_jsonl,
    record_msg,
    run_target,
    schema_msg,
    vt,
)

__all__ = ["vt"]  # fixture used by name

NOW = "2026-11-22T10:00:00+00:00"


@pytest.fixture
def config(sandbox, tmp_path) -> dict:
    return {**sandbox.tap_config(), "rejects_path": str(tmp_path / "rejects.jsonl")}


def links_input(links: list[dict], stream: str = "Accounts_related") -> list[dict]:
    return [schema_msg(stream, LINK_PROPS, ["source_id", "relation_label", "related_id"]),
            *(record_msg(stream, r) for r in links)]


def link(src: str, dst: str, *, deleted: bool = False, module: str | None = "Contacts") -> dict:
    rec = {"source_id": src, "related_id": dst, "relation_label": "Contacts"}
    if module:
        rec["related_module"] = module
    if deleted:
        rec["_sdc_deleted_at"] = NOW
    return rec


def related_contacts(vt, account_id: str) -> set[str]:
    return {r["id"] for r in vt.retrieve_related(account_id, "Contacts", "Contacts")}


@pytest.fixture
def acme(vt) -> tuple[str, list[str]]:
    """An account and three contacts not yet linked to it."""
    acc = create(vt, "Accounts", accountname="Acme")["id"]
    contacts = [create(vt, "Contacts", lastname=f"C{i}")["id"] for i in range(3)]
    return acc, contacts


class TestLinksIn:
    def test_missing_links_are_added_with_one_lookup_per_source_and_relation(
        self, sandbox, config, vt, acme
    ):
        acc, (c1, c2, _c3) = acme
        sandbox.reset_stats()
        run = run_target(config, links_input([link(acc, c1), link(acc, c2)]))
        assert counts(run, "Accounts_related")["created"] == 2
        stats = sandbox.stats()
        assert stats.get("add_related") == 2
        assert stats.get("query_related") == 1
        assert related_contacts(vt, acc) == {c1, c2}

    def test_a_rerun_of_the_same_links_writes_nothing(self, sandbox, config, vt, acme):
        acc, (c1, c2, _c3) = acme
        run_target(config, links_input([link(acc, c1), link(acc, c2)]))
        sandbox.reset_stats()
        run = run_target(config, links_input([link(acc, c1), link(acc, c2)]))
        assert counts(run, "Accounts_related") == {
            "created": 0, "updated": 0, "unchanged": 2, "deleted": 0, "skipped": 0,
            "rejected": 0}
        stats = sandbox.stats()
        assert stats.get("add_related", 0) == 0
        assert stats.get("query_related") == 1

    def test_deleted_link_records_remove_the_link_once(self, sandbox, config, vt, acme):
        acc, (c1, c2, _c3) = acme
        run_target(config, links_input([link(acc, c1), link(acc, c2)]))
        sandbox.reset_stats()
        run = run_target(config, links_input([link(acc, c1, deleted=True)]))
        assert counts(run, "Accounts_related")["deleted"] == 1
        assert sandbox.stats().get("delete_related") == 1
        assert related_contacts(vt, acc) == {c2}
        sandbox.reset_stats()
        again = run_target(config, links_input([link(acc, c1, deleted=True)]))
        assert counts(again, "Accounts_related")["unchanged"] == 1
        assert sandbox.stats().get("delete_related", 0) == 0

    def test_a_link_to_a_deleted_record_is_rejected_and_the_others_are_written(
        self, sandbox, config, vt, acme
    ):
        acc, (c1, c2, c3) = acme
        vt.delete(c3)
        run = run_target(config, links_input([link(acc, c1), link(acc, c3), link(acc, c2)]),
                         expect_error=True)
        assert counts(run, "Accounts_related")["created"] == 2
        assert counts(run, "Accounts_related")["rejected"] == 1
        rejects = read_jsonl(config["rejects_path"])
        assert [r["record"]["related_id"] for r in rejects] == [c3]
        assert rejects[0]["error_code"] == "ACCESS_DENIED"
        assert related_contacts(vt, acc) == {c1, c2}

    def test_links_of_a_deleted_source_are_rejected_after_one_lookup(
        self, sandbox, config, vt, acme
    ):
        acc, (c1, c2, _c3) = acme
        vt.delete(acc)
        sandbox.reset_stats()
        run = run_target(config, links_input([link(acc, c1), link(acc, c2)]),
                         expect_error=True)
        assert counts(run, "Accounts_related")["rejected"] == 2
        stats = sandbox.stats()
        assert stats.get("query_related") == 1
        assert stats.get("add_related", 0) == 0

    def test_malformed_ids_are_rejected_without_an_api_call(self, sandbox, config):
        sandbox.reset_stats()
        run = run_target(config, links_input([link("11x", "12x3"), link("11x1", "")]),
                         expect_error=True)
        assert counts(run, "Accounts_related")["rejected"] == 2
        assert {r["error_code"] for r in read_jsonl(config["rejects_path"])} == {"INVALID_LINK"}
        assert sandbox.total_calls() == 0

    def test_without_related_module_an_existing_link_is_still_not_an_error(
        self, sandbox, config, vt, acme
    ):
        acc, (c1, _c2, _c3) = acme
        vt.add_related(acc, c1, "Contacts")
        run = run_target(config, links_input([link(acc, c1, module=None)]))
        assert counts(run, "Accounts_related")["rejected"] == 0
        assert related_contacts(vt, acc) == {c1}

    def test_dry_run_reads_but_writes_no_link(self, sandbox, config, vt, acme):
        acc, (c1, _c2, _c3) = acme
        sandbox.reset_stats()
        run = run_target({**config, "dry_run": True}, links_input([link(acc, c1)]))
        assert counts(run, "Accounts_related")["created"] == 1
        assert sandbox.stats().get("add_related", 0) == 0
        assert related_contacts(vt, acc) == set()

    def test_without_the_existence_check_every_link_costs_one_add(self, sandbox, config, acme):
        acc, (c1, c2, _c3) = acme
        config["relations_check_existing"] = False
        run_target(config, links_input([link(acc, c1)]))
        sandbox.reset_stats()
        run = run_target(config, links_input([link(acc, c1), link(acc, c2)]))
        assert counts(run, "Accounts_related")["created"] == 2  # existing link: no error
        stats = sandbox.stats()
        assert stats.get("add_related") == 2
        assert stats.get("query_related", 0) == 0

    def test_state_is_emitted_only_after_the_links_are_written(self, sandbox, config, acme):
        acc, (c1, _c2, _c3) = acme
        msgs = [*links_input([link(acc, c1)]), {"type": "STATE", "value": {"n": 1}}]
        run = run_target(config, msgs)
        assert run.states == [{"n": 1}]
        assert counts(run, "Accounts_related")["created"] == 1


def tags_input(rows: list[dict]) -> list[dict]:
    return [schema_msg("tags", TAG_PROPS, ["record_id", "tag"]),
            *(record_msg("tags", r) for r in rows)]


class TestTagsIn:
    def test_tags_are_added_with_one_call_per_record(self, sandbox, config, vt):
        a = create(vt, "Contacts", lastname="A")["id"]
        b = create(vt, "Contacts", lastname="B")["id"]
        sandbox.reset_stats()
        rows = [{"record_id": a, "tag": t} for t in ("vip", "beta", "q4")]
        rows.append({"record_id": b, "tag": "vip"})
        run = run_target(config, tags_input(rows))
        assert counts(run, "tags")["created"] == 4
        stats = sandbox.stats()
        assert stats.get("tags_add") == 2
        assert stats.get("tags_retrieve") == 2
        assert vt.tags_retrieve(a)["tags"] == ["vip", "beta", "q4"]
        assert vt.tags_retrieve(b)["tags"] == ["vip"]

    def test_a_rerun_adds_nothing_and_a_deleted_tag_is_removed(self, sandbox, config, vt):
        a = create(vt, "Contacts", lastname="A")["id"]
        rows = [{"record_id": a, "tag": "vip"}, {"record_id": a, "tag": "beta"}]
        run_target(config, tags_input(rows))
        sandbox.reset_stats()
        again = run_target(config, tags_input(rows))
        assert counts(again, "tags")["unchanged"] == 2
        assert sandbox.stats().get("tags_add", 0) == 0
        sandbox.reset_stats()
        gone = run_target(config, tags_input([{"record_id": a, "tag": "vip",
                                                "_sdc_deleted_at": NOW}]))
        assert counts(gone, "tags")["deleted"] == 1
        assert sandbox.stats().get("tags_delete") == 1
        assert vt.tags_retrieve(a)["tags"] == ["beta"]

    def test_a_tag_on_a_deleted_record_is_rejected(self, sandbox, config, vt):
        a = create(vt, "Contacts", lastname="A")["id"]
        b = create(vt, "Contacts", lastname="B")["id"]
        vt.delete(b)
        run = run_target(config, tags_input([{"record_id": a, "tag": "ok"},
                                             {"record_id": b, "tag": "lost"}]),
                         expect_error=True)
        assert counts(run, "tags")["created"] == 1
        assert counts(run, "tags")["rejected"] == 1
        assert read_jsonl(config["rejects_path"])[0]["error_code"] == "ACCESS_DENIED"
        assert vt.tags_retrieve(a)["tags"] == ["ok"]

    def test_a_tag_with_a_comma_is_rejected_before_any_call(self, sandbox, config, vt):
        a = create(vt, "Contacts", lastname="A")["id"]
        sandbox.reset_stats()
        run = run_target(config, tags_input([{"record_id": a, "tag": "a,b"}]),
                         expect_error=True)
        assert counts(run, "tags")["rejected"] == 1
        assert sandbox.total_calls() == 0
