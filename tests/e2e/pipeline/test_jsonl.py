"""`meltano run vtiger-to-jsonl`: one JSON Lines file per module, every record in it."""

from __future__ import annotations

import json

from helpers import PIPELINE, VtigerREST, sandbox_env, select_env

pytestmark = PIPELINE


def test_jsonl_loader_writes_every_record_of_the_module(sandbox_factory, meltano_factory):
    sandbox = sandbox_factory(seed="demo")
    meltano = meltano_factory("jsonl", **sandbox_env(sandbox), **select_env(["Leads"]))

    meltano("run", "vtiger-to-jsonl")

    [path] = (meltano.workdir / "jsonl").glob("Leads*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    live = {rec["id"] for rec in lines if not rec.get("_sdc_deleted_at")}
    assert live == set(VtigerREST(sandbox).all_records("Leads"))
