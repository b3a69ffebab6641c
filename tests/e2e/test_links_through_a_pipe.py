"""tap-vtiger | target-vtiger as processes: the link, tag, webhook and API Designer settings
exist, a link stream flows through a real pipe (re-writing existing links is free), and a wrong
webhook token ends the target with exit code 1, the error named and the token nowhere in the
output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from singer_helpers import create, discover, select, vt

__all__ = ["vt"]

BIN = Path(sys.executable).parent
TAP, TARGET = str(BIN / "tap-vtiger"), str(BIN / "target-vtiger")


def about(exe: str) -> dict:
    out = subprocess.run([exe, "--about", "--format", "json"], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)["settings"]["properties"]


def test_about_documents_the_link_tag_webhook_and_api_designer_settings():
    tap = about(TAP)
    for name in ("include_relations", "relations", "include_tags", "include_metadata_streams",
                 "picklist_dependencies", "custom_queries", "api_designer_streams"):
        assert tap[name].get("description"), name
    target = about(TARGET)
    for name in ("relation_streams", "relations_check_existing", "tag_streams",
                 "convertlead_streams", "convertlead_results_path", "webhook_url",
                 "webhook_token", "webhook_token_placement", "webhook_batch_size",
                 "webhook_streams"):
        assert target[name].get("description"), name
    assert target["webhook_token"].get("secret") is True


@pytest.mark.slow
def test_links_flow_from_tap_to_target_through_a_pipe(sandbox, vt, tmp_path):
    acme = create(vt, "Accounts", accountname="Acme")["id"]
    person = create(vt, "Contacts", lastname="P")["id"]
    tap_cfg = {**sandbox.tap_config(), "relations": {"Accounts": ["Contacts"]}}
    (tmp_path / "tap.json").write_text(json.dumps(tap_cfg))
    catalog = select(discover(tap_cfg), {"Accounts_related"})
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    vt.add_related(acme, person, "Contacts")
    tap = subprocess.run([TAP, "--config", str(tmp_path / "tap.json"), "--catalog",
                          str(tmp_path / "catalog.json")], capture_output=True, text=True,
                         timeout=120, check=True)
    lines = [json.loads(x) for x in tap.stdout.splitlines() if x.strip()]
    assert [m["record"]["related_id"] for m in lines if m["type"] == "RECORD"] == [person]
    target_cfg = {**sandbox.tap_config(), "rejects_path": str(tmp_path / "r.jsonl")}
    (tmp_path / "target.json").write_text(json.dumps(target_cfg))
    sandbox.reset_stats()
    target = subprocess.run([TARGET, "--config", str(tmp_path / "target.json")],
                            input=tap.stdout, capture_output=True, text=True, timeout=120,
                            check=False)
    assert target.returncode == 0, target.stderr[-2000:]
    assert sandbox.stats().get("add_related", 0) == 0  # already linked: nothing written


@pytest.mark.slow
@pytest.mark.parametrize("placement", ["header", "query"])
def test_a_wrong_webhook_token_exits_1_naming_the_error_not_the_token(sandbox, tmp_path, placement):
    secret = "cli-wrong-token-9f8e7d"
    config = {**sandbox.tap_config(), "webhook_url": "contacts_upsert", "webhook_token": secret,
              "webhook_token_placement": placement, "webhook_batch_size": 50}
    (tmp_path / "target.json").write_text(json.dumps(config))
    text = "".join(json.dumps(m) + "\n" for m in [
        {"type": "SCHEMA", "stream": "Contacts", "key_properties": [],
         "schema": {"type": "object", "properties": {"lastname": {"type": ["string", "null"]}}}},
        {"type": "RECORD", "stream": "Contacts", "record": {"lastname": "X"}},
    ])
    proc = subprocess.run([TARGET, "--config", str(tmp_path / "target.json")], input=text,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "INVALID_AUTH_TOKEN" in proc.stderr
    assert secret not in proc.stderr + proc.stdout
