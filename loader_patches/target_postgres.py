"""MeltanoLabs target-postgres, with date-times landing as ``timestamptz`` and the target
schema safe to create from parallel loads.

Vtiger's date-times are instants (the tap emits them in UTC with an offset), but
target-postgres 0.8 creates ``timestamp without time zone`` columns, which drop the offset and
make every reader guess the zone. This entry point registers ``TIMESTAMP(timezone=True)`` for
the JSON Schema format ``date-time`` through the SDK's own type-mapping hook
(``JSONSchemaToSQL.register_format_handler``), then runs target-postgres unchanged. Existing
columns are left as they are (target-postgres compares types by their generic name), so tables
created by plain target-postgres keep loading.

It runs in target-postgres's plugin environment, not the project's (``meltano.yml`` installs
``meltanolabs-target-postgres`` with this project there), hence the imports inside ``main``.
"""

from __future__ import annotations

import functools
import typing as t

from loader_patches.soft_delete import postgres_soft_delete


def timestamptz_mapping(connector_class: t.Any) -> None:
    """Make ``connector_class`` (target-postgres's ``PostgresConnector``) map date-times to
    ``timestamp with time zone``; idempotent.
    """
    from sqlalchemy.dialects.postgresql import TIMESTAMP

    prop = connector_class.__dict__["jsonschema_to_sql"]
    if getattr(prop, "vtiger_timestamptz", False):
        return
    build = prop.func

    def jsonschema_to_sql(self: t.Any) -> t.Any:
        to_sql = build(self)
        to_sql.register_format_handler("date-time", lambda _schema: TIMESTAMP(timezone=True))
        return to_sql

    patched = functools.cached_property(jsonschema_to_sql)
    patched.vtiger_timestamptz = True  # type: ignore[attr-defined]
    patched.__set_name__(connector_class, "jsonschema_to_sql")
    connector_class.jsonschema_to_sql = patched


def concurrent_schema_creation(connector_class: t.Any) -> None:
    """Let several loads create the target schema at the same moment (one Airflow task per
    module, first run): the SDK's ``prepare_schema`` checks, then creates, so all but one of
    them would fail with a duplicate schema. A creation that fails while the schema now exists
    is taken as done; idempotent.
    """
    import sqlalchemy

    prepare = connector_class.prepare_schema
    if getattr(prepare, "vtiger_concurrent", False):
        return

    def prepare_schema(self: t.Any, schema_name: str) -> None:
        try:
            prepare(self, schema_name)
        except sqlalchemy.exc.DBAPIError:
            if not self.schema_exists(schema_name):
                raise

    prepare_schema.vtiger_concurrent = True  # type: ignore[attr-defined]
    connector_class.prepare_schema = prepare_schema


def main() -> None:
    """``target-postgres-vtiger``: target-postgres's CLI with the timestamptz mapping,
    concurrent schema creation and the ``soft_delete`` setting (loader_patches/soft_delete.py).
    """
    from target_postgres.connector import PostgresConnector
    from target_postgres.sinks import PostgresSink
    from target_postgres.target import TargetPostgres

    timestamptz_mapping(PostgresConnector)
    concurrent_schema_creation(PostgresConnector)
    postgres_soft_delete(PostgresSink)
    TargetPostgres.cli()
