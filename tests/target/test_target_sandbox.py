"""target-vtiger against a running sandbox over HTTP: what a reverse-ETL user relies on."""

from __future__ import annotations

import pytest
from target_helpers import (
    DATA,
    all_contacts,
    contacts_input,
    read_rejects,
    record_message,
    run_target,
    schema_message,
    singer_lines,
    target_config,
    vtiger,
    write_calls,
)

pytest.importorskip("vtiger_client.session", reason="vtiger_client not landed yet")

__all__ = ["target_config", "vtiger"]  # fixtures used by name


def by_email(vtiger) -> dict[str, dict]:
    return {r["email"]: r for r in all_contacts(vtiger) if r.get("email")}


@pytest.fixture
def sent(monkeypatch) -> dict[str, list[dict]]:
    """The elements the target's client sends to ``create`` and ``revise``, as sent."""
    from vtiger_client.session import VtigerClient

    elements: dict[str, list[dict]] = {"create": [], "revise": []}
    real_create, real_revise = VtigerClient.create, VtigerClient.revise

    def create(self, module, element):
        elements["create"].append(dict(element))
        return real_create(self, module, element)

    def revise(self, element):
        elements["revise"].append(dict(element))
        return real_revise(self, element)

    monkeypatch.setattr(VtigerClient, "create", create)
    monkeypatch.setattr(VtigerClient, "revise", revise)
    return elements


class TestCreate:
    def test_new_records_are_created_with_wire_values(self, sandbox, target_config, vtiger):
        run = run_target(target_config, (DATA / "contacts_create.singer").read_text())
        assert run.counts()["created"] == 3
        assert run.counts()["rejected"] == 0
        rows = by_email(vtiger)
        alice = rows["alice@example.com"]
        assert alice["lastname"] == "Tester"
        assert alice["emailoptout"] == "1"
        assert alice["birthday"] == "1990-05-17"
        assert alice["leadsource"] == "Web Site"
        assert rows["bob@example.com"]["emailoptout"] == "0"

    def test_new_records_get_the_api_user_as_owner_unless_configured(
        self, sandbox, target_config, vtiger
    ):
        me = vtiger.me()["id"]
        run_target(target_config, contacts_input([{"lastname": "Own", "email": "o@x.com"}]))
        assert by_email(vtiger)["o@x.com"]["assigned_user_id"] == me

    def test_state_is_emitted_after_the_records_are_written(self, sandbox, target_config):
        run = run_target(target_config, (DATA / "contacts_create.singer").read_text())
        assert run.states == [{"bookmarks": {"Contacts": {"n": 3}}}]


class TestUpdate:
    def test_update_by_id_revises_only_the_changed_field(
        self, sandbox, target_config, vtiger, sent
    ):
        alice = {"lastname": "Tester", "firstname": "Alice", "email": "alice@example.com"}
        created = vtiger.create("Contacts", {**alice, "assigned_user_id": vtiger.me()["id"]})
        sandbox.reset_stats()
        changed = {**alice, "id": created["id"], "firstname": "Alicia"}
        run = run_target(target_config, contacts_input([changed]))
        assert run.counts()["updated"] == 1
        stats = sandbox.stats()
        assert stats.get("revise") == 1
        assert stats.get("create", 0) == 0
        # a partial update: the unchanged lastname and email are not sent again
        assert sent["revise"] == [{"id": created["id"], "firstname": "Alicia"}]
        stored = vtiger.retrieve(created["id"])
        assert (stored["firstname"], stored["lastname"]) == ("Alicia", "Tester")

    def test_update_by_match_key(self, sandbox, target_config, vtiger):
        run_target(target_config, (DATA / "contacts_create.singer").read_text())
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        # (the sandbox compares `in` values exactly; the real server's collation ignores case,
        # and the target's Python-side match does too: see test_target_matching.py)
        run = run_target(
            config, contacts_input([{"lastname": "Bauer-Smith", "email": "bob@example.com"}])
        )
        assert (run.counts()["updated"], run.counts()["created"]) == (1, 0)
        rows = by_email(vtiger)
        assert rows["bob@example.com"]["lastname"] == "Bauer-Smith"
        assert len(rows) == 3

    def test_unchanged_records_cost_no_write(self, sandbox, target_config):
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        text = (DATA / "contacts_create.singer").read_text()
        run_target(config, text)
        sandbox.reset_stats()
        run = run_target(config, text)
        assert run.counts()["unchanged"] == 3
        assert write_calls(sandbox.stats()) == 0

    def test_unknown_id_is_rejected_not_created(self, sandbox, target_config, vtiger):
        run = run_target(
            {**target_config, "allow_rejects": True},
            contacts_input([{"id": "12x999999", "lastname": "Ghost"}]),
        )
        assert run.counts()["rejected"] == 1
        assert read_rejects(target_config)[0]["error_code"] == "RECORD_NOT_FOUND"
        assert all_contacts(vtiger) == []


class TestDelete:
    def test_hard_delete_removes_records_marked_deleted(self, sandbox, target_config, vtiger):
        owner = vtiger.me()["id"]
        keep = vtiger.create("Contacts", {"lastname": "Keep", "assigned_user_id": owner})
        gone = vtiger.create("Contacts", {"lastname": "Gone", "assigned_user_id": owner})
        text = contacts_input([{"id": gone["id"], "_sdc_deleted_at": "2026-11-22T10:00:00+00:00"}])
        run = run_target({**target_config, "hard_delete": True}, text)
        assert run.counts()["deleted"] == 1
        assert [r["id"] for r in all_contacts(vtiger)] == [keep["id"]]
        # deleting again is a no-op, not an error: re-runs must succeed
        again = run_target({**target_config, "hard_delete": True}, text)
        assert again.counts()["rejected"] == 0

    def test_without_hard_delete_deleted_records_are_skipped(self, sandbox, target_config, vtiger):
        owner = vtiger.me()["id"]
        rec = vtiger.create("Contacts", {"lastname": "Stay", "assigned_user_id": owner})
        run = run_target(
            target_config,
            contacts_input([{"id": rec["id"], "_sdc_deleted_at": "2026-11-22T10:00:00+00:00"}]),
        )
        assert run.counts()["skipped"] == 1
        assert len(all_contacts(vtiger)) == 1


class TestWriteModes:
    @pytest.fixture
    def existing(self, sandbox, target_config, vtiger):
        run_target(target_config, contacts_input([{"lastname": "Old", "email": "old@example.com"}]))
        sandbox.reset_stats()
        return {**target_config, "match_keys": {"Contacts": ["email"]}, "allow_rejects": True}

    RECORDS = [
        {"lastname": "Old-Changed", "email": "old@example.com"},
        {"lastname": "New", "email": "new@example.com"},
    ]

    def test_upsert_updates_existing_and_creates_new(self, existing, vtiger):
        run = run_target(existing, contacts_input(self.RECORDS))
        assert (run.counts()["updated"], run.counts()["created"]) == (1, 1)

    def test_update_only_touches_existing_records(self, existing, vtiger, target_config):
        run = run_target({**existing, "write_mode": "update"}, contacts_input(self.RECORDS))
        assert (run.counts()["updated"], run.counts()["rejected"]) == (1, 1)
        assert read_rejects(target_config)[0]["error_code"] == "NO_MATCH"
        assert "new@example.com" not in by_email(vtiger)

    def test_create_only_adds_new_records(self, existing, vtiger):
        run = run_target({**existing, "write_mode": "create"}, contacts_input(self.RECORDS))
        assert (run.counts()["created"], run.counts()["skipped"]) == (1, 1)
        assert by_email(vtiger)["old@example.com"]["lastname"] == "Old"


class TestDryRun:
    def test_dry_run_reports_and_writes_nothing(self, sandbox, target_config, vtiger):
        run_target(target_config, contacts_input([{"lastname": "A", "email": "a@x.com"}]))
        sandbox.reset_stats()
        config = {
            **target_config,
            "dry_run": True,
            "match_keys": {"Contacts": ["email"]},
            "allow_rejects": True,
        }
        run = run_target(
            config,
            contacts_input(
                [
                    {"lastname": "A2", "email": "a@x.com"},
                    {"lastname": "B", "email": "b@x.com"},
                    {"lastname": "C", "email": "c@x.com", "leadsource": "Nope"},
                ]
            ),
        )
        assert run.counts()["updated"] == 1
        assert run.counts()["created"] == 1
        assert run.counts()["rejected"] == 1
        assert write_calls(sandbox.stats()) == 0
        assert [r["lastname"] for r in all_contacts(vtiger)] == ["A"]
        assert read_rejects(target_config)[0]["dry_run"] is True


class TestRejects:
    def test_rejects_file_names_each_record_and_reason(self, sandbox, target_config, vtiger):
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        run = run_target(config, (DATA / "contacts_invalid.singer").read_text(), expect_error=True)
        # the run goes on past bad records, then fails because of them
        assert "6 record(s) rejected" in str(run.error)
        assert run.counts()["created"] == 1
        rejects = read_rejects(target_config)
        codes = {
            r["record"].get("lastname", r["record"].get("firstname")): r["error_code"]
            for r in rejects
        }
        assert codes == {
            "NoLastName": "MANDATORY_FIELDS_MISSING",
            "BadPick": "INVALID_PICKLIST_VALUE",
            "BadDate": "INVALID_TYPE",
            "Unknown": "UNKNOWN_FIELD",
            "BadRef": "REFERENCE_INVALID",  # only the server can tell: the API error is per record
            "NoKey": "MATCH_KEY_MISSING",
        }
        assert all(r["stream"] == "Contacts" and r["message"] for r in rejects)
        assert list(by_email(vtiger)) == ["good@example.com"]

    def test_unknown_fields_can_be_ignored_with_a_warning_naming_them(
        self, sandbox, target_config, vtiger, sent, caplog
    ):
        config = {**target_config, "unknown_fields": "ignore"}
        props = {"lastname": {"type": "string"}, "shoe_size": {"type": "integer"}}
        text = singer_lines(
            [schema_message(properties=props), record_message({"lastname": "X", "shoe_size": 4})]
        )
        run = run_target(config, text)
        assert run.counts()["created"] == 1
        assert "field 'shoe_size' is not a field of Contacts; ignored" in caplog.text
        # the record is written with its other fields; the unknown one never leaves the target
        (element,) = sent["create"]
        assert element["lastname"] == "X"
        assert "shoe_size" not in element
        (stored,) = all_contacts(vtiger)
        assert stored["lastname"] == "X"
        assert "shoe_size" not in stored


HOSTILE = [
    "O'Brien",
    "back\\slash\\\\",
    "100% _sure_",
    "emoji 😀 rocket 🚀",
    "line1\nline2\r\nline3",
    'quote " double',
    "semi; drop table",
    "''",
    "tab\there",
    "Ünïcödé <b>&amp;</b>",
]


class TestHostileStrings:
    def test_hostile_strings_round_trip_and_match_exactly(self, sandbox, target_config, vtiger):
        config = {**target_config, "match_keys": {"Contacts": ["lastname"]}}
        text = (DATA / "contacts_hostile.singer").read_text()
        first = run_target(config, text)
        assert first.counts()["created"] == len(HOSTILE)
        stored = {r["email"]: r for r in all_contacts(vtiger)}
        for i, value in enumerate(HOSTILE):
            row = stored[f"hostile{i}@example.com"]
            assert row["lastname"] == value
            assert row["description"] == value
        # matching on those values (quoted by vtql.literal) finds every one of them again
        sandbox.reset_stats()
        second = run_target(config, text)
        assert second.counts()["unchanged"] == len(HOSTILE)
        assert write_calls(sandbox.stats()) == 0
        assert sandbox.stats().get("query") == 1


class TestCallCounts:
    def test_250_new_then_changed_then_unchanged(self, sandbox, target_config):
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        new = [{"lastname": f"L{i}", "email": f"u{i}@example.com"} for i in range(250)]
        sandbox.reset_stats()
        run_target(config, contacts_input(new))
        stats = sandbox.stats()
        assert stats.get("create") == 250
        assert stats.get("query") == 3  # batches of 100, 100, 50: one lookup each
        assert stats.get("describe") == 1

        changed = [{**r, "lastname": r["lastname"] + "x"} for r in new]
        sandbox.reset_stats()
        run_target(config, contacts_input(changed))
        stats = sandbox.stats()
        assert stats.get("revise") == 250
        assert stats.get("query") == 3
        assert stats.get("create", 0) == 0

        sandbox.reset_stats()
        run_target(config, contacts_input(changed))
        stats = sandbox.stats()
        assert write_calls(stats) == 0
        assert stats.get("query") == 3


class TestFatal:
    def test_bad_credentials_stop_the_run(self, sandbox, target_config):
        from vtiger_client.errors import FatalError

        config = {**target_config, "access_key": "wrong-key-0123456789"}
        run = run_target(config, contacts_input([{"lastname": "X"}]), expect_error=True)
        assert isinstance(run.error, FatalError)
        assert run.states == []

    def test_unknown_module_stops_the_run_naming_the_setting(self, sandbox, target_config):
        from target_vtiger.run import TargetConfigError

        config = {**target_config, "module_map": {"Contacts": "NoSuchModule"}}
        run = run_target(config, contacts_input([{"lastname": "X"}]), expect_error=True)
        assert isinstance(run.error, TargetConfigError)
        assert str(run.error).startswith("module_map.Contacts: unknown module 'NoSuchModule'")

    def test_module_map_routes_a_stream_to_a_module(self, sandbox, target_config, vtiger):
        config = {**target_config, "module_map": {"warehouse-people": "Contacts"}}
        text = singer_lines(
            [
                schema_message("warehouse-people"),
                record_message({"lastname": "Mapped"}, stream="warehouse-people"),
            ]
        )
        run = run_target(config, text)
        assert run.counts("warehouse-people")["created"] == 1
        assert [r["lastname"] for r in all_contacts(vtiger)] == ["Mapped"]


class TestDuplicates:
    def test_the_same_key_twice_in_a_batch_is_written_once(self, sandbox, target_config, vtiger):
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        sandbox.reset_stats()
        run = run_target(
            config,
            contacts_input(
                [
                    {"lastname": "First", "email": "dup@example.com"},
                    {"lastname": "Second", "email": "DUP@example.com"},  # same key, any case
                ]
            ),
        )
        assert run.counts()["created"] == 1
        assert sandbox.stats().get("create") == 1
        assert [r["lastname"] for r in all_contacts(vtiger)] == ["Second"]

    def test_two_existing_matches_are_rejected_not_guessed(self, sandbox, target_config, vtiger):
        owner = vtiger.me()["id"]
        for name in ("A", "B"):
            vtiger.create(
                "Contacts", {"lastname": name, "email": "twin@x.com", "assigned_user_id": owner}
            )
        config = {**target_config, "match_keys": {"Contacts": ["email"]}, "allow_rejects": True}
        run = run_target(config, contacts_input([{"lastname": "C", "email": "twin@x.com"}]))
        assert run.counts()["rejected"] == 1
        assert read_rejects(target_config)[0]["error_code"] == "AMBIGUOUS_MATCH"


def potentials_input(records: list[dict]) -> str:
    props = {
        k: {"type": ["string", "null"]}
        for k in ("potentialname", "closingdate", "sales_stage", "amount")
    }
    return singer_lines(
        [schema_message("Potentials", props), *(record_message(r, "Potentials") for r in records)]
    )


DEAL = {
    "potentialname": "Big Deal 😀",
    "closingdate": "2026-12-31",
    "sales_stage": "Prospecting",
    "amount": "1000.75",
}


class TestAlteredValues:
    """Vtiger rounds currency to the user's decimals and may store emoji as '?'."""

    @pytest.fixture
    def lossy(self, sandbox):
        sandbox.configure(currency_decimals=0, emoji="replace")

    def test_altered_fields_are_reported_as_warnings(self, lossy, target_config, caplog):
        run = run_target(target_config, potentials_input([DEAL]))
        counts = run.counts("Potentials")
        assert (counts["created"], counts["altered"], counts["rejected"]) == (1, 1, 0)
        assert "amount: sent '1000.75', stored '1001.00000000'" in caplog.text
        assert "potentialname: sent 'Big Deal 😀', stored 'Big Deal ?'" in caplog.text

    def test_strict_writes_rejects_altered_records(self, lossy, target_config):
        config = {**target_config, "strict_writes": True, "allow_rejects": True}
        run = run_target(config, potentials_input([DEAL]))
        assert run.counts("Potentials")["rejected"] == 1
        (reject,) = read_rejects(target_config)
        assert reject["error_code"] == "WRITE_ALTERED"
        assert {a["field"] for a in reject["altered"]} == {"amount", "potentialname"}


def states_as_written(sandbox, config: dict, msgs: list[dict]) -> list[tuple[dict, int]]:
    """Each STATE line the target writes, with the creates the server had seen by then."""
    import contextlib
    import io
    import json

    from target_vtiger.target import TargetVtiger

    written: list[tuple[dict, int]] = []

    class Output(io.StringIO):
        def write(self, text: str) -> int:
            written.extend((json.loads(line), sandbox.stats().get("create", 0))
                           for line in text.splitlines() if line.strip())
            return super().write(text)

    sandbox.reset_stats()
    target = TargetVtiger(config=config)
    with contextlib.redirect_stdout(Output()):
        target.listen(io.StringIO(singer_lines(msgs)))
    return written


class TestStateSafety:
    def test_each_state_is_emitted_only_after_the_records_before_it_are_written(
        self, sandbox, target_config
    ):
        """A STATE goes out mid-stream as soon as it is safe, never before its records."""
        from target_helpers import state_message

        msgs = [schema_message()]
        for i in range(250):
            msgs.append(record_message({"lastname": f"S{i}", "email": f"s{i}@x.com"}))
            if (i + 1) % 30 == 0:
                msgs.append(state_message({"n": i + 1}))
        emitted = [(state["n"], creates) for state, creates in states_as_written(
            sandbox, {**target_config, "match_keys": {"Contacts": ["email"]}}, msgs)]
        assert len(emitted) >= 3, "STATE should be emitted after each settled batch"
        for n, created_then in emitted:
            assert created_then >= n, f"STATE n={n} emitted when only {created_then} written"
        assert [n for n, _ in emitted] == sorted(n for n, _ in emitted)  # never backwards
        assert emitted[-1][0] == 240


class TestWebserviceStyle:
    def test_self_hosted_webservice_php_upserts_the_same_way(self, sandbox_factory, tmp_path):
        server = sandbox_factory(flavor="self-hosted")
        config = {
            **server.tap_config(),
            "api_style": "webservice",
            "match_keys": {"Contacts": ["email"]},
            "rejects_path": str(tmp_path / "rejects.jsonl"),
        }
        text = (DATA / "contacts_create.singer").read_text()
        assert run_target(config, text).counts()["created"] == 3
        server.reset_stats()
        assert run_target(config, text).counts()["unchanged"] == 3
        assert write_calls(server.stats()) == 0


BULK_XML = """<apidesigner>
  <endpoint path="contacts_bulk" kind="api">
    <api method="post">
      <upsert module="Contacts" bulk="true">
        <record>
          <field name="lastname"/><field name="firstname"/><field name="email"/>
          <field name="phone"/><field name="assigned_user_id"/>
        </record>
        <where><field name="email" value="@email"/></where>
      </upsert>
    </api>
  </endpoint>
</apidesigner>
"""


class TestApiDesignerBulkUpsert:
    @pytest.fixture
    def bulk_config(self, sandbox, target_config, tmp_path):
        (tmp_path / "sandbox.sqlite.apidesigner.xml").write_text(BULK_XML)
        return {
            **target_config,
            "match_keys": {"Contacts": ["email"]},
            "api_designer_upsert": {"Contacts": {"path": "contacts_bulk", "match_field": "email"}},
        }

    def test_50_records_per_request_and_nothing_for_unchanged(self, sandbox, bulk_config, vtiger):
        records = [{"lastname": f"B{i}", "email": f"b{i}@x.com"} for i in range(120)]
        sandbox.reset_stats()
        run = run_target(bulk_config, contacts_input(records))
        assert run.counts()["created"] == 120
        stats = sandbox.stats()
        assert stats.get("vtap_api") == 3  # 50 + 50 + 20
        assert stats.get("create", 0) == 0
        assert stats.get("query") == 2  # lookups: 100 + 20
        assert len(all_contacts(vtiger)) == 120

        changed = [{**r, "phone": "+1 555 0100"} for r in records]
        sandbox.reset_stats()
        run = run_target(bulk_config, contacts_input(changed))
        assert run.counts()["updated"] == 120
        assert sandbox.stats().get("vtap_api") == 3

        sandbox.reset_stats()
        run = run_target(bulk_config, contacts_input(changed))
        assert run.counts()["unchanged"] == 120
        assert write_calls(sandbox.stats()) == 0

    def test_fields_the_endpoint_does_not_write_are_reported(self, sandbox, bulk_config, caplog):
        run = run_target(
            bulk_config,
            contacts_input([{"lastname": "D", "email": "d@x.com", "description": "not mapped"}]),
        )
        assert run.counts()["altered"] == 1
        assert "description: sent 'not mapped', stored ''" in caplog.text

    def test_clearing_a_value_goes_through_revise(self, sandbox, bulk_config, vtiger):
        run_target(bulk_config, contacts_input([{"lastname": "E", "email": "e@x.com",
                                                 "phone": "123"}]))  # fmt: skip
        sandbox.reset_stats()
        run_target(bulk_config, contacts_input([{"lastname": "E", "email": "e@x.com",
                                                 "phone": None}]))  # fmt: skip
        assert sandbox.stats().get("revise") == 1
        assert all_contacts(vtiger)[0]["phone"] == ""


class TestWriteConcurrency:
    def test_parallel_writes_keep_exact_counts_and_no_duplicates(self, sandbox, target_config):
        config = {
            **target_config,
            "match_keys": {"Contacts": ["email"]},
            "write_concurrency": 6,
        }
        records = [{"lastname": f"P{i}", "email": f"p{i}@x.com"} for i in range(230)]
        sandbox.reset_stats()
        assert run_target(config, contacts_input(records)).counts()["created"] == 230
        assert sandbox.stats().get("create") == 230
        changed = [{**r, "firstname": "Q"} for r in records]
        sandbox.reset_stats()
        assert run_target(config, contacts_input(changed)).counts()["updated"] == 230
        assert sandbox.stats().get("revise") == 230
        assert sandbox.stats().get("query") == 3


class TestOtherSettings:
    def test_skip_unchanged_off_writes_every_matched_record(self, sandbox, target_config):
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        text = contacts_input([{"lastname": "Same", "email": "same@x.com"}])
        run_target(config, text)
        sandbox.reset_stats()
        run = run_target({**config, "skip_unchanged": False}, text)
        assert run.counts()["updated"] == 1
        assert sandbox.stats().get("revise") == 1

    def test_default_owner_is_used_for_new_records_without_one(
        self, sandbox, target_config, vtiger
    ):
        user = sandbox.add_user("sales1")
        config = {**target_config, "default_owner": user["id"]}
        run_target(config, contacts_input([{"lastname": "Owned", "email": "own@x.com"}]))
        assert all_contacts(vtiger)[0]["assigned_user_id"] == user["id"]

    def test_a_null_owner_keeps_the_current_owner_on_update(self, sandbox, target_config, vtiger):
        config = {**target_config, "match_keys": {"Contacts": ["email"]}}
        run_target(config, contacts_input([{"lastname": "K", "email": "k@x.com"}]))
        sandbox.reset_stats()
        run = run_target(
            config,
            contacts_input([{"lastname": "K", "email": "k@x.com", "assigned_user_id": None}]),
        )
        assert run.counts()["unchanged"] == 1
        assert write_calls(sandbox.stats()) == 0


class TestStateAcrossStreams:
    def test_a_state_waits_for_records_of_other_streams_still_in_a_batch(
        self, sandbox, target_config
    ):
        """Contacts drain at 100, but an Account received before the STATE is not written yet."""
        from target_helpers import state_message

        account_props = {"accountname": {"type": "string"}}
        msgs = [
            schema_message(),
            schema_message("Accounts", account_props),
            record_message({"accountname": "Acme"}, stream="Accounts"),
        ]
        msgs += [record_message({"lastname": f"S{i}", "email": f"s{i}@x.com"}) for i in range(100)]
        msgs.append(state_message({"n": 1}))
        emitted = states_as_written(
            sandbox, {**target_config, "match_keys": {"Contacts": ["email"]}}, msgs)
        # the STATE came after 100 contacts (drained) and 1 account (pending until the end)
        assert emitted == [({"n": 1}, 101)]
