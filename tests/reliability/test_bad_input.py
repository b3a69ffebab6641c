"""Bad input (issue 6): impossible settings stop both commands before any API call with ONE
line naming the setting; bad records are rejected one by one, with a reason, into the rejects
file while the others are written.

Settings are checked by the command users run (a subprocess) against a live sandbox whose call
counter must not move. Decisions:

* A bad setting is reported as the run's only ERROR line, ``CONFIG: setting <name> ...``
  (never the bad value: a mistyped access key must not be echoed), exit code 1, no traceback.
* ``modules`` naming an unknown module needs the server's module list: the tap makes exactly
  one call, ``listtypes``, and stops before any ``describe`` or data call.
* A record before its stream's SCHEMA is rejected (``NO_SCHEMA``), as is a line that is not a
  Singer message or has a type Singer does not define (``MALFORMED_LINE``, filed under the
  pseudo-stream ``(unreadable input)``), and a RECORD without stream or record or a SCHEMA
  without schema (``MALFORMED_MESSAGE``); the run goes on, then exits 2 because input was
  rejected (0 with ``allow_rejects``). Blank lines are skipped.
* An oversized value is one the server refuses (HTTP 413, request over the sandbox's 32 MiB):
  that record is rejected with the server's code, the others are written.
"""

from __future__ import annotations

import json

import pytest
from bad_input_helpers import (
    QUIET,
    all_rows,
    client,
    error_lines,
    message_of,
    module_sandbox,
    record,
    run_cli,
    schema,
    singer,
    summaries,
)

__all__ = ["module_sandbox"]

REMOVE = object()

#: (case id, settings changed (REMOVE = left out), the setting the error must name)
COMMON_BAD_SETTINGS = [
    ("api_url missing", {"api_url": REMOVE}, "api_url"),
    ("api_url empty", {"api_url": ""}, "api_url"),
    ("api_url blank", {"api_url": "   "}, "api_url"),
    ("api_url not a URL", {"api_url": "not a url"}, "api_url"),
    ("api_url ftp", {"api_url": "ftp://127.0.0.1/"}, "api_url"),
    ("api_url no host", {"api_url": "https://"}, "api_url"),
    ("api_url with credentials", {"api_url": "https://admin:pw@127.0.0.1/"}, "api_url"),
    ("api_url plain http to a remote host", {"api_url": "http://crm.example.com"}, "api_url"),
    ("api_url a number", {"api_url": 8080}, "api_url"),
    ("username missing", {"username": REMOVE}, "username"),
    ("username empty", {"username": ""}, "username"),
    ("access_key missing", {"access_key": REMOVE}, "access_key"),
    ("access_key empty", {"access_key": ""}, "access_key"),
    ("access_key a number", {"access_key": 123456789}, "access_key"),
    ("api_style unknown", {"api_style": "soap"}, "api_style"),
    ("max_retries a word", {"max_retries": "five"}, "max_retries"),
    ("max_retries negative", {"max_retries": -1}, "max_retries"),
    ("request_timeout a word", {"request_timeout": "slow"}, "request_timeout"),
    ("verify_ssl a word", {"verify_ssl": "maybe"}, "verify_ssl"),
    ("allow_http a list", {"allow_http": ["yes"]}, "allow_http"),
    ("api_budget_percent a word", {"api_budget_percent": "half"}, "api_budget_percent"),
    ("api_budget_percent over 100", {"api_budget_percent": 150}, "api_budget_percent"),
    ("ca_bundle a number", {"ca_bundle": 5}, "ca_bundle"),
]
TAP_BAD_SETTINGS = [
    ("start_date a word", {"start_date": "yesterday"}, "start_date"),
    ("start_date impossible day", {"start_date": "2026-13-45T00:00:00Z"}, "start_date"),
    ("start_date a number", {"start_date": 20260101}, "start_date"),
    ("modules a string", {"modules": "Contacts"}, "modules"),
    ("modules of numbers", {"modules": [1, 2]}, "modules"),
    ("sync_type unknown", {"sync_type": "everything"}, "sync_type"),
    ("include_deleted a word", {"include_deleted": "sometimes"}, "include_deleted"),
]
TARGET_BAD_SETTINGS = [
    ("match_keys a string", {"match_keys": "email"}, "match_keys"),
    ("match_keys empty list", {"match_keys": {"Contacts": []}}, "match_keys"),
    ("module_map a list", {"module_map": ["Contacts"]}, "module_map"),
    ("write_mode unknown", {"write_mode": "merge"}, "write_mode"),
    ("batch_size_rows a word", {"batch_size_rows": "many"}, "batch_size_rows"),
    ("hard_delete a word", {"hard_delete": "nope"}, "hard_delete"),
    ("write_concurrency zero", {"write_concurrency": 0}, "write_concurrency"),
    ("webhook_batch_size over 50", {"webhook_url": "x", "webhook_token": "t",
                                    "webhook_batch_size": 99}, "webhook_batch_size"),
    ("webhook without token", {"webhook_url": "contacts_upsert"}, "webhook_token"),
]

CONTACTS_IN = singer(schema("Contacts", "lastname", "email"),
                     record("Contacts", {"lastname": "Would", "email": "would@example.com"}),
                     {"type": "STATE", "value": {"n": 1}})


def _settings(server, changes: dict) -> dict:
    cfg = {**server.tap_config()}
    for key, value in changes.items():
        if value is REMOVE:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def _assert_one_line_naming(proc, setting: str, secret: str, changes: dict) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1, proc.stderr  # the only ERROR line...
    assert errors[0] == proc.stderr.strip().splitlines()[-1]  # ...is the last line
    assert setting in message_of(errors[0]), errors[0]
    assert secret not in proc.stderr + proc.stdout
    assert proc.stdout.strip() == ""
    # the bad value itself is not echoed (it may be a mistyped access key)
    for value in changes.values():
        if value is not REMOVE and len(str(value)) >= 4:
            assert str(value) not in proc.stderr, value


@pytest.mark.parametrize(("case", "changes", "setting"), COMMON_BAD_SETTINGS + TAP_BAD_SETTINGS,
                         ids=[c[0] for c in COMMON_BAD_SETTINGS + TAP_BAD_SETTINGS])
@pytest.mark.parametrize("mode", [(), ("--discover",)], ids=["sync", "discover"])
def test_tap_bad_setting_one_line_exit_1_zero_calls(module_sandbox, tmp_path, case, changes,
                                                    setting, mode):
    before = module_sandbox.total_calls()
    proc = run_cli("tap-vtiger", {**QUIET, **_settings(module_sandbox, changes)}, *mode,
                   tmp_path=tmp_path)
    _assert_one_line_naming(proc, setting, module_sandbox.access_key, changes)
    assert module_sandbox.total_calls() == before


@pytest.mark.parametrize(("changes", "setting"), [({"access_key": REMOVE}, "access_key"),
                                                ({"max_retries": "five"}, "max_retries"),
                                                ({"start_date": "yesterday"}, "start_date")])
def test_tap_connection_test_mode_checks_settings_first(module_sandbox, tmp_path, changes,
                                                        setting):
    """``--test`` (the connection check meltano runs) also stops on the setting, no call."""
    before = module_sandbox.total_calls()
    proc = run_cli("tap-vtiger", _settings(module_sandbox, changes), "--test", tmp_path=tmp_path)
    _assert_one_line_naming(proc, setting, module_sandbox.access_key, changes)
    assert module_sandbox.total_calls() == before


@pytest.mark.parametrize(("case", "changes", "setting"),
                         COMMON_BAD_SETTINGS + TARGET_BAD_SETTINGS,
                         ids=[c[0] for c in COMMON_BAD_SETTINGS + TARGET_BAD_SETTINGS])
def test_target_bad_setting_one_line_exit_1_zero_calls(module_sandbox, tmp_path, case, changes,
                                                       setting):
    before = module_sandbox.total_calls()
    proc = run_cli("target-vtiger", _settings(module_sandbox, changes), tmp_path=tmp_path,
                   stdin=CONTACTS_IN)
    _assert_one_line_naming(proc, setting, module_sandbox.access_key, changes)
    assert module_sandbox.total_calls() == before


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
def test_tap_unknown_module_stops_after_listtypes_alone(module_sandbox, tmp_path, api_style):
    """The module list is the server's: one listtypes call (plus the webservice login), no
    describe, no data call, one line naming the setting and the unknown name.
    """
    module_sandbox.reset_stats()
    cfg = {**module_sandbox.tap_config(), **QUIET, "api_style": api_style,
           "modules": ["Contacts", "Contactz"]}
    proc = run_cli("tap-vtiger", cfg, tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1]
    assert "setting modules" in errors[0] and "'Contactz'" in errors[0]
    login = {"getchallenge": 1, "login": 1} if api_style == "webservice" else {}
    assert module_sandbox.stats() == {**login, "listtypes": 1}


def test_target_stream_of_an_unknown_module_stops_without_writing(module_sandbox, tmp_path):
    """A stream mapped to a module the server does not have: one line naming the module and
    the setting to change and the modules there are; the describe that found out and the
    listtypes that names the alternatives are the only calls.
    """
    module_sandbox.reset_stats()
    cfg = {**module_sandbox.tap_config(), "module_map": {"Contacts": "Contactz"}}
    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=CONTACTS_IN)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1]
    assert "Contactz" in errors[0]
    assert "module_map.Contacts" in errors[0] and "available: " in errors[0]
    assert module_sandbox.stats() == {"describe": 1, "listtypes": 1}


# ---------------------------------------------------------------------------- bad records

#: 33 MiB: over the sandbox's 32 MiB request limit (HTTP 413 REQUEST_TOO_LARGE).
OVERSIZED = 33 * 1024 * 1024

CONTACT_FIELDS = ("id", "lastname", "firstname", "email", "leadsource", "description",
                  "account_id", "birthday", "emailoptout")


def _bad_records_input(account_id: str) -> tuple[str, dict[str, str]]:
    """A run mixing good and bad input; returns it and the reject code expected per marker
    (the email of a record, or the raw text of a malformed line)."""
    expected: dict[str, str] = {}
    lines: list[str] = []

    def add(*messages: dict) -> None:
        lines.append(singer(*messages))

    def bad(marker: str, code: str, rec: dict) -> None:
        expected[marker] = code
        add(record("Contacts", {"email": marker, **rec}))

    def raw(text: str, code: str) -> None:
        expected[text] = code
        lines.append(text + "\n")

    # a record before any SCHEMA (of a stream whose SCHEMA comes later)
    expected["early@example.com"] = "NO_SCHEMA"
    add(record("Accounts", {"accountname": "Early", "email1": "early@example.com"}))
    add(schema("Contacts", *CONTACT_FIELDS))
    add(record("Contacts", {"lastname": "Good1", "email": "good1@example.com"}))
    bad("nolastname@example.com", "MANDATORY_FIELDS_MISSING", {"firstname": "No last name"})
    bad("emptylastname@example.com", "MANDATORY_FIELDS_MISSING", {"lastname": ""})
    bad("baddate@example.com", "INVALID_TYPE", {"lastname": "BadDate", "birthday": "31/12/2020"})
    bad("badbool@example.com", "INVALID_TYPE", {"lastname": "BadBool", "emailoptout": "maybe"})
    bad("objectname@example.com", "INVALID_TYPE", {"lastname": {"nested": "object"}})
    bad("badpick@example.com", "INVALID_PICKLIST_VALUE", {"lastname": "P", "leadsource": "Nope"})
    bad("refnotid@example.com", "INVALID_TYPE", {"lastname": "R1", "account_id": "Acme Inc"})
    bad("refwrongmodule@example.com", "REFERENCE_INVALID", {"lastname": "R2", "account_id": "12x1"})
    bad("refmissing@example.com", "REFERENCE_INVALID",
        {"lastname": "R3", "account_id": account_id.split("x")[0] + "x999999"})
    bad("unknownfield@example.com", "UNKNOWN_FIELD", {"lastname": "U", "shoe_size": "44"})
    bad("badid@example.com", "INVALID_ID", {"lastname": "I", "id": "not-an-id"})
    raw('{"type": "RECORD", "stream": "Contacts", "record": {"lastname": "Trunc', "MALFORMED_LINE")
    raw("this is not JSON at all", "MALFORMED_LINE")
    raw("[1, 2, 3]", "MALFORMED_LINE")
    raw('{"stream": "Contacts", "record": {"lastname": "NoType"}}', "MALFORMED_LINE")
    raw('{"type": "RECORDZ", "stream": "Contacts", "record": {}}', "MALFORMED_LINE")
    expected["(Leads schema)"] = "MALFORMED_MESSAGE"
    add({"type": "SCHEMA", "stream": "Leads", "key_properties": []})  # no schema
    expected["(no record)"] = "MALFORMED_MESSAGE"
    add({"type": "RECORD", "stream": "Contacts"})
    add(record("Contacts", {"lastname": "Good2", "email": "good2@example.com",
                            "account_id": account_id}))
    bad("oversized@example.com", "REQUEST_TOO_LARGE",
        {"lastname": "Big", "description": "x" * OVERSIZED})
    add(schema("Accounts", "accountname", "email1"))
    add(record("Accounts", {"accountname": "Late", "email1": "late@example.com"}))
    add(record("Contacts", {"lastname": "Good3 O'Brien", "email": "good3@example.com"}))
    add({"type": "STATE", "value": {"bookmarks": {"done": True}}})
    return "".join(lines), expected


def _marker(row: dict) -> str:
    rec = row["record"]
    if row["error_code"] == "MALFORMED_LINE":
        return rec["line"]
    if row["error_code"] == "MALFORMED_MESSAGE":
        return "(Leads schema)" if row["stream"] == "Leads" else "(no record)"
    return rec.get("email") or rec.get("email1")


@pytest.mark.slow
def test_bad_records_are_rejected_with_reasons_and_the_others_written(sandbox, tmp_path):
    vt = client(sandbox)
    account = vt.create("Accounts", {"accountname": "Existing", "assigned_user_id": "19x1"})
    text, expected = _bad_records_input(account["id"])
    rejects_path = tmp_path / "rejects.jsonl"
    cfg = {**sandbox.tap_config(), "rejects_path": str(rejects_path)}

    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=text)

    # every bad input is in the rejects file once, with its code and a reason
    rows = [json.loads(line) for line in rejects_path.read_text(encoding="utf-8").splitlines()]
    assert {_marker(r): r["error_code"] for r in rows} == expected
    assert len(rows) == len(expected) == 20
    assert all(r["message"] for r in rows)
    # the good records are written, nothing else
    contacts = {r["email"]: r for r in all_rows(vt, "Contacts")}
    assert set(contacts) == {"good1@example.com", "good2@example.com", "good3@example.com"}
    assert contacts["good2@example.com"]["account_id"] == account["id"]
    assert contacts["good3@example.com"]["lastname"] == "Good3 O'Brien"
    assert sorted(r["accountname"] for r in all_rows(vt, "Accounts")) == ["Existing", "Late"]
    # the summary counts them, the run says so in its last line and exits 2
    counts = summaries(proc)
    assert counts["Contacts"]["created"] == 3 and counts["Contacts"]["rejected"] == 13
    assert counts["Accounts"]["created"] == 1 and counts["Accounts"]["rejected"] == 1
    assert counts["(unreadable input)"]["rejected"] == 5
    assert counts["Leads"]["rejected"] == 1
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = message_of(proc.stderr.strip().splitlines()[-1])
    assert last.startswith("20 record(s) rejected")
    # the STATE after them is still emitted: every record before it was settled
    assert json.loads(proc.stdout.splitlines()[-1]) == {"bookmarks": {"done": True}}


def test_with_allow_rejects_the_same_kind_of_input_exits_0(sandbox, tmp_path):
    text = singer(record("Contacts", {"lastname": "Early"}),
                  schema("Contacts", "lastname", "email"),
                  record("Contacts", {"lastname": "Ok", "email": "ok@example.com"})) + "{oops\n"
    cfg = {**sandbox.tap_config(), "allow_rejects": True,
           "rejects_path": str(tmp_path / "rejects.jsonl")}
    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert summaries(proc)["Contacts"] == {"created": 1, "updated": 0, "unchanged": 0,
                                           "deleted": 0, "skipped": 0, "rejected": 1,
                                           "altered": 0}
    assert summaries(proc)["(unreadable input)"]["rejected"] == 1
    assert [r["lastname"] for r in all_rows(client(sandbox), "Contacts")] == ["Ok"]
