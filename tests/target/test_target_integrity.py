"""Issue 14/19 on the sandbox: no duplicate, no stale overwrite, no silent drop, no rewrite loop.

Each test is one case a reverse-ETL user fears, run end to end over HTTP against the sandbox,
whose VTQL compares text the way the real server's collation does.
"""

from __future__ import annotations

import time

import pytest
from target_helpers import (
    CONTACT_PROPS,
    all_contacts,
    all_records,
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

from vtiger_client.config import ClientConfig
from vtiger_client.session import VtigerClient

__all__ = ["target_config", "vtiger"]  # fixtures used by name


def keyed(config: dict, *keys: str) -> dict:
    return {**config, "match_keys": {"Contacts": list(keys or ["email"])}, "allow_rejects": True}


def emails_in_vtiger(vtiger) -> list[str]:
    return sorted(r["email"] for r in all_contacts(vtiger) if r.get("email"))


# ------------------------------------------------------------------ 1. one rule for "same key"
@pytest.mark.parametrize("incoming", ["bob@x.com ", "Bob@X.com", "BOB@X.COM   "])
def test_a_key_the_server_calls_equal_updates_the_existing_record(
    sandbox, target_config, vtiger, incoming
):
    vtiger.create("Contacts", {"lastname": "Old", "email": "bob@x.com",
                               "assigned_user_id": "19x1"})
    run = run_target(keyed(target_config), contacts_input(
        [{"lastname": "New", "email": incoming}]))
    assert run.counts()["created"] == 0
    assert run.counts()["updated"] == 1
    assert [r["lastname"] for r in all_contacts(vtiger)] == ["New"]


def test_a_leading_blank_is_another_key_for_the_server_and_for_the_target(
    sandbox, target_config, vtiger
):
    vtiger.create("Contacts", {"lastname": "Old", "email": "bob@x.com",
                               "assigned_user_id": "19x1"})
    run = run_target(keyed(target_config), contacts_input(
        [{"lastname": "Tab", "email": "\tbob@x.com"}]))
    assert run.counts()["created"] == 1
    assert sorted(r["lastname"] for r in all_contacts(vtiger)) == ["Old", "Tab"]


def test_spellings_of_one_key_in_one_batch_write_the_last_value_once(
    sandbox, target_config, vtiger
):
    run = run_target(keyed(target_config), contacts_input([
        {"lastname": "First", "email": "Bob@X.com"},
        {"lastname": "Second", "email": "bob@x.com  "},
        {"lastname": "Last", "email": "BOB@x.com"},
    ]))
    assert run.counts()["created"] == 1
    assert [r["lastname"] for r in all_contacts(vtiger)] == ["Last"]


# ------------------------------------------------------------------ 2. ß is not ss
def test_keys_python_casefolds_alike_are_two_records(sandbox, target_config, vtiger):
    run = run_target(keyed(target_config), contacts_input([
        {"lastname": "Strasse", "email": "strasse@x.com"},
        {"lastname": "Strasze", "email": "straße@x.com"},
    ]))
    assert run.counts()["created"] == 2
    assert run.counts()["skipped"] == 0
    assert emails_in_vtiger(vtiger) == ["strasse@x.com", "straße@x.com"]
    again = run_target(keyed(target_config), contacts_input([
        {"lastname": "Strasse", "email": "STRASSE@x.com"},
        {"lastname": "Strasze", "email": "STRAßE@x.com"},
    ]))
    assert again.counts()["created"] == 0
    assert again.counts()["updated"] == 2  # the new spelling is the last value: it is stored
    assert emails_in_vtiger(vtiger) == ["STRASSE@x.com", "STRAßE@x.com"]


@pytest.mark.parametrize(("stored", "incoming"), [
    ("jose@x.com", "José@X.com"), ("strase@x.com", "straße@x.com"), ("noel@x.com", "NOËL@x.com")])
def test_a_key_spelled_with_accents_updates_the_record_stored_without(
    sandbox, target_config, vtiger, stored, incoming
):
    # the server's collation weighs a letter with diacritics as its base letter, ß as s
    vtiger.create("Contacts", {"lastname": "Old", "email": stored, "assigned_user_id": "19x1"})
    run = run_target(keyed(target_config), contacts_input(
        [{"lastname": "New", "email": incoming}]))
    assert run.counts()["created"] == 0
    assert [r["lastname"] for r in all_contacts(vtiger)] == ["New"]


def test_letters_without_a_decomposition_are_keys_of_their_own(sandbox, target_config, vtiger):
    run = run_target(keyed(target_config), contacts_input([
        {"lastname": "O", "email": "bjorn@x.com"},
        {"lastname": "Slash", "email": "bjørn@x.com"},
    ]))
    assert run.counts()["created"] == 2
    assert emails_in_vtiger(vtiger) == ["bjorn@x.com", "bjørn@x.com"]


def test_two_existing_records_under_one_key_are_rejected_naming_both(
    sandbox, target_config, vtiger
):
    a = vtiger.create("Contacts", {"lastname": "A", "email": "dup@x.com",
                                   "assigned_user_id": "19x1"})
    b = vtiger.create("Contacts", {"lastname": "B", "email": "DUP@x.com ",
                                   "assigned_user_id": "19x1"})
    run = run_target(keyed(target_config),
                     contacts_input([{"lastname": "C", "email": "dup@x.com"}]))
    assert run.counts()["rejected"] == 1
    (reject,) = read_rejects(target_config)
    assert reject["error_code"] == "AMBIGUOUS_MATCH"
    assert a["id"] in reject["message"] and b["id"] in reject["message"]
    assert len(all_contacts(vtiger)) == 2


# ------------------------------------------------------------------ issue 19: stored forms
def _stream(stream: str, records: list[dict]) -> list[dict]:
    props = {k: {} for r in records for k in r}
    return [schema_message(stream, props), *(record_message(r, stream) for r in records)]


ALTERED_INPUT = [
    *_stream("Accounts", [{
        "accountname": "Rocket 🚀 Corp  ",   # emoji -> "?", trailing blanks
        "annual_revenue": 1234.56,           # currency: rounded to 0 decimals
        "employees": "42", "website": "https://x.example", "email1": "Ops@X.example",
        "phone": "+1 555", "industry": "Technology", "emailoptout": True,
        "description": "line 1\nline 2 😀",
    }]),
    *_stream("Potentials", [{
        "potentialname": f"Deal {n} 🎯", "amount": "1000.50", "probability": 25.5,
        "closingdate": "2026-12-31", "sales_stage": "Prospecting", "leadsource": "Web Site",
        "nextstep": "call back   ", "forecast_amount": 10.5,
    } for n in range(3)]),
]


def test_unchanged_input_twice_on_a_fresh_self_hosted_server_spends_no_write_on_run_2(
    sandbox_factory, tmp_path
):
    server = sandbox_factory(flavor="self-hosted")
    config = {**server.tap_config(), "api_style": "webservice",
              "rejects_path": str(tmp_path / "rejects.jsonl"),
              "allow_rejects": True,
              "match_keys": {"Accounts": ["accountname"], "Potentials": ["potentialname"]}}
    text = singer_lines(ALTERED_INPUT)
    first = run_target(config, text)
    assert first.counts("Accounts")["created"] == 1
    assert first.counts("Potentials")["created"] == 3
    assert first.counts("Accounts")["altered"] == 1
    assert first.counts("Potentials")["altered"] == 3
    server.reset_stats()
    second = run_target(config, text)
    assert write_calls(server.stats()) == 0
    assert second.counts("Accounts")["unchanged"] == 1
    assert second.counts("Potentials")["unchanged"] == 3
    assert second.counts("Potentials")["altered"] == 0
    assert second.counts("Potentials")["created"] == 0  # the altered keys still match


def test_a_real_change_to_an_altered_value_is_still_written(sandbox_factory, tmp_path):
    server = sandbox_factory(flavor="self-hosted")
    config = {**server.tap_config(), "api_style": "webservice",
              "rejects_path": str(tmp_path / "rejects.jsonl"),
              "match_keys": {"Potentials": ["potentialname"]}}
    deal = {"potentialname": "Deal 🎯", "amount": "1000.50", "closingdate": "2026-12-31",
            "sales_stage": "Prospecting"}
    run_target(config, singer_lines(_stream("Potentials", [deal])))
    second = run_target(config, singer_lines(_stream("Potentials", [{**deal, "amount": "1002.4"}])))
    assert second.counts("Potentials")["updated"] == 1
    (row,) = all_records(VtigerClient(ClientConfig.from_mapping({**server.tap_config(),
                                                             "api_style": "webservice"})),
                         "Potentials")
    assert row["amount"] == "1002.00000000"
    assert row["potentialname"] == "Deal ?"


# ------------------------------------------------------------------ 4. slow creates
def _emails_count(vtiger) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in all_contacts(vtiger):
        counts[row["email"]] = counts.get(row["email"], 0) + 1
    return counts


def test_a_create_the_server_finishes_after_the_client_gave_up_is_found_not_repeated(
    sandbox, target_config, vtiger
):
    sandbox.configure(faults={"hold_create_s": 1.5})
    config = {**keyed(target_config), "request_timeout": 1, "backoff_base": 0.05}
    run = run_target(config, contacts_input(
        [{"lastname": f"Slow{n}", "email": f"slow{n}@x.com"} for n in range(3)]))
    sandbox.configure(faults={})
    assert _emails_count(vtiger) == {f"slow{n}@x.com": 1 for n in range(3)}
    assert run.counts()["created"] == 3
    assert read_rejects(target_config) == []


def test_a_create_still_unfinished_after_waiting_is_rejected_unconfirmed_never_sent_twice(
    sandbox, target_config, vtiger
):
    sandbox.configure(faults={"hold_create_s": 3})
    config = {**keyed(target_config), "request_timeout": 1, "backoff_base": 0.05}
    run = run_target(config, contacts_input([{"lastname": "Slow", "email": "slow@x.com"}]))
    assert run.counts()["rejected"] == 1
    (reject,) = read_rejects(target_config)
    assert reject["error_code"] == "CREATE_UNCONFIRMED"
    assert "request_timeout" in reject["message"]
    time.sleep(2.5)  # the held create lands
    sandbox.configure(faults={})
    assert _emails_count(vtiger) == {"slow@x.com": 1}
    again = run_target(config, contacts_input([{"lastname": "Slow", "email": "slow@x.com"}]))
    assert again.counts()["unchanged"] == 1
    assert _emails_count(vtiger) == {"slow@x.com": 1}


# ------------------------------------------------------------------ 5. input order
def test_a_schema_change_mid_stream_never_lets_an_older_value_win(sandbox, target_config, vtiger):
    wider = {**CONTACT_PROPS, "title": {"type": ["string", "null"]}}
    text = singer_lines([
        schema_message(),
        record_message({"lastname": "Old", "email": "k@x.com"}),
        {**schema_message(properties=wider)},
        record_message({"lastname": "New", "email": "k@x.com", "title": "t"}),
        record_message({"lastname": "Other", "email": "j@x.com", "title": "t"}),
    ])
    config = {**keyed(target_config), "batch_size_rows": 2}
    run_target(config, text)
    assert {r["email"]: r["lastname"] for r in all_contacts(vtiger)} == {
        "k@x.com": "New", "j@x.com": "Other"}


def test_two_streams_mapped_to_one_module_write_in_input_order(sandbox, target_config, vtiger):
    text = singer_lines([
        schema_message("crm_contacts"),
        schema_message("web_signups"),
        record_message({"lastname": "FromCrm", "email": "k@x.com"}, "crm_contacts"),
        record_message({"lastname": "FromWeb", "email": "k@x.com"}, "web_signups"),
        record_message({"lastname": "Web2", "email": "j@x.com"}, "web_signups"),
        record_message({"lastname": "Crm2", "email": "i@x.com"}, "crm_contacts"),
        record_message({"lastname": "CrmLast", "email": "j@x.com"}, "crm_contacts"),
    ])
    config = {**target_config, "allow_rejects": True, "batch_size_rows": 2,
              "module_map": {"crm_contacts": "Contacts", "web_signups": "Contacts"},
              "match_keys": {"Contacts": ["email"]}}
    run_target(config, text)
    assert {r["email"]: r["lastname"] for r in all_contacts(vtiger)} == {
        "k@x.com": "FromWeb", "j@x.com": "CrmLast", "i@x.com": "Crm2"}
