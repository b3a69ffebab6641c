"""The rejects file and the summary line (no server needed)."""

from __future__ import annotations

import datetime as dt
import json

from target_vtiger.rejects import RejectsWriter, StreamSummary


def test_rejects_are_json_lines_with_stream_record_code_and_message(tmp_path):
    path = tmp_path / "out" / "rejects.jsonl"
    writer = RejectsWriter(path)
    writer.write("Contacts", "Contacts", {"lastname": "O'Brien 😀"}, "UNKNOWN_FIELD", "x: no such")
    writer.write("Contacts", "Contacts", {"birthday": dt.date(2020, 1, 2)}, "INVALID_TYPE", "bad")
    writer.close()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["stream"], r["error_code"], r["message"]) for r in rows] == [
        ("Contacts", "UNKNOWN_FIELD", "x: no such"),
        ("Contacts", "INVALID_TYPE", "bad"),
    ]
    assert rows[0]["record"] == {"lastname": "O'Brien 😀"}
    assert rows[1]["record"] == {"birthday": "2020-01-02"}
    assert writer.count == 2


def test_a_rerun_appends_instead_of_erasing(tmp_path):
    path = tmp_path / "rejects.jsonl"
    for _ in range(2):
        w = RejectsWriter(path)
        w.write("s", "m", {}, "C", "m")
        w.close()
    assert len(path.read_text().splitlines()) == 2


def test_without_a_path_rejects_are_only_counted_and_logged(caplog):
    w = RejectsWriter(None)
    w.write("Leads", "Leads", {"id": "10x1"}, "REFERENCE_INVALID", "bad ref")
    assert w.count == 1
    assert "REFERENCE_INVALID" in caplog.text


def test_summary_line_names_every_counter():
    s = StreamSummary(stream="wh_contacts", module="Contacts", created=2, rejected=1)
    assert s.line() == (
        "wh_contacts -> Contacts: created=2 updated=0 unchanged=0 deleted=0 skipped=0 "
        "rejected=1 altered=0"
    )
    assert s.line(dry_run=True).startswith("[dry run, nothing written] ")
