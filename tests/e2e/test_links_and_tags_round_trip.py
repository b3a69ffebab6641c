"""tap-vtiger's link and tag streams feed target-vtiger as they are: the target recognises them
by their shape, and writing back what was just read changes nothing and costs no write."""

from __future__ import annotations

from singer_helpers import counts, create, run_tap, run_target, vt

__all__ = ["vt"]


def test_links_read_by_the_tap_are_written_back_as_a_no_op(sandbox, vt, tmp_path):
    acme = create(vt, "Accounts", accountname="Acme")["id"]
    contacts = [create(vt, "Contacts", lastname=f"C{i}", account_id=acme)["id"]
                for i in range(3)]
    tap_config = {**sandbox.tap_config(), "relations": {"Accounts": ["Contacts"]}}
    run = run_tap(tap_config, {"Accounts_related"})
    assert {r["related_id"] for r in run.records("Accounts_related")} == set(contacts)
    sandbox.reset_stats()
    out = run_target({**sandbox.tap_config(), "rejects_path": str(tmp_path / "r.jsonl")},
                     run.messages)
    assert counts(out, "Accounts_related")["unchanged"] == 3
    stats = sandbox.stats()
    assert stats.get("add_related", 0) == 0
    assert stats.get("query_related") == 1


def test_tags_read_by_the_tap_are_written_back_as_a_no_op(sandbox, vt, tmp_path):
    a = create(vt, "Contacts", lastname="A")["id"]
    vt.tags_add(a, ["vip", "beta"])
    run = run_tap(sandbox.tap_config(), {"Contacts", "tags"})
    sandbox.reset_stats()
    messages = [m for m in run.messages if m.get("stream") != "Contacts"]
    out = run_target({**sandbox.tap_config(), "rejects_path": str(tmp_path / "r.jsonl")},
                     messages)
    assert counts(out, "tags")["unchanged"] == 2
    stats = sandbox.stats()
    assert stats.get("tags_add", 0) == 0
    assert stats.get("tags_retrieve") == 1
