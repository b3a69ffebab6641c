"""Relations between records: related modules, linked records, the account hierarchy."""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

from ..errors import VtigerApiError, access_denied
from ..modules import Module
from ..store import qi
from ..vtql import compile_query_related
from .core import Core, User
from .wire import htmlentities, rows_to_records

#: relatedtypes of the two modules recorded from a real server: (label, module) in order.
RELATED_TYPES: dict[str, list[tuple[str, str]]] = {
    "Accounts": [
        ("Contacts", "Contacts"), ("Potentials", "Potentials"), ("Quotes", "Quotes"),
        ("Sales Order", "SalesOrder"), ("Invoice", "Invoice"), ("Activities", "Calendar"),
        ("Emails", "Emails"), ("Activity History", "Calendar"), ("Documents", "Documents"),
        ("HelpDesk", "HelpDesk"), ("Products", "Products"), ("Campaigns", "Campaigns"),
        ("PBXManager", "PBXManager"), ("Service Contracts", "ServiceContracts"),
        ("Services", "Services"), ("Projects", "Project"), ("ModComments", "ModComments"),
        ("Assets", "Assets"),
    ],
    "Contacts": [
        ("Potentials", "Potentials"), ("Activities", "Calendar"), ("Emails", "Emails"),
        ("HelpDesk", "HelpDesk"), ("Quotes", "Quotes"), ("Purchase Order", "PurchaseOrder"),
        ("Sales Order", "SalesOrder"), ("Products", "Products"),
        ("Activity History", "Calendar"), ("Documents", "Documents"),
        ("Campaigns", "Campaigns"), ("Invoice", "Invoice"), ("PBXManager", "PBXManager"),
        ("Service Contracts", "ServiceContracts"), ("Services", "Services"),
        ("Projects", "Project"), ("ModComments", "ModComments"), ("Assets", "Assets"),
        ("Vendors", "Vendors"),
    ],
}


class RelationsBackend:
    """``relatedtypes``, ``retrieve_related``, ``query_related``, ``add/delete_related``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def related_pairs(self, m: Module) -> list[tuple[str, str]]:
        """(label, module) pairs a module relates to: recorded ones, else derived."""
        modules = self.core.modules
        if m.name in RELATED_TYPES:
            return [p for p in RELATED_TYPES[m.name] if p[1] in modules]
        pairs = []
        for other in modules.values():
            if not other.is_entity or other.name in ("Users", m.name):
                continue
            if any(m.name in (f["type"].get("refersTo") or []) for f in other.describe["fields"]
                   if f["type"]["name"] == "reference" and f["name"] != "modifiedby"):
                pairs.append((other.name, other.name))
        # N:N the other way round (Contacts list Potentials, so Potentials list Contacts),
        # and modules this one points at.
        for other_name, lst in RELATED_TYPES.items():
            if any(mod == m.name for _l, mod in lst) and (other_name, other_name) not in pairs:
                pairs.append((other_name, other_name))
        for f in m.describe["fields"]:
            if f["type"]["name"] != "reference" or f["name"] == "modifiedby":
                continue
            for ref in f["type"].get("refersTo") or []:
                target = modules.get(ref)
                if (target is not None and target.is_entity and ref not in ("Users", m.name)
                        and (ref, ref) not in pairs):
                    pairs.append((ref, ref))
        for extra in ("Documents", "ModComments"):
            if extra in modules and (extra, extra) not in pairs and extra != m.name:
                pairs.append((extra, extra))
        return pairs

    def relatedtypes(self, user: User, module: object) -> dict:
        """Modules related to ``module``, keyed by relation label."""
        pairs = self.related_pairs(self.core.module(module))
        return {
            "types": [mod for _label, mod in pairs],
            "information": {label: {"name": mod, "label": label, "isEntity": "1"}
                            for label, mod in pairs},
        }

    def _relation_target(self, m: Module, label: object, related_type: object = None) -> Module:
        for lab, mod in self.related_pairs(m):
            if label in (lab, mod) and (not related_type or related_type == mod):
                return self.core.modules[mod]
        raise VtigerApiError("UNKOWN_ENTITY", "Relation specified is incorrect", 400)

    def _related_crmids(self, src: Module, crmid: int, target: Module, rid: str) -> list[int]:
        """Related records: reference fields pointing at the source plus add_related links."""
        st = self.core.store
        ids: set[int] = set()
        for f in target.describe["fields"]:
            if (f["type"]["name"] == "reference" and f["name"] != "modifiedby"
                    and src.name in (f["type"].get("refersTo") or [])):
                ids.update(r[0] for r in st.conn.execute(
                    f"SELECT crmid FROM {target.table} WHERE {qi(f['name'])} = ? AND deleted = 0",
                    (rid,)))
        for (other,) in st.conn.execute(
            "SELECT dst FROM relations WHERE src = ? UNION SELECT src FROM relations WHERE dst = ?",
            (crmid, crmid),
        ):
            if st.setype(other) == target.name:
                ids.add(other)
        return sorted(ids)

    def retrieve_related(self, user: User, record_id: object, related_label: object,
                         related_type: object = None) -> list[dict]:
        """Full records related to ``record_id`` under ``related_label`` (of ``related_type``)."""
        core = self.core
        m, crmid, rec = core.load_live(record_id)
        target = self._relation_target(m, related_label, related_type)
        mt = core.store.tables[target.name]
        with core.store.lock:
            ids = self._related_crmids(m, crmid, target, rec["id"])
            rows = []
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                rows += core.store.conn.execute(
                    f"{mt.select_sql} WHERE deleted = 0 AND crmid IN "
                    f"({', '.join('?' * len(chunk))}) ORDER BY crmid", chunk).fetchall()
        return rows_to_records(mt.fields, rows)

    def query_related(self, user: User, text: object, record_id: object,
                      related_label: object) -> list[dict]:
        """VTQL restricted to related records; Vtiger wants no ``;`` and an upper-case WHERE."""
        if not isinstance(text, str) or not text.strip():
            raise access_denied("Permission to perform the operation is denied for query")
        core = self.core
        cap = int(core.settings.get("query_row_cap", 100))
        compiled = compile_query_related(text.strip(), core.modules, row_cap=cap)
        m, crmid, rec = core.load_live(record_id)
        target = self._relation_target(m, related_label)
        if compiled.module.name != target.name:
            raise VtigerApiError("UNKOWN_ENTITY", "Relation specified is incorrect", 400)
        st = core.store
        with st.lock:
            ids = self._related_crmids(m, crmid, target, rec["id"])
            # A TEMP table of the same name shadows the module table for this one query, so
            # the compiled SQL (limits and all) runs over the related records only.
            name = target.table
            st.conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            st.conn.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM main.{name} WHERE 0")
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                st.conn.execute(
                    f"INSERT INTO temp.{name} SELECT * FROM main.{name} "
                    f"WHERE crmid IN ({', '.join('?' * len(chunk))})", chunk)
            try:
                cur = st.conn.execute(compiled.sql, compiled.params)
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
            finally:
                st.conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        if compiled.is_count:
            return [{"count": str(rows[0][0])}] if rows else []
        return rows_to_records(names, rows)

    def add_related(self, user: User, source_id: object, related_id: object,
                    label: object = None) -> dict:
        """Link two records (``{"message": "successfull"}``, sic)."""
        core = self.core
        m, src, _ = core.load_live(source_id)
        m2, dst, _ = core.load_live(related_id)
        label = label or m2.name
        self._relation_target(m, label, m2.name)
        with core.store.transaction():
            core.store.conn.execute(
                "INSERT OR IGNORE INTO relations (src, dst, label) VALUES (?, ?, ?)",
                (src, dst, str(label)))
        return {"message": "successfull"}

    def delete_related(self, user: User, source_id: object, related_id: object) -> dict:
        """Unlink two records (explicit links; reference fields are left alone)."""
        core = self.core
        _m, src, _ = core.load_live(source_id)
        _m2, dst, _ = core.load_live(related_id)
        with core.store.transaction():
            core.store.conn.execute(
                "DELETE FROM relations WHERE (src = ? AND dst = ?) OR (src = ? AND dst = ?)",
                (src, dst, dst, src))
        return {"status": "successful"}

    def get_account_hierarchy(self, user: User, record_id: object) -> list[dict]:
        """The parent chain and children of an account (``Accounts.account_id``)."""
        m, _crmid, rec = self.core.load_live(record_id)
        if m.name != "Accounts":
            raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
        c = self.core.store.conn
        t = m.table
        with self.core.store.lock:
            root = rec
            seen = {rec["id"]}
            ancestors = set()
            while root.get("account_id") and root["account_id"] not in seen:
                row = c.execute(f"SELECT id, accountname, account_id FROM {t} "
                                "WHERE id = ? AND deleted = 0", (root["account_id"],)).fetchone()
                if row is None:
                    break
                seen.add(row[0])
                ancestors.add(row[0])
                root = {"id": row[0], "accountname": row[1], "account_id": row[2]}
            out: list[dict] = []
            stack: list[tuple[str, str, int]] = [(root["id"], root["accountname"], 0)]
            visited: set[str] = set()
            while stack:
                rid, name, level = stack.pop()
                if rid in visited:
                    continue
                visited.add(rid)
                out.append({"id": rid, "name": htmlentities(name),
                            "label": "Parent Org" if rid in ancestors else "Org",
                            "level": level, "current": rid == rec["id"]})
                children = c.execute(
                    f"SELECT id, accountname FROM {t} WHERE account_id = ? AND deleted = 0 "
                    "ORDER BY crmid DESC", (rid,)).fetchall()
                stack.extend((cid, cname, level + 1) for cid, cname in children)
        return out
