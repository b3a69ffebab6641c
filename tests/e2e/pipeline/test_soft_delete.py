"""What a warehouse row of a record deleted in Vtiger keeps, on both warehouses.

The tap emits a deletion as {id, _sdc_deleted_at} only. With `soft_delete: true` (the project's
setting for target-duckdb and target-postgres) the row keeps its last values and gets
_sdc_deleted_at; with false, the loaders' own behaviour: every column but the id and the _sdc_*
columns becomes NULL.
"""

from __future__ import annotations

import duckdb
import pytest
from helpers import PIPELINE, VtigerREST, sandbox_env, select_env

pytestmark = PIPELINE


def contact_rows_duckdb(meltano) -> dict[str, tuple]:
    with duckdb.connect(str(meltano.workdir / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT id, lastname, email, _sdc_deleted_at FROM vtiger.contacts")
        return {row[0]: row[1:] for row in rows.fetchall()}


def contact_rows_postgres(postgres, schema: str) -> dict[str, tuple]:
    with postgres.connect() as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND lower(table_name) = 'contacts'", (schema,))]  # fmt: skip
        rows = conn.execute(
            f'SELECT id, lastname, email, _sdc_deleted_at FROM "{schema}"."{tables[0]}"'
        )
        return {row[0]: row[1:] for row in rows.fetchall()}


@pytest.mark.parametrize("soft_delete", [True, False], ids=["soft_delete", "loader_default"])
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_deleted_record_keeps_its_row(warehouse, soft_delete, sandbox, postgres,
                                        meltano_factory, request):
    api = VtigerREST(sandbox)
    owner = api.get("me")["id"]
    kept = api.create("Contacts", {"lastname": "Kept", "email": "kept@example.org",
                                   "assigned_user_id": owner})  # fmt: skip
    gone = api.create("Contacts", {"lastname": "Gone", "email": "gone@example.org",
                                   "assigned_user_id": owner})  # fmt: skip
    schema = f"soft_{request.node.callspec.id.replace('-', '_')}".lower()
    meltano = meltano_factory("soft-delete", **sandbox_env(sandbox), **select_env(["Contacts"]),
                              **postgres.env())  # fmt: skip
    loader = f"target-{warehouse}"
    flag = "true" if soft_delete else "false"
    meltano.env.update({
        f"TARGET_{warehouse.upper()}_SOFT_DELETE": flag,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
    })  # fmt: skip

    def rows() -> dict[str, tuple]:
        if warehouse == "duckdb":
            return contact_rows_duckdb(meltano)
        return contact_rows_postgres(postgres, schema)

    meltano("run", "tap-vtiger", loader)
    api.delete(gone["id"])
    meltano("run", "tap-vtiger", loader)

    after = rows()
    assert after[kept["id"]][:2] == ("Kept", "kept@example.org")
    assert after[kept["id"]][2] is None
    lastname, email, deleted_at = after[gone["id"]]
    assert deleted_at is not None
    if soft_delete:
        assert (lastname, email) == ("Gone", "gone@example.org")
    else:
        assert (lastname, email) == (None, None)
