"""Self-hosted Vtiger 8.2 with several owners -> `meltano run tap-vtiger target-duckdb`.

On both self-hosted builds (sync-capable, stock on PHP 8) the admin, another user and a group
own records; between two runs each user creates, revises and deletes records (the group's
through the admin). The tap runs with nothing but the connection and `api_style: webservice`
(plus `deletion_check_hours: 0`, so the id-set check runs on the second run instead of a day
later). Afterwards the warehouse holds exactly the live records with their last values, plus
the deleted ones flagged in `_sdc_deleted_at`.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from helpers import PIPELINE, sandbox_env

from vtiger_sandbox.testing import SandboxServer

pytestmark = PIPELINE

MODULES = ["Contacts", "Accounts"]


def client_for(server: SandboxServer, username: str | None = None, key: str | None = None):
    from vtiger_client.config import ClientConfig
    from vtiger_client.session import VtigerClient

    conf = {**server.tap_config(), "api_style": "webservice"}
    if username:
        conf.update(username=username, access_key=key)
    return VtigerClient(ClientConfig.from_mapping(conf))


def warehouse(path) -> dict[str, dict[str, dict]]:
    """Rows per module, by id, wherever the loader put the module's table."""
    with duckdb.connect(str(path), read_only=True) as conn:
        out = {}
        for module in MODULES:
            schema, table = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE lower(table_name) = ?", [module.lower()]).fetchone()
            cur = conn.execute(f'SELECT * FROM "{schema}"."{table}"')
            names = [c[0] for c in cur.description]
            out[module] = {row[names.index("id")]: dict(zip(names, row, strict=True))
                           for row in cur.fetchall()}
        return out


def truth(admin) -> dict[str, dict[str, dict]]:
    return {m: {r["id"]: r for r in admin.query_all(m, ["id", "modifiedtime", name_field(m)])}
            for m in MODULES}


def name_field(module: str) -> str:
    return {"Contacts": "lastname", "Accounts": "accountname"}[module]


def element(module: str, name: str, owner: str) -> dict:
    return {name_field(module): name, "assigned_user_id": owner}


@pytest.mark.parametrize("flavor", ["self-hosted-sync", "self-hosted-stock"])
def test_every_owner_s_changes_and_deletions_reach_duckdb(meltano_factory, tmp_path, flavor):
    with SandboxServer(tmp_path / "crm.sqlite", flavor=flavor) as server:
        admin = client_for(server)
        bob_user = server.add_user("bob", "Bob", "Builder")
        bob = client_for(server, "bob", bob_user["access_key"])
        owners = {"admin": (admin, "19x1"), "bob": (bob, bob_user["id"]),
                  "group": (admin, "20x2")}
        made: dict[str, dict[str, list[str]]] = {m: {} for m in MODULES}
        for module in MODULES:
            for who, (client, owner) in owners.items():
                made[module][who] = [client.create(module, element(module, f"{who} {i}", owner))
                                     ["id"] for i in range(4)]
        env = {**sandbox_env(server), "TAP_VTIGER_API_STYLE": "webservice",
               "TAP_VTIGER_DELETION_CHECK_HOURS": "0",
               "TAP_VTIGER__SELECT_FILTER": json.dumps(MODULES),
               "TAP_VTIGER_MODULES": json.dumps(MODULES)}
        meltano = meltano_factory(f"selfhosted-{flavor}", **env)
        meltano("run", "tap-vtiger", "target-duckdb")
        first = warehouse(meltano.environ()["TARGET_DUCKDB_FILEPATH"])
        assert {m: set(rows) for m, rows in first.items()} == {
            m: set(rows) for m, rows in truth(admin).items()}

        deleted: dict[str, set[str]] = {m: set() for m in MODULES}
        revised: dict[str, dict[str, str]] = {m: {} for m in MODULES}
        for module in MODULES:
            for who, (client, owner) in owners.items():
                ids = made[module][who]
                client.create(module, element(module, f"{who} new", owner))
                client.revise({"id": ids[0], name_field(module): f"{who} revised"})
                revised[module][ids[0]] = f"{who} revised"
                client.delete(ids[1])
                deleted[module].add(ids[1])
        # a record handed to another owner must stay live, not look deleted
        admin.revise({"id": made["Contacts"]["admin"][2], "assigned_user_id": bob_user["id"]})

        meltano("run", "tap-vtiger", "target-duckdb")
        rows = warehouse(meltano.environ()["TARGET_DUCKDB_FILEPATH"])
        now = truth(admin)
        for module in MODULES:
            live = {rid for rid, r in rows[module].items() if r.get("_sdc_deleted_at") is None}
            flagged = {rid for rid, r in rows[module].items() if r.get("_sdc_deleted_at")}
            assert live == set(now[module]), module
            assert flagged == deleted[module], module
            for rid, name in revised[module].items():
                assert rows[module][rid][name_field(module)] == name
            for rid, rec in now[module].items():
                assert rows[module][rid][name_field(module)] == rec[name_field(module)]
