"""custom_queries: your own VTQL as a stream, paged and bookmarked like the module streams."""

from __future__ import annotations

import pytest
from singer_helpers import create, discover, run_tap, select, vt

from vtiger_client.errors import ConfigError

__all__ = ["vt"]

OLD = "2026-01-01 00:00:00"
LATER = "2026-06-01 00:00:00"

KEEP_OR_VIP = ("select lastname, email, modifiedtime from Contacts "
               "where lastname = 'Keep' or email = 'vip@example.com'")


def tap_config(sandbox, *queries: dict) -> dict:
    return {**sandbox.tap_config(), "modules": ["Contacts"], "include_relations": False,
            "include_tags": False, "include_metadata_streams": False,
            "custom_queries": list(queries)}


@pytest.fixture
def people(sandbox, vt) -> dict[str, list[str]]:
    """150 Keep, 40 Drop and one VIP contact, all changed long ago."""
    keep = sandbox.bulk_create("Contacts", 150, fields={"lastname": "Keep"}, modifiedtime=OLD)
    drop = sandbox.bulk_create("Contacts", 40, fields={"lastname": "Drop"}, modifiedtime=OLD)
    vip = create(vt, "Contacts", lastname="Vip", email="vip@example.com")["id"]
    sandbox.touch([vip], OLD)
    return {"keep": keep, "drop": drop, "vip": [vip]}


def sync(config: dict, name: str, state: dict | None = None):
    return run_tap(config, catalog=select(discover(config), {name}), state=state)


def test_an_or_condition_keeps_its_meaning_under_the_paging_conditions(sandbox, people):
    config = tap_config(sandbox, {"name": "keep_or_vip", "query": KEEP_OR_VIP,
                                  "replication_key": "modifiedtime"})
    run = sync(config, "keep_or_vip")
    ids = {r["id"] for r in run.records("keep_or_vip")}
    assert ids == set(people["keep"]) | set(people["vip"])
    assert set(run.records("keep_or_vip")[0]) <= {"id", "lastname", "email", "modifiedtime"}


def test_the_next_run_reads_only_rows_changed_since_the_bookmark(sandbox, people):
    config = tap_config(sandbox, {"name": "keep_or_vip", "query": KEEP_OR_VIP,
                                  "replication_key": "modifiedtime"})
    first = sync(config, "keep_or_vip")
    assert first.state()["bookmarks"]["keep_or_vip"]["replication_key_value"].startswith(
        "2026-01-01")
    sandbox.touch([people["keep"][0], people["drop"][0]], LATER)
    sandbox.reset_stats()
    second = sync(config, "keep_or_vip", state=first.state())
    ids = [r["id"] for r in second.records("keep_or_vip")]
    assert people["keep"][0] in ids
    assert people["drop"][0] not in ids
    assert sandbox.stats().get("query", 0) <= 3  # a page or two, not the 191 rows again


def test_without_replication_key_the_query_is_a_full_table_paged_by_100(sandbox, people):
    config = tap_config(sandbox, {"name": "drops",
                                  "query": "select lastname from Contacts where lastname = 'Drop'"})
    catalog = select(discover(config), {"drops"})
    sandbox.reset_stats()
    run = run_tap(config, catalog=catalog)
    assert sorted(r["id"] for r in run.records("drops")) == sorted(people["drop"])
    assert sandbox.stats().get("query") == 1
    assert "bookmarks" not in run.state() or "replication_key_value" not in (
        run.state()["bookmarks"].get("drops") or {})


def test_the_schema_comes_from_describe_limited_to_the_columns(sandbox):
    config = tap_config(sandbox, {"name": "emails", "query": "select email from Contacts",
                                  "replication_key": "modifiedtime"})
    entry = next(s for s in discover(config)["streams"] if s["tap_stream_id"] == "emails")
    assert set(entry["schema"]["properties"]) == {"id", "email", "modifiedtime"}
    assert entry["key_properties"] == ["id"]
    assert entry["replication_key"] == "modifiedtime"


@pytest.mark.parametrize(("query", "message"), [
    ("select * from Contacts order by lastname", "order by"),
    ("select * from Contacts where (lastname = 'a' or lastname = 'b')", "parentheses"),
    ("select nosuchfield from Contacts", "no field nosuchfield"),
    ("delete from Contacts", "expected: select"),
])
def test_an_unusable_query_is_refused_naming_the_entry(sandbox, query, message):
    config = tap_config(sandbox, {"name": "bad", "query": query})
    with pytest.raises(ConfigError, match=message) as err:
        discover(config)
    assert "custom_queries[0] ('bad')" in str(err.value)


def test_any_datetime_field_can_be_the_replication_key(sandbox, people):
    config = tap_config(sandbox, {"name": "new_drops", "replication_key": "createdtime",
                                  "query": "select lastname from Contacts where lastname = 'Drop'"})
    run = sync(config, "new_drops")
    assert sorted(r["id"] for r in run.records("new_drops")) == sorted(people["drop"])
    assert run.state()["bookmarks"]["new_drops"]["replication_key"] == "createdtime"


def test_a_replication_key_that_is_not_a_datetime_is_refused(sandbox):
    config = tap_config(sandbox, {"name": "bad", "query": "select * from Contacts",
                                  "replication_key": "lastname"})
    with pytest.raises(ConfigError, match="must be a datetime field of Contacts"):
        discover(config)


def test_a_custom_query_drives_no_link_or_tag_children(sandbox, vt):
    acme = create(vt, "Accounts", accountname="Acme")["id"]
    person = create(vt, "Contacts", lastname="P", account_id=acme)["id"]
    sandbox.touch([acme, person], OLD)  # query paging leaves the running second to next run
    config = {**sandbox.tap_config(), "relations": {"Accounts": ["Contacts"]},
              "custom_queries": [{"name": "acme_only", "replication_key": "modifiedtime",
                                  "query": "select accountname from Accounts"}]}
    sandbox.reset_stats()
    run = run_tap(config, {"acme_only", "Accounts_related", "tags"})
    assert [r["id"] for r in run.records("acme_only")] == [acme]
    # links come once, driven by the Accounts module stream, not again by the custom query
    assert len(run.records("Accounts_related")) == 1
    assert sandbox.stats().get("query_related") == 1


def test_a_custom_query_named_like_a_module_stream_is_refused(sandbox):
    config = tap_config(sandbox, {"name": "Contacts", "query": "select * from Contacts"})
    with pytest.raises(ConfigError, match="two streams are named 'Contacts'"):
        discover(config)
