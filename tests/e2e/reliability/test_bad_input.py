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


# ------------------------------------------------------- bad values: rejects, never a stuck run
# (issue 14 case 6) A value Vtiger cannot store, a line that is not UTF-8 and a record the
# server keeps failing on each end as one reject naming why; the records after it are written
# and the run ends normally (exit 0 with allow_rejects; 2 without, as for any reject).

#: fast retries: a record the server fails on costs 2 attempts and no long pauses
FAST_RETRIES = {"max_retries": 1, "backoff_base": 0.05, "backoff_max": 0.1}


def _keyed_config(server, tmp_path, **extra) -> dict:
    return {**server.tap_config(), "allow_rejects": True, "match_keys": {"Contacts": ["email"]},
            "rejects_path": str(tmp_path / "rejects.jsonl"), **extra}


def _rejects(tmp_path) -> list[dict]:
    path = tmp_path / "rejects.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run_bytes(exe: str, config: dict, data: bytes, tmp_path, *args: str):
    """Like run_cli, but the input is raw bytes (possibly not UTF-8)."""
    import subprocess

    from bad_input_helpers import BIN, clean_env

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run([str(BIN / exe), "--config", str(path), *args], input=data,
                          capture_output=True, timeout=180, env=clean_env(), cwd=tmp_path,
                          check=False)
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    return proc


def test_a_lone_surrogate_is_rejected_naming_the_field_and_the_run_goes_on(sandbox, tmp_path):
    """JSON "\\ud800" decodes to half a UTF-16 pair: not text any server can store. It used to
    be sent, answered HTTP 500, retried for ~40 s and end the run with exit 1; every re-run
    stopped at the same record. Now it never leaves the target (0 writes for it).
    """
    lines = [json.dumps(schema("Contacts", "lastname", "email", "description")),
             '{"type": "RECORD", "stream": "Contacts", "record": {"lastname": "Half\\ud800",'
             ' "email": "half@example.com"}}',
             '{"type": "RECORD", "stream": "Contacts", "record": {"lastname": "Low",'
             ' "email": "low@example.com", "description": "tail \\udfff"}}',
             json.dumps(record("Contacts", {"lastname": "After", "email": "after@example.com"})),
             json.dumps({"type": "STATE", "value": {"done": 1}})]
    sandbox.reset_stats()
    proc = run_cli("target-vtiger", _keyed_config(sandbox, tmp_path), tmp_path=tmp_path,
                   stdin="\n".join(lines) + "\n")

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    rows = {r["record"]["email"]: r for r in _rejects(tmp_path)}
    assert set(rows) == {"half@example.com", "low@example.com"}
    assert rows["half@example.com"]["error_code"] == "INVALID_VALUE"
    assert rows["half@example.com"]["fields"] == ["lastname"]
    assert rows["half@example.com"]["message"].startswith("lastname: contains a lone surrogate")
    assert rows["half@example.com"]["record"]["lastname"] == "Half\ud800"  # kept as sent
    assert rows["low@example.com"]["fields"] == ["description"]
    assert [r["email"] for r in all_rows(client(sandbox), "Contacts")] == ["after@example.com"]
    assert sandbox.stats().get("create") == 1
    assert json.loads(proc.stdout.splitlines()[-1]) == {"done": 1}


def test_control_characters_vtiger_stores_are_written_unchanged(sandbox, tmp_path):
    """Control characters other than NUL are text Vtiger stores and returns as sent (the
    sandbox and a real MariaDB alike): they are not refused, and the run reports no change."""
    text = "bell\x07 esc\x1b[0m tab\tform\x0cfeed del\x7f c1\x85"
    stdin = singer(schema("Contacts", "lastname", "email", "description"),
                   record("Contacts", {"lastname": "Ctl", "email": "ctl@example.com",
                                       "description": text}))
    proc = run_cli("target-vtiger", _keyed_config(sandbox, tmp_path), tmp_path=tmp_path,
                   stdin=stdin)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summaries(proc)["Contacts"]["created"] == 1
    assert summaries(proc)["Contacts"]["altered"] == 0
    assert [r["description"] for r in all_rows(client(sandbox), "Contacts")] == [text]


def test_a_nul_character_is_rejected_naming_the_field(sandbox, tmp_path):
    stdin = singer(schema("Contacts", "lastname", "email"),
                   record("Contacts", {"lastname": "Nul\x00", "email": "nul@example.com"}),
                   record("Contacts", {"lastname": "Fine", "email": "fine@example.com"}))
    proc = run_cli("target-vtiger", _keyed_config(sandbox, tmp_path), tmp_path=tmp_path,
                   stdin=stdin)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = _rejects(tmp_path)
    assert (row["error_code"], row["fields"]) == ("INVALID_VALUE", ["lastname"])
    assert [r["lastname"] for r in all_rows(client(sandbox), "Contacts")] == ["Fine"]


@pytest.mark.parametrize("how", ["stdin", "--input"])
def test_a_line_that_is_not_utf8_is_rejected_with_its_line_number(sandbox, tmp_path, how):
    """Raw bytes that are not UTF-8 (a Latin-1 export piped in): the line is rejected
    (INVALID_UTF8, input line number, the byte), filed under its stream; the rejects writer
    does not crash on it and the lines after it are written.
    """
    latin1 = (b'{"type": "RECORD", "stream": "Contacts", "record": {"lastname": "M\xfcller",'
              b' "email": "latin1@example.com"}}\n')
    data = (singer(schema("Contacts", "lastname", "email"),
                   record("Contacts", {"lastname": "Before", "email": "before@example.com"}))
            .encode()
            + latin1
            + b"\xff\xfe not even JSON \x80\n"
            + singer(record("Contacts", {"lastname": "After", "email": "after@example.com"}),
                     {"type": "STATE", "value": {"done": 2}}).encode())
    cfg = _keyed_config(sandbox, tmp_path)
    if how == "stdin":
        proc = _run_bytes("target-vtiger", cfg, data, tmp_path)
    else:
        (tmp_path / "input.jsonl").write_bytes(data)
        proc = _run_bytes("target-vtiger", cfg, b"", tmp_path, "--input",
                          str(tmp_path / "input.jsonl"))

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    first, second = _rejects(tmp_path)
    assert (first["stream"], first["error_code"]) == ("Contacts", "INVALID_UTF8")
    column = latin1.index(b"\xfc") + 1
    assert first["message"].startswith(
        f"input line 3: not valid UTF-8 (byte 0xfc at byte {column})")
    assert "M\\xfcller" in first["record"]["line"]  # the bad byte spelled out, valid text
    assert (second["stream"], second["error_code"]) == ("(unreadable input)", "INVALID_UTF8")
    assert second["message"].startswith("input line 4: not valid UTF-8 (byte 0xff at byte 1)")
    assert sorted(r["lastname"] for r in all_rows(client(sandbox), "Contacts")) == [
        "After", "Before"]
    assert summaries(proc)["Contacts"]["rejected"] == 1
    assert json.loads(proc.stdout.splitlines()[-1]) == {"done": 2}


def test_a_record_the_server_keeps_failing_on_is_rejected_as_server_error(sandbox, tmp_path):
    """A create answered HTTP 500 on every try: before each retry the record is looked up by
    its match key (a 500 does not prove nothing was written), so it is never created twice;
    after the retries it is rejected as SERVER_ERROR with the server's answer, and the
    records after it are written. A revise failing the same way is rejected the same way.
    """
    vt = client(sandbox)
    vt.create("Contacts", {"lastname": "Existing", "email": "old@example.com",
                           "assigned_user_id": "19x1"})
    sandbox.configure(faults={"crash_values": ["poison-value"]})
    stdin = singer(schema("Contacts", "lastname", "email", "description"),
                   record("Contacts", {"lastname": "New", "email": "new@example.com",
                                       "description": "poison-value"}),
                   record("Contacts", {"lastname": "Existing", "email": "old@example.com",
                                       "description": "poison-value"}),
                   record("Contacts", {"lastname": "After", "email": "after@example.com"}),
                   {"type": "STATE", "value": {"done": 3}})
    sandbox.reset_stats()
    proc = run_cli("target-vtiger", _keyed_config(sandbox, tmp_path, **FAST_RETRIES),
                   tmp_path=tmp_path, stdin=stdin)

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    rows = {r["record"]["email"]: r for r in _rejects(tmp_path)}
    assert set(rows) == {"new@example.com", "old@example.com"}
    for row in rows.values():
        assert row["error_code"] == "SERVER_ERROR"
        assert "EMPTY_RESPONSE" in row["message"] and "HTTP 500" in row["message"]
    assert "create 2 time(s)" in rows["new@example.com"]["message"]
    assert "revise 2 time(s)" in rows["old@example.com"]["message"]
    calls = sandbox.stats()
    # 2 creates of the poison record (each followed by a look for it) + 1 for "After"
    assert calls["create"] == 3 and calls["revise"] == 2
    assert calls["query"] == 1 + 2  # the batch lookup + one look after each failed create
    stored = {r["email"]: r for r in all_rows(vt, "Contacts")}
    assert set(stored) == {"old@example.com", "after@example.com"}
    assert stored["old@example.com"]["description"] == ""
    assert json.loads(proc.stdout.splitlines()[-1]) == {"done": 3}


def test_stop_on_server_error_stops_the_run_at_that_record(sandbox, tmp_path):
    sandbox.configure(faults={"crash_values": ["poison-value"]})
    stdin = singer(schema("Contacts", "lastname", "email"),
                   record("Contacts", {"lastname": "poison-value", "email": "p@example.com"}),
                   {"type": "STATE", "value": {"before": "after"}},
                   record("Contacts", {"lastname": "Later", "email": "later@example.com"}))
    cfg = _keyed_config(sandbox, tmp_path, stop_on_server_error=True, batch_size_rows=1,
                        **FAST_RETRIES)
    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=stdin)

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1]
    assert "SERVER_ERROR" in errors[0] and "stop_on_server_error" in errors[0]
    assert "email='p@example.com'" in errors[0]
    assert all_rows(client(sandbox), "Contacts") == []
    assert proc.stdout.strip() == ""  # no STATE passes the record that was not written


def test_a_server_failing_on_every_record_stops_the_run_after_ten_in_a_row(sandbox, tmp_path):
    """Rejecting record after record would spend the day's API budget on a broken server."""
    sandbox.configure(faults={"crash_values": ["@example.com"]})
    stdin = singer(schema("Contacts", "lastname", "email"),
                   *(record("Contacts", {"lastname": f"N{i}", "email": f"n{i}@example.com"})
                     for i in range(12)))
    cfg = _keyed_config(sandbox, tmp_path, max_retries=0)
    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=stdin)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1 and "10 records in a row" in errors[0]
    assert len(_rejects(tmp_path)) == 10
    assert sandbox.stats()["create"] == 10


# ------------------------------------- bad settings and messages: one line (issue 14 case 7)


def _one_line(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1, proc.stderr[-2000:]
    assert errors[0] == proc.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_target_rejects_path_that_cannot_be_written_stops_before_any_write(
        module_sandbox, tmp_path, where):
    """Found at start (exit 1, zero calls), not at the first reject in the middle of a run."""
    (tmp_path / "a_file").write_text("x")
    path = tmp_path if where == "folder" else tmp_path / "a_file" / "rejects.jsonl"
    before = module_sandbox.total_calls()
    proc = run_cli("target-vtiger", {**module_sandbox.tap_config(), "rejects_path": str(path)},
                   tmp_path=tmp_path, stdin=CONTACTS_IN)
    _one_line(proc, 1, "setting rejects_path")
    assert module_sandbox.total_calls() == before


@pytest.mark.parametrize(("changes", "setting"), [
    ({"ca_bundle": "/nonexistent/private-ca.pem"}, "setting ca_bundle"),
    ({"user_agent": "etl\r\nX-Injected: 1"}, "setting user_agent"),
    ({"access_key": "ключ-доступа"}, "setting access_key"),
], ids=["ca_bundle missing", "user_agent CRLF", "access_key not latin-1"])
@pytest.mark.parametrize("exe", ["target-vtiger", "tap-vtiger"])
def test_unsendable_connection_settings_one_line_zero_calls(module_sandbox, tmp_path, changes,
                                                           setting, exe):
    before = module_sandbox.total_calls()
    proc = run_cli(exe, {**module_sandbox.tap_config(), **QUIET, **changes}, tmp_path=tmp_path,
                   stdin=CONTACTS_IN if exe == "target-vtiger" else "")
    line = _one_line(proc, 1, setting)
    assert "ключ" not in line and "X-Injected" not in line
    assert module_sandbox.total_calls() == before


@pytest.mark.parametrize("exe", ["target-vtiger", "tap-vtiger"])
def test_config_file_with_a_json_syntax_error_one_line(tmp_path, exe):
    import subprocess

    from bad_input_helpers import BIN, clean_env

    path = tmp_path / "config.json"
    path.write_text('{"api_url": "http://127.0.0.1:1",\n "username": }\n')
    proc = subprocess.run([str(BIN / exe), "--config", str(path)], input="",
                          capture_output=True, text=True, timeout=60, env=clean_env(),
                          cwd=tmp_path, check=False)
    _one_line(proc, 1, f"config file {path} is not valid JSON (line 2 column")


@pytest.mark.parametrize(("case", "message", "code"), [
    ("STATE without value", {"type": "STATE"}, "MALFORMED_MESSAGE"),
    ("ACTIVATE_VERSION unknown stream",
     {"type": "ACTIVATE_VERSION", "stream": "Nope", "version": 1}, "NO_SCHEMA"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_target_bad_message_is_rejected_with_its_line_number(sandbox, tmp_path, case, message,
                                                             code):
    stdin = singer(schema("Contacts", "lastname", "email"), message,
                   record("Contacts", {"lastname": "After", "email": "after@example.com"}))
    cfg = {**sandbox.tap_config(), "rejects_path": str(tmp_path / "rejects.jsonl")}
    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=stdin)
    _one_line(proc, 2, "1 record(s) rejected")
    (row,) = _rejects(tmp_path)
    assert row["error_code"] == code and row["message"].startswith("input line 2: ")
    assert [r["lastname"] for r in all_rows(client(sandbox), "Contacts")] == ["After"]


def test_target_key_properties_as_a_string_rejects_the_schema_naming_it(sandbox, tmp_path):
    bad = {**schema("Contacts", "lastname", "email"), "key_properties": "email"}
    stdin = singer(bad, record("Contacts", {"lastname": "A", "email": "a@example.com"}))
    cfg = {**sandbox.tap_config(), "rejects_path": str(tmp_path / "rejects.jsonl")}
    proc = run_cli("target-vtiger", cfg, tmp_path=tmp_path, stdin=stdin)
    _one_line(proc, 2, "2 record(s) rejected")
    first, second = _rejects(tmp_path)
    assert first["error_code"] == "MALFORMED_MESSAGE"
    assert first["message"].startswith("input line 1: key_properties of stream 'Contacts'")
    assert second["error_code"] == "NO_SCHEMA"
    assert all_rows(client(sandbox), "Contacts") == []


def test_target_batch_message_stops_the_run_before_its_state(sandbox, tmp_path):
    """Records in BATCH files are not read: the STATE after one must never be passed on."""
    stdin = singer(schema("Contacts", "lastname", "email"),
                   {"type": "BATCH", "stream": "Contacts", "encoding": {"format": "jsonl"},
                    "manifest": ["file:///tmp/batch-1.jsonl"]},
                   {"type": "STATE", "value": {"past": "the batch"}})
    proc = run_cli("target-vtiger", sandbox.tap_config(), tmp_path=tmp_path, stdin=stdin)
    _one_line(proc, 1, "input line 2: BATCH message", "batch_config")
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize(("state", "key"), [
    ({"bookmarks": {"Contacts": "garbage"}}, "bookmarks.Contacts must be an object"),
    ({"bookmarks": []}, "bookmarks must be an object"),
    ({"bookmarks": {"Contacts": {"vtiger_sync": {"mode": "query", "checked_at": "yesterday"}}}},
     "bookmarks.Contacts.vtiger_sync.checked_at must be a number"),
    ("not json {", "is not valid JSON"),
], ids=["garbage bookmark", "bookmarks a list", "checked_at text", "syntax error"])
def test_tap_state_it_did_not_write_one_line_naming_the_key(module_sandbox, tmp_path, state,
                                                            key):
    path = tmp_path / "state.json"
    path.write_text(state if isinstance(state, str) else json.dumps(state))
    before = module_sandbox.total_calls()
    proc = run_cli("tap-vtiger", {**module_sandbox.tap_config(), **QUIET,
                                  "modules": ["Contacts"]}, "--state", str(path),
                   tmp_path=tmp_path)
    _one_line(proc, 1, key)
    assert proc.stdout.strip() == ""
    assert module_sandbox.total_calls() == before


@pytest.mark.parametrize(("value", "stream", "code", "reason"), [
    ("9" * 5000, "(unreadable input)", "MALFORMED_LINE", "Exceeds the limit"),
    ("[" * 100_000 + "]" * 100_000, "(unreadable input)", "MALFORMED_LINE", "RecursionError"),
    ("NaN", "Contacts", "INVALID_TYPE", "description: float value is not text"),
], ids=["5000-digit number", "nesting 100k deep", "NaN"])
def test_adversarial_json_values_are_one_reject_each(sandbox, tmp_path, value, stream, code,
                                                     reason):
    line = ('{"type": "RECORD", "stream": "Contacts", "record": {"lastname": "X", '
            f'"email": "x@example.com", "description": {value}}}}}\n')
    stdin = (singer(schema("Contacts", "lastname", "email", "description")) + line
             + singer(record("Contacts", {"lastname": "After", "email": "after@example.com"})))
    proc = run_cli("target-vtiger", _keyed_config(sandbox, tmp_path), tmp_path=tmp_path,
                   stdin=stdin)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    (row,) = _rejects(tmp_path)
    assert (row["stream"], row["error_code"]) == (stream, code)
    assert reason in row["message"]
    assert [r["lastname"] for r in all_rows(client(sandbox), "Contacts")] == ["After"]


def test_a_record_repeating_a_key_is_rejected_not_guessed(sandbox, tmp_path):
    """{"lastname": "A", "lastname": "B"}: Python keeps B, other readers A; neither is written."""
    line = ('{"type": "RECORD", "stream": "Contacts", "record": {"lastname": "First", '
            '"email": "dup@example.com", "lastname": "Second"}}\n')
    stdin = (singer(schema("Contacts", "lastname", "email")) + line
             + singer(record("Contacts", {"lastname": "After", "email": "after@example.com"})))
    proc = run_cli("target-vtiger", _keyed_config(sandbox, tmp_path), tmp_path=tmp_path,
                   stdin=stdin)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = _rejects(tmp_path)
    assert (row["stream"], row["error_code"]) == ("Contacts", "DUPLICATE_KEY")
    assert row["message"].startswith("input line 2: key 'lastname' appears twice")
    assert [r["lastname"] for r in all_rows(client(sandbox), "Contacts")] == ["After"]
