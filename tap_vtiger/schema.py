"""The JSON Schema of a module stream, from Vtiger's ``describe``.

Each property carries its Vtiger type (``x-vtiger-type``), which the stream's converters read;
a reference also says in its ``description`` which modules it points at. Credentials of CRM
users are never part of a schema.
"""

from __future__ import annotations

import typing as t

from vtiger_client import types as vtypes

#: Fields never emitted (credentials of CRM users).
SECRET_FIELDS = {"Users": frozenset({"user_password", "confirm_password", "accesskey"})}
#: The property of a record Vtiger reported deleted (set to when it was reported).
DELETED_AT = "_sdc_deleted_at"
#: Schema keyword of a property the server sends although its describe does not list it.
UNDECLARED = "x-vtiger-undeclared"

_JSON_TO_VTIGER = {"integer": "integer", "number": "double", "boolean": "boolean",
                   "array": "multipicklist"}
_FORMAT_TO_VTIGER = {"date-time": "datetime", "date": "date", "time": "time"}


def vtiger_type_of(prop: t.Mapping[str, t.Any]) -> str:
    """The Vtiger type behind a schema property (``x-vtiger-type``, else from the JSON type:
    catalogs edited by hand or stripped by tools still convert correctly).
    """
    if prop.get("x-vtiger-type"):
        return str(prop["x-vtiger-type"])
    if prop.get("format") in _FORMAT_TO_VTIGER:
        return _FORMAT_TO_VTIGER[prop["format"]]
    types = prop.get("type") or "string"
    types = [types] if isinstance(types, str) else list(types)
    for name in types:
        if name in _JSON_TO_VTIGER:
            return _JSON_TO_VTIGER[name]
    return "string"


def module_schema(describe: t.Mapping[str, t.Any], *, deletions: bool = True) -> dict[str, t.Any]:
    """The stream schema of a module: describe's fields (+ ``_sdc_deleted_at`` for modules
    read through sync, which reports deletions; full-table modules never carry it).

    References also say what they point at in their ``description`` (a standard keyword that
    survives catalog round trips, unlike ``x-refersTo``).
    """
    extra = vtypes.undeclared_fields(describe)
    schema = vtypes.module_json_schema(
        {**describe, "fields": [*(describe.get("fields") or []), *extra]})
    for field in extra:
        # not in the describe, so not selectable by name in VTQL: only `select *` returns it
        schema["properties"][field["name"]][UNDECLARED] = True
    secret = SECRET_FIELDS.get(str(describe.get("name")), frozenset())
    props = {k: v for k, v in schema["properties"].items() if k not in secret
             and v.get("x-vtiger-type") != "password"}
    for prop in props.values():
        refers = prop.get("x-refersTo")
        label = prop.get("title") or ""
        if refers:
            prop["description"] = f"{label} (id of {' or '.join(refers)})".strip()
        elif label:
            prop["description"] = label
    if deletions:
        props[DELETED_AT] = {"type": ["string", "null"], "format": "date-time",
                             "description": "Set when Vtiger reported the record deleted."}
    return {"type": "object", "properties": props}
