"""Test control (``/_sandbox/*``): records in bulk, times set by hand, custom fields, reset."""

# SQL is built only from identifiers out of the module describes (Module.table); every value
# goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

import copy
import re
from typing import Any

from ..errors import VtigerApiError, access_denied
from ..store import epoch_to_text, now_epoch, text_to_epoch
from .core import Core
from .settings import DEFAULT_SETTINGS
from .users import SessionsBackend
from .values import (
    autonumber,
    autonumber_field,
    default_value,
    filler,
    normalize,
    writable,
)


class AdminBackend:
    """What tests and benchmarks do to a sandbox that no API client can."""

    def __init__(self, core: Core, sessions: SessionsBackend) -> None:
        self.core = core
        self.sessions = sessions

    def touch(self, ids: list, modifiedtime: str) -> int:
        """Set modifiedtime of records directly (to build ties for sync tests)."""
        epoch = text_to_epoch(modifiedtime)
        n = 0
        store = self.core.store
        with store.transaction():
            for rid in ids:
                m, crmid = self.core.parse_id(rid)
                mt = store.tables[m.name]
                if "modifiedtime" in mt.data_columns:
                    cur = store.conn.execute(
                        f"UPDATE {m.table} SET _mtime = ?, modifiedtime = ? WHERE crmid = ?",
                        (epoch, epoch_to_text(epoch), crmid),
                    )
                else:
                    cur = store.conn.execute(
                        f"UPDATE {m.table} SET _mtime = ? WHERE crmid = ?", (epoch, crmid)
                    )
                n += cur.rowcount
        return n

    def bulk_create(self, module: str, count: int, modifiedtime: str | None = None,
                    fields: dict | None = None,
                    assigned_user_id: str | None = None) -> list[str]:
        """Create many records in one transaction (valid by construction)."""
        core = self.core
        m = core.module(module)
        if not m.is_entity or m.name == "Users":
            raise access_denied()
        count = int(count)
        if count < 0 or count > 1_000_000:
            raise VtigerApiError("INVALID_COUNT", "count must be 0..1000000", 400)
        epoch = text_to_epoch(modifiedtime) if modifiedtime else now_epoch()
        ts = epoch_to_text(epoch)
        owner = assigned_user_id or "19x1"
        base: dict[str, Any] = {}
        for f in m.describe["fields"]:
            base[f["name"]] = default_value(f)
        for k, v in (fields or {}).items():
            if k in m.fields:
                base[k] = normalize(core.settings, m, k, v, None)
        for n in ("createdtime", "modifiedtime"):
            if n in m.fields:
                base[n] = ts
        if "assigned_user_id" in m.fields:
            base["assigned_user_id"] = owner
        if "modifiedby" in m.fields:
            base["modifiedby"] = "19x1"
        if "source" in m.fields:
            base["source"] = "WEBSERVICE"
        auto = autonumber_field(m)
        mandatory = [
            f["name"] for f in m.describe["fields"]
            if f.get("mandatory") and writable(m, f["name"])
            and f["type"]["name"] not in ("reference", "owner")
        ]
        with core.store.transaction():
            first_no = core.store.reserve_seq(f"autonum:{m.name}", count) if auto else 0
            rows = []
            for i in range(count):
                row = dict(base)
                for n in mandatory:
                    if not row.get(n):
                        row[n] = filler(m.fields[n], i)
                if auto:
                    row[auto] = autonumber(m, first_no + i)
                row["_mtime"] = epoch
                rows.append(row)
            return core.store.insert_rows(m, rows)

    def reset(self) -> dict:
        """Forget every record, tag, relation, extra user and session; default settings.

        Custom fields stay (their columns exist); the admin, groups and currency are kept.
        """
        core = self.core
        st = core.store
        keep_flavor = core.settings.get("flavor", "cloud")
        with st.transaction() as c:
            for m in core.modules.values():
                if m.name in ("Groups", "Currency"):
                    continue
                if m.name == "Users":
                    c.execute(f"DELETE FROM {m.table} WHERE crmid != 1")
                else:
                    c.execute(f"DELETE FROM {m.table}")
            for table in ("crmentity", "tags", "relations", "converted_leads", "seq"):
                c.execute(f"DELETE FROM {table}")
            c.execute("DELETE FROM access_keys WHERE user_crmid != 1")
            c.execute("DELETE FROM sqlite_sequence WHERE name = 'crmentity'")
            c.execute("DELETE FROM settings WHERE key = 'seeded'")
        self.sessions.clear()
        core.settings.clear()
        core.settings.update(copy.deepcopy(DEFAULT_SETTINGS))
        core.settings["flavor"] = keep_flavor
        st.set_setting("config", core.settings)
        st.stats.clear()
        return {"reset": True}

    def add_field(self, module: str, name: str, label: str, type_: dict | None = None,
                  mandatory: bool = False) -> dict:
        """Add a custom field (``cf_*``) to a module."""
        m = self.core.module(module)
        if not re.fullmatch(r"cf_[A-Za-z0-9_]{1,60}", name or ""):
            raise VtigerApiError("INVALID_FIELD", "custom field names look like cf_xxx", 400)
        if name in m.fields:
            return m.fields[name]
        describe = {
            "name": name, "label": label or name, "mandatory": bool(mandatory),
            "type": type_ or {"name": "string"}, "isunique": False, "nullable": True,
            "editable": True, "default": "",
        }
        self.core.store.add_custom_field(m, describe)
        return describe
