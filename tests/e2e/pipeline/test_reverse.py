"""Reverse ETL: `meltano run warehouse-to-vtiger` loads a warehouse table back into Vtiger.

The warehouse table reverse_etl.contacts_to_vtiger (tap-postgres, aliased to the stream
"Contacts") is upserted into Vtiger by target-vtiger, matching existing contacts by email.
"""

from __future__ import annotations

import pytest
from helpers import PIPELINE, VtigerREST, sandbox_env

pytestmark = PIPELINE

WAREHOUSE_ROWS = [
    # an existing contact, enriched in the warehouse
    ("ada@example.org", "Ada", "Lovelace", "Mathematician"),
    # new contacts, one with a quote in its name
    ("grace@example.org", "Grace", "Hopper", "Rear Admiral"),
    ("conan@example.org", "Conan", "O'Brien", "Host"),
]


@pytest.fixture
def warehouse(postgres):
    with postgres.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS reverse_etl CASCADE")
        conn.execute("CREATE SCHEMA reverse_etl")
        conn.execute(
            "CREATE TABLE reverse_etl.contacts_to_vtiger ("
            " email text PRIMARY KEY, firstname text, lastname text NOT NULL, title text)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO reverse_etl.contacts_to_vtiger VALUES (%s, %s, %s, %s)",
                WAREHOUSE_ROWS,
            )
    yield postgres
    with postgres.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS reverse_etl CASCADE")


def contacts_by_email(api: VtigerREST) -> dict[str, list[dict]]:
    by_email: dict[str, list[dict]] = {}
    for record in api.all_records("Contacts").values():
        by_email.setdefault(record["email"], []).append(record)
    return by_email


def test_reverse_job_upserts_the_warehouse_table_into_vtiger(sandbox, warehouse, meltano_factory):
    api = VtigerREST(sandbox)
    owner = api.get("me")["id"]
    api.create(
        "Contacts",
        {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.org",
         "title": "Countess", "assigned_user_id": owner},
    )  # fmt: skip
    meltano = meltano_factory("reverse", **sandbox_env(sandbox))
    meltano.env.update(warehouse.env())

    meltano("run", "warehouse-to-vtiger")

    contacts = contacts_by_email(api)
    assert sorted(contacts) == sorted(email for email, *_ in WAREHOUSE_ROWS)
    for email, firstname, lastname, title in WAREHOUSE_ROWS:
        [record] = contacts[email]  # matched by email: never a duplicate
        assert (record["firstname"], record["lastname"], record["title"]) == (
            firstname, lastname, title,
        )  # fmt: skip

    # Run again: nothing changed in the warehouse, so nothing is written.
    sandbox.reset_stats()
    meltano("run", "warehouse-to-vtiger")
    calls = sandbox.stats()
    assert calls.get("create", 0) == 0
    assert calls.get("revise", 0) + calls.get("update", 0) == 0
    assert len(api.all_records("Contacts")) == len(WAREHOUSE_ROWS)


def run_failing(meltano, *args: str, **kwargs) -> str:
    """Output of a meltano command that must exit non-zero."""
    with pytest.raises(AssertionError) as failed:
        meltano(*args, **kwargs)
    return str(failed.value)


def test_reverse_job_fails_when_the_warehouse_table_is_missing(sandbox, postgres,
                                                               meltano_factory):
    with postgres.connect() as conn:
        conn.execute("DROP SCHEMA IF EXISTS reverse_etl CASCADE")
    meltano = meltano_factory("reverse-missing", **sandbox_env(sandbox))
    meltano.env.update(postgres.env())

    output = run_failing(meltano, "run", "warehouse-to-vtiger")

    assert "exited 1" in output.splitlines()[0]
    stopped = [line for line in output.splitlines() if "target-vtiger stopped" in line]
    assert len(stopped) == 1 and "'Contacts' delivered no records" in stopped[0]
    assert "Traceback" not in output


def test_reverse_job_fails_on_an_empty_table_unless_allowed(sandbox, warehouse, meltano_factory):
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM reverse_etl.contacts_to_vtiger")
    meltano = meltano_factory("reverse-empty", **sandbox_env(sandbox))
    meltano.env.update(warehouse.env())

    output = run_failing(meltano, "run", "warehouse-to-vtiger")
    assert "'Contacts' delivered no records" in output

    meltano("run", "warehouse-to-vtiger", extra_env={"TARGET_VTIGER_REQUIRED_STREAMS": "[]"})
    assert VtigerREST(sandbox).all_records("Contacts") == {}
