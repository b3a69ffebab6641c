"""tap-vtiger as a command: one-line errors, exit codes, and the access key nowhere."""

from __future__ import annotations

import json

import pytest
from tap_helpers import config, run_cli

BAD_KEY = "NotTheKey-5up3r53cr3t"


@pytest.mark.parametrize("api_style", ["rest", "webservice"])
@pytest.mark.parametrize("mode", [(), ("--discover",), ("--test",)])
def test_bad_credentials_one_line_nonzero_no_traceback_no_key(sandbox, tmp_path, api_style,
                                                              mode):
    cfg = {**config(sandbox, api_style=api_style), "access_key": BAD_KEY}
    proc = run_cli(cfg, *mode, tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert BAD_KEY not in proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if "INVALID_USER_CREDENTIALS" in ln]
    assert len(errors) == 1, proc.stderr
    assert proc.stdout == ""  # not even a SCHEMA: the credentials fail before any output


def test_unknown_module_is_named(sandbox, tmp_path):
    proc = run_cli(config(sandbox, modules=["Contacts", "Contactz"]), "--discover",
                   tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "'Contactz'" in proc.stderr


def test_invalid_setting_is_named(sandbox, tmp_path):
    proc = run_cli(config(sandbox, api_url="http://crm.example.com"), "--discover",
                   tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "api_url" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_good_run_never_prints_the_access_key(sandbox, tmp_path):
    sandbox.bulk_create("Contacts", 3)
    for style in ("rest", "webservice"):
        cfg = config(sandbox, modules=["Contacts"], api_style=style)
        proc = run_cli(cfg, tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert sandbox.access_key not in proc.stdout + proc.stderr
        lines = [json.loads(ln) for ln in proc.stdout.splitlines()]
        assert sum(m["type"] == "RECORD" for m in lines) == 3
        assert lines[-1]["type"] == "STATE"


@pytest.mark.slow
def test_discover_and_sync_through_the_cli(sandbox, tmp_path):
    sandbox.bulk_create("Accounts", 2)
    cfg = config(sandbox, modules=["Accounts", "Contacts"])
    proc = run_cli(cfg, "--discover", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    catalog = json.loads(proc.stdout)
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] == "Accounts"
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = selected
    sandbox.reset_stats()
    proc = run_cli(cfg, tmp_path=tmp_path, catalog=catalog)
    assert proc.returncode == 0, proc.stderr
    assert sandbox.stats() == {"sync": 1}
    records = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert {m["stream"] for m in records if m["type"] == "RECORD"} == {"Accounts"}


def test_rest_against_a_self_hosted_server_says_what_to_change(sandbox_factory, tmp_path):
    server = sandbox_factory(flavor="self-hosted")
    proc = run_cli(config(server), "--discover", tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "api_style webservice" in proc.stderr and "Traceback" not in proc.stderr
