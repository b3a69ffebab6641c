"""The admin access key that ``vtiger-sandbox serve`` generates when ``--access-key`` is unset.

cli.py: "generated (and kept in the db) if unset"; docs/sandbox.md: "generated once, kept in the
database (or pass --access-key)". So the printed key authenticates, a restart on the same
``--db`` prints and accepts the same key, and an explicit ``--access-key`` replaces it (and is
then the one kept).
"""

from __future__ import annotations

import requests
from serve_process import ServeProcess, console_script


def _serve(tmp_path, db, *extra: str) -> ServeProcess:
    return ServeProcess([*console_script(), "serve", "--port", "0", "--db", str(db),
                         "--flavor", "cloud", *extra], cwd=tmp_path)


def _status(server: ServeProcess, key: str) -> int:
    """HTTP status of a REST ``listtypes`` with admin Basic auth and ``key``."""
    resp = requests.get(f"{server.rest_url}/listtypes", auth=("admin", key), timeout=30)
    if resp.status_code == 200:
        assert resp.json()["success"] is True, resp.text[:300]
        assert "Contacts" in resp.json()["result"]["types"]
    return resp.status_code


def test_generated_key_authenticates_and_survives_restarts(tmp_path) -> None:
    db = tmp_path / "crm.sqlite"

    with _serve(tmp_path, db) as first:
        key = first.access_key
        assert first.banner["username"] == "admin"
        assert key and key != "None"
        assert _status(first, key) == 200
        assert _status(first, key + "x") == 401
        assert first.stop() == 0  # clean shutdown: the database is complete on its own

    with _serve(tmp_path, db) as second:
        assert second.access_key == key, "a restart on the same --db must keep the generated key"
        assert _status(second, key) == 200

    with _serve(tmp_path, db, "--access-key", "chosen-key") as third:
        assert third.access_key == "chosen-key"
        assert _status(third, "chosen-key") == 200
        assert _status(third, key) == 401

    with _serve(tmp_path, db) as fourth:
        assert fourth.access_key == "chosen-key"
        assert _status(fourth, "chosen-key") == 200


def test_generated_keys_differ_between_databases(tmp_path) -> None:
    with _serve(tmp_path, tmp_path / "a.sqlite") as a:
        key_a = a.access_key
    with _serve(tmp_path, tmp_path / "b.sqlite") as b:
        assert b.access_key != key_a
        assert _status(b, b.access_key) == 200
        assert _status(b, key_a) == 401
