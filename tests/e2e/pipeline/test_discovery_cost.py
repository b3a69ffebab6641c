"""What `meltano run` spends on discovery (issue 16): the second run spends nothing.

Meltano caches the catalog of an extractor installed as a package (not `pip_url: -e`), keyed
on the plugin's settings; tap-vtiger is defined that way in meltano.yml. A field added in
Vtiger after the catalog was cached still reaches the warehouse: the records carry it, the tap
describes the module once and sends a new SCHEMA.
"""

from __future__ import annotations

import duckdb
import yaml
from helpers import PIPELINE, ROOT, VtigerREST, sandbox_env, select_env

pytestmark = PIPELINE

DISCOVERY = {"listtypes", "describe"}


def test_meltano_yml_installs_the_tap_so_that_meltano_caches_its_catalog():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [tap] = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-vtiger"]
    assert not tap["pip_url"].startswith("-e")  # Meltano never caches an editable plugin


def test_second_meltano_run_spends_no_discovery_call(sandbox_factory, meltano_factory):
    sandbox = sandbox_factory(seed="demo")
    meltano = meltano_factory("discovery", **sandbox_env(sandbox), **select_env(["Contacts"]))
    sandbox.reset_stats()
    meltano("run", "vtiger-to-jsonl")
    first = sandbox.stats()
    assert first["listtypes"] == 1 and first["describe"] >= 1
    sandbox.reset_stats()
    meltano("run", "vtiger-to-jsonl")
    # nothing changed: one sync call for the one selected module, no discovery at all
    assert sandbox.stats() == {"sync": 1}


def test_a_field_added_after_discovery_reaches_duckdb(sandbox_factory, meltano_factory):
    sandbox = sandbox_factory(seed="demo")
    meltano = meltano_factory("drift", **sandbox_env(sandbox), **select_env(["Contacts"]))
    meltano("run", "vtiger-to-duckdb")
    api = VtigerREST(sandbox)
    sandbox.add_field("Contacts", "cf_loyalty", "Loyalty tier")
    rid = next(iter(api.all_records("Contacts")))
    api.revise({"id": rid, "cf_loyalty": "gold"})
    sandbox.reset_stats()
    meltano("run", "vtiger-to-duckdb")
    stats = sandbox.stats()
    assert stats.get("describe") == 1 and "listtypes" not in stats  # one module described
    con = duckdb.connect(str(meltano.workdir / "warehouse.duckdb"), read_only=True)
    try:
        tables = {name for (name,) in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where lower(table_name) = 'contacts'").fetchall()}
        [table] = tables
        rows = con.execute(f"select cf_loyalty from {table} where id = ?", [rid]).fetchall()
    finally:
        con.close()
    assert rows == [("gold",)]
