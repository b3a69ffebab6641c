"""tap-vtiger's API Designer streams, against the sandbox's demo definitions (vtiger_sandbox/
apidesigner_demo.xml) over HTTP: a custom REST endpoint read with Basic auth, paged."""

from __future__ import annotations

import datetime as dt

import pytest
from singer_helpers import (
    discover,
    run_tap,
    select,
    strings,
    vt,
)

__all__ = ["vt"]
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))

UPSERT_TOKEN = "demo-webhook-token"
QUERY_TOKEN = "demo-query-token"

CONTACTS_API = {"name": "partner_contacts", "path": "contacts", "pagination_param": "page",
                "page_size": 100, "primary_keys": ["id"]}


class TestTapStreams:
    def test_every_page_is_read_once_with_basic_auth(self, sandbox):
        sandbox.bulk_create("Contacts", 250)
        config = {**sandbox.tap_config(), "include_relations": False, "include_tags": False,
                  "include_metadata_streams": False, "api_designer_streams": [CONTACTS_API]}
        catalog = select(discover(config), {"partner_contacts"})
        sandbox.reset_stats()
        run = run_tap(config, catalog=catalog)
        rows = run.records("partner_contacts")
        assert len(rows) == 250
        assert len({r["id"] for r in rows}) == 250
        assert sandbox.stats().get("vtap_api") == 3  # pages of 100, 100, 50

    def test_the_schema_is_inferred_from_the_first_page(self, sandbox, vt):
        vt.create("Contacts", {"lastname": "Lee", "email": "lee@example.com",
                               "assigned_user_id": "19x1"})
        config = {**sandbox.tap_config(), "api_designer_streams": [CONTACTS_API]}
        sandbox.reset_stats()
        entry = next(s for s in discover(config)["streams"]
                     if s["tap_stream_id"] == "partner_contacts")
        assert {"id", "lastname", "email", "modifiedtime"} <= set(entry["schema"]["properties"])
        assert entry["key_properties"] == ["id"]
        assert sandbox.stats().get("vtap_api") == 1

    def test_a_given_schema_costs_no_discovery_call_and_params_filter(self, sandbox, vt):
        for name in ("Lee", "Kim", "Lee"):
            vt.create("Contacts", {"lastname": name, "assigned_user_id": "19x1"})
        spec = {**CONTACTS_API, "params": {"lastname": "Lee"},
                "schema": {"type": "object", "properties": strings("id", "lastname")}}
        config = {**sandbox.tap_config(), "api_designer_streams": [spec]}
        sandbox.reset_stats()
        catalog = select(discover(config), {"partner_contacts"})
        assert sandbox.stats().get("vtap_api", 0) == 0
        run = run_tap(config, catalog=catalog)
        assert [r["lastname"] for r in run.records("partner_contacts")] == ["Lee", "Lee"]

    def test_a_replication_key_keeps_a_bookmark_and_drops_older_rows(self, sandbox, vt):
        ids = [vt.create("Contacts", {"lastname": f"R{i}", "assigned_user_id": "19x1"})["id"]
               for i in range(3)]
        sandbox.touch(ids[:2], "2025-06-01 00:00:00")
        sandbox.touch(ids[2:], "2026-01-01 00:00:00")
        spec = {**CONTACTS_API, "replication_key": "modifiedtime"}
        config = {**sandbox.tap_config(), "api_designer_streams": [spec]}
        catalog = select(discover(config), {"partner_contacts"})
        first = run_tap(config, catalog=catalog)
        assert len(first.records("partner_contacts")) == 3
        assert first.state()["bookmarks"]["partner_contacts"]["replication_key_value"] == (
            "2026-01-01 00:00:00")
        sandbox.touch(ids[:1], "2026-06-01 00:00:00")
        second = run_tap(config, catalog=catalog, state=first.state())
        assert sorted(r["id"] for r in second.records("partner_contacts")) == sorted(
            [ids[0], ids[2]])  # the changed row, and the bookmark's own second (re-read)

    def test_a_pagination_param_the_endpoint_ignores_cannot_loop_forever(
        self, sandbox, caplog
    ):
        sandbox.bulk_create("Contacts", 150)
        spec = {**CONTACTS_API, "pagination_param": "pg"}  # the endpoint pages on "page"
        config = {**sandbox.tap_config(), "api_designer_streams": [spec]}
        catalog = select(discover(config), {"partner_contacts"})
        sandbox.reset_stats()
        run = run_tap(config, catalog=catalog)
        assert len(run.records("partner_contacts")) == 100
        assert sandbox.stats().get("vtap_api") == 2
        assert "repeats the previous page" in caplog.text

    def test_a_wrong_access_key_stops_the_run(self, sandbox):
        spec = {**CONTACTS_API, "schema": {"type": "object", "properties": strings("id")}}
        config = {**sandbox.tap_config(), "access_key": "wrong-key",
                  "api_designer_streams": [spec]}
        from vtiger_client.errors import AuthenticationError

        with pytest.raises(AuthenticationError):
            _sync_one(config)


def _sync_one(config: dict) -> None:
    """Sync just the API Designer stream (no discovery of the modules)."""
    import contextlib
    import io

    from tap_vtiger.streams.api_designer import api_designer_streams
    from tap_vtiger.tap import TapVtiger

    tap = TapVtiger(config=config, parse_env_config=False)
    with contextlib.redirect_stdout(io.StringIO()):
        for stream in api_designer_streams(tap):
            stream.sync()
