"""Soft delete for the warehouse loaders: a deleted Vtiger record keeps its last values.

tap-vtiger emits a record deleted in Vtiger as ``{id, _sdc_deleted_at}`` only (Vtiger's
``sync`` names just the id). Upserted as is, both loaders overwrite every other column of the
row with NULL: target-postgres 0.8 sets every column from the incoming batch, target-duckdb 0.8
runs ``UPDATE ... SET col = t.col`` for every column. With the loader setting ``soft_delete``
true, a deleted record that already has a row updates only that row's ``_sdc_*`` columns
(``_sdc_deleted_at`` set, the values it had before stay); a deleted record never loaded before
gets a row of its id and ``_sdc_*`` columns, as without the setting. ``hard_delete`` (removing
the rows) is unaffected and wins when both are set.

Each patch runs inside the loader's own plugin environment (meltano.yml installs this project
there), so the loader modules are imported by the entry points, not here.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from pathlib import Path

#: The loader setting that turns soft delete on (default off: the loaders' own behaviour).
SETTING = "soft_delete"


def is_metadata_column(name: str) -> bool:
    """Singer metadata columns (``_sdc_deleted_at``, ``_sdc_extracted_at``, ...)."""
    return name.strip('"').lower().startswith("_sdc_")


def postgres_soft_delete(sink_class: t.Any) -> None:
    """Make target-postgres's ``PostgresSink.upsert`` keep deleted rows' values; idempotent.

    Before the loader's own merge, the batch rows flagged deleted whose key already has a row
    update that row's ``_sdc_*`` columns and leave the batch; the merge then handles the rest.
    """
    upsert = sink_class.upsert
    if getattr(upsert, "vtiger_soft_delete", False):
        return
    import sqlalchemy

    def soft_delete_upsert(
        self: t.Any, from_table: t.Any, to_table: t.Any, schema: dict, join_keys: t.Sequence[str],
        connection: t.Any,
    ) -> t.Any:
        if (self.config.get(SETTING) and not self.append_only and join_keys
                and "_sdc_deleted_at" in from_table.columns):  # fmt: skip
            joined = sqlalchemy.and_(
                *(from_table.columns[k] == to_table.columns[k] for k in join_keys)
            )
            flagged = from_table.columns["_sdc_deleted_at"].isnot(None)
            metadata = {
                to_table.columns[c.name]: c
                for c in from_table.columns
                if is_metadata_column(c.name) and c.name in to_table.columns
            }
            connection.execute(
                sqlalchemy.update(to_table).where(joined, flagged).values(metadata)
            )
            existing = sqlalchemy.exists().where(
                *(to_table.columns[k] == from_table.columns[k] for k in join_keys)
            )
            connection.execute(sqlalchemy.delete(from_table).where(flagged, existing))
        return upsert(self, from_table, to_table, schema, join_keys, connection)

    soft_delete_upsert.vtiger_soft_delete = True  # type: ignore[attr-defined]
    sink_class.upsert = soft_delete_upsert


def duckdb_soft_delete(db_sync_class: t.Any) -> None:
    """Make target-duckdb's ``DbSync`` keep deleted rows' values; idempotent.

    Its batch update is ``UPDATE <table> AS s SET col = t.col, ... FROM <temp> t WHERE <key>``;
    with soft delete on, a value column takes the batch's value only when the batch row is not
    flagged deleted: ``col = CASE WHEN t._sdc_deleted_at IS NULL THEN t.col ELSE s.col END``.
    """
    update = db_sync_class.update_from_temp_table
    if getattr(update, "vtiger_soft_delete", False):
        return

    def update_from_temp_table(self: t.Any, temp_table: str) -> str | None:
        names = self.column_names()
        if not self.connection_config.get(SETTING) or '"_sdc_deleted_at"' not in names:
            return update(self, temp_table)
        keys = set(self.stream_schema_message["key_properties"])
        columns = [c for c in names if c.strip('"') not in {k.lower() for k in keys}]
        if not columns:
            return None
        assignments = ", ".join(
            f"{c}=t.{c}" if is_metadata_column(c)
            else f'{c}=CASE WHEN t."_sdc_deleted_at" IS NULL THEN t.{c} ELSE s.{c} END'
            for c in columns
        )
        table = self.table_name(self.stream_schema_message["stream"])
        # identifiers only, quoted by target-duckdb itself, as in the statement this replaces
        sql = f"UPDATE {table} as s SET {assignments} FROM {temp_table} t "  # noqa: S608
        return sql + f"WHERE {self.primary_key_condition('t')}"

    update_from_temp_table.vtiger_soft_delete = True  # type: ignore[attr-defined]
    db_sync_class.update_from_temp_table = update_from_temp_table


def create_database_directory(argv: list[str]) -> None:
    """Create the directory of the DuckDB file named by ``--config``'s ``path``/``filepath``.

    target-duckdb 0.8 opens the file with ``duckdb.connect``, which fails on a fresh clone where
    ``output/`` does not exist yet ("Cannot open file ... No such file or directory").
    MotherDuck (``md:``) and in-memory databases have no directory.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-c", "--config")
    known, _ = parser.parse_known_args(argv)
    if not known.config:
        return
    try:
        config = json.loads(Path(known.config).read_text())
    except (OSError, ValueError):
        return  # target-duckdb reports an unreadable config itself
    path = str(config.get("path") or config.get("filepath") or "")
    if path and not path.startswith(("md:", "motherduck:", ":memory:")):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def duckdb_main() -> None:
    """``target-duckdb-vtiger``: target-duckdb's CLI with the ``soft_delete`` setting, which
    also creates the DuckDB file's directory.
    """
    import target_duckdb
    from target_duckdb.db_sync import DbSync

    create_database_directory(sys.argv[1:])
    duckdb_soft_delete(DbSync)
    target_duckdb.main()
