"""Picklist values (Cloud's add/edit/delete_picklist) and picklist dependencies."""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

import copy
from typing import Any

from ..errors import VtigerApiError, access_denied
from ..modules import Module
from ..store import now_epoch, qi
from .core import Core, User


def _values_of(f: dict) -> list[str]:
    return [str(p["value"]) for p in f["type"].get("picklistValues") or []]


class PicklistsBackend:
    """Picklist edits survive restarts: they are kept in the store and applied on start."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.restore()

    def restore(self) -> None:
        """Apply the picklist values edited through the API (they survive restarts)."""
        saved = self.core.store.get_setting("picklists")
        for module, fields in (saved if isinstance(saved, dict) else {}).items():
            m = self.core.modules.get(module)
            for name, values in fields.items():
                if m is not None and name in m.fields:
                    m.fields[name]["type"]["picklistValues"] = [
                        {"label": v, "value": v} for v in values]

    def _field(self, user: User, module: object, element: dict[str, Any]
               ) -> tuple[Module, dict]:
        """(module, field describe) of a picklist edit; admins only."""
        if user.record.get("is_admin") != "on":
            raise access_denied("Permission to perform the operation is denied")
        m = self.core.module(module)
        name = element.get("fieldname")
        f = m.fields.get(name) if isinstance(name, str) else None
        if f is None or f["type"]["name"] not in ("picklist", "multipicklist"):
            raise VtigerApiError("INVALID_PARAMETER",
                                 f"{name} is not a picklist field of {m.name}", 400)
        return m, f

    def _save(self, m: Module, f: dict, values: list[str]) -> None:
        f["type"]["picklistValues"] = [{"label": v, "value": v} for v in values]
        store = self.core.store
        saved = store.get_setting("picklists")
        saved = saved if isinstance(saved, dict) else {}
        saved.setdefault(m.name, {})[f["name"]] = values
        store.set_setting("picklists", saved)

    def _replace_values(self, m: Module, name: str, old: set[str], new: str) -> None:
        """Inside a transaction: records holding one of ``old`` in ``name`` get ``new``."""
        store = self.core.store
        ids = [r[0] for r in store.conn.execute(
            f"SELECT crmid FROM {m.table} WHERE {qi(name)} IN ({', '.join('?' * len(old))})",
            sorted(old))]
        for crmid in ids:
            store.update_values(m, crmid, {name: new}, now_epoch())

    def add_picklist(self, user: User, module: object, element: dict[str, Any]) -> dict:
        """Add values to a picklist; answers the new values' ids (``id0``, ``id1``...)."""
        self.core.cloud_only("add_picklist")
        m, f = self._field(user, module, element)
        new = element.get("values")
        if isinstance(new, str):
            new = [new]
        if not isinstance(new, list) or not new or not all(
                isinstance(v, str) and v.strip() for v in new):
            raise VtigerApiError("INVALID_PARAMETER", "values must be a list of values", 400)
        values = _values_of(f)
        ids: dict[str, int] = {}
        for i, v in enumerate(new):
            if v not in values:
                values.append(v)
            ids[f"id{i}"] = values.index(v) + 1
        self._save(m, f, values)
        return {"success": True, "result": ids}

    def edit_picklist(self, user: User, module: object, element: dict[str, Any]) -> dict:
        """Rename a picklist value; records holding it are renamed with it."""
        self.core.cloud_only("edit_picklist")
        m, f = self._field(user, module, element)
        old, new = element.get("current_value"), element.get("new_value")
        values = _values_of(f)
        if old not in values or not isinstance(new, str) or not new.strip():
            raise VtigerApiError("INVALID_PARAMETER",
                                 f"{old!r} is not a value of {m.name}.{f['name']}", 400)
        values = [new if v == old else v for v in values]
        with self.core.store.transaction():
            self._replace_values(m, f["name"], {str(old)}, new)
        self._save(m, f, list(dict.fromkeys(values)))
        return {"success": True, "result": ["success", True]}

    def delete_picklist(self, user: User, module: object, element: dict[str, Any]) -> dict:
        """Delete picklist values; records holding them take ``replace_with`` (a kept value)."""
        self.core.cloud_only("delete_picklist")
        m, f = self._field(user, module, element)
        gone = element.get("delete_values")
        if isinstance(gone, str):
            gone = [gone]
        values = _values_of(f)
        repl = element.get("replace_with")
        if not isinstance(gone, list) or not gone or any(v not in values for v in gone):
            raise VtigerApiError("INVALID_PARAMETER", "delete_values must be existing values",
                                 400)
        if repl not in values or repl in gone:
            raise VtigerApiError("INVALID_PARAMETER",
                                 "replace_with must be a value that is kept", 400)
        with self.core.store.transaction():
            self._replace_values(m, f["name"], set(gone), str(repl))
        self._save(m, f, [v for v in values if v not in gone])
        return {"success": True, "result": ["success", True]}

    def picklist_dependency(self, user: User, module: object, sourcefield: object,
                            targetfield: object) -> dict:
        """The value mapping of one (module, source field, target field) dependency.

        Dependencies come from the ``picklist_dependencies`` setting (the demo seed configures
        some). As Vtiger's ``getPickListDependency`` does, a pair without a configured
        dependency answers the same shape with an empty ``valuemapping``; the mapping keeps the
        configured order of source values.
        """
        m = self.core.module(module)
        for f in (sourcefield, targetfield):
            if f not in m.fields:
                raise access_denied(f"Permission to access {f} attribute denied.")
        mapping: list[dict] = []
        for dep in self.core.settings.get("picklist_dependencies") or ():
            if (dep["module"], dep["sourcefield"], dep["targetfield"]) == \
                    (m.name, sourcefield, targetfield):
                mapping = copy.deepcopy(dep["valuemapping"])
                break
        return {"sourcefield": sourcefield, "targetfield": targetfield, "valuemapping": mapping}
