"""The Singer SDK's standard tap tests (``get_tap_test_class``) against the demo sandbox.

The SDK builds its test class at import time and parametrizes the stream tests with the tap's
streams, so the class is built from a catalog made offline from ``schemas/`` (no server needed
at collection). The ``runner`` fixture then points the runner at the running demo sandbox with a
catalog *discovered from it*, so discovery, the connection test and every stream/attribute test
run against the server over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from singer_sdk.testing import get_tap_test_class
from singer_sdk.testing.runners import TapTestRunner
from tap_helpers import QUIET

from tap_vtiger.schema import module_schema
from tap_vtiger.streams.modules import NON_SYNC_MODULES
from tap_vtiger.tap import TapVtiger

MODULES = ["Contacts", "Accounts", "Potentials", "Users", "Groups", "Currency"]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def offline_catalog() -> dict:
    streams = []
    for module in MODULES:
        describe = json.loads((SCHEMAS / f"{module}.json").read_text())
        incremental = describe.get("isEntity") and module not in NON_SYNC_MODULES
        schema = module_schema(describe, deletions=bool(incremental))
        schema["x-vtiger-module"] = module
        streams.append({
            "tap_stream_id": module, "stream": module, "schema": schema,
            "key_properties": ["id"],
            "replication_key": "modifiedtime" if incremental else None,
            "replication_method": "INCREMENTAL" if incremental else "FULL_TABLE",
            "metadata": [{"breadcrumb": [], "metadata": {"selected": True,
                                                         "table-key-properties": ["id"]}}],
        })
    return {"streams": streams}


OFFLINE = {"api_url": "http://127.0.0.1:9", "username": "admin", "access_key": "offline",
           "modules": MODULES, **QUIET}

_Standard = get_tap_test_class(TapVtiger, config=OFFLINE, catalog=offline_catalog(),
                               parse_env_config=False)


class TestTapVtigerStandard(_Standard):
    """SDK standard tests; records come from the demo sandbox."""

    @pytest.fixture(scope="class")
    def runner(self, demo_sandbox) -> TapTestRunner:
        cfg = {**demo_sandbox.tap_config(), "modules": MODULES, **QUIET}
        catalog = TapVtiger(config=cfg, parse_env_config=False).catalog_dict
        runner = TapTestRunner(TapVtiger, config=cfg, catalog=catalog, parse_env_config=False)
        runner.sync_all()
        return runner
