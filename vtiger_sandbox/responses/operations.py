"""Each webservice operation's parameters, read into one typed backend call.

REST (``/restapi/v1/vtiger/default/<operation>``) and ``webservice.php`` read the same
parameter names; they differ in authentication and envelopes, not here. Parameters that name
ids, modules or labels go through as sent: the backend refuses what is no such thing with
Vtiger's own error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..backend import User, VtigerBackend
from ..backend.sync import sync_since

#: Webservice operations and the HTTP method Vtiger declares for them.
OPERATION_METHODS: dict[str, str] = {
    "getchallenge": "GET", "login": "POST", "logout": "POST", "me": "GET",
    "listtypes": "GET", "describe": "GET", "create": "POST", "retrieve": "GET",
    "update": "POST", "revise": "POST", "delete": "POST", "query": "GET", "sync": "GET",
    "relatedtypes": "GET", "retrieve_related": "GET", "query_related": "GET",
    "add_related": "POST", "delete_related": "POST", "tags_add": "POST",
    "tags_retrieve": "GET", "tags_delete": "POST", "tag_delete": "POST", "lookup": "GET",
    "picklist_dependency": "GET", "convertlead": "POST", "get_account_hierarchy": "GET",
    "editionLimits": "GET", "extendsession": "POST", "files_retrieve": "GET",
    "retrieve_inventory": "GET", "reopen": "POST", "decrypt": "GET", "add_picklist": "POST",
    "edit_picklist": "POST", "delete_picklist": "POST",
}

Params = dict[str, Any]
#: An operation: the backend, the authenticated caller and the request's parameters.
Call = Callable[[VtigerBackend, User, Params], Any]


def text(params: Params, name: str) -> str:
    """A parameter that must be text; absent, or anything else (a list, a number from a JSON
    body), reads as empty.
    """
    value = params.get(name)
    return value if isinstance(value, str) else ""


def element(params: Params) -> dict[str, Any]:
    """The ``element`` JSON; anything not a JSON object counts as empty (like Vtiger)."""
    raw = params.get("element")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, (str, bytes)) else None
    except (ValueError, RecursionError):
        value = None
    return value if isinstance(value, dict) else {}


def field_types(params: Params) -> set[str] | None:
    """``fieldTypeList``: a JSON list of field types, one type, or nothing (None: no filter)."""
    raw = params.get("fieldTypeList")
    if raw in (None, "", "null"):
        return None
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        parsed = [raw]
    if isinstance(parsed, str):
        parsed = [parsed]
    return {str(x) for x in parsed} if isinstance(parsed, list) else None


def tag_items(params: Params) -> list[Any]:
    """``tags``: a JSON list, a JSON string, or comma-separated words."""
    raw = params.get("tags")
    if isinstance(raw, list):
        return raw
    try:
        items = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        items = list(str(raw).split(","))
    if isinstance(items, str):
        items = [items]
    return items if isinstance(items, list) else []


def search_in(params: Params) -> dict[str, list[Any]] | None:
    """``searchIn`` of lookup: {module: [fields]}, [modules] or one module (None: default)."""
    raw = params.get("searchIn")
    parsed: Any = None
    if raw:
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            parsed = None
    if isinstance(parsed, dict):
        return {str(k): list(v) if isinstance(v, list) else [] for k, v in parsed.items()}
    if isinstance(parsed, list):
        return {str(k): [] for k in parsed}
    if isinstance(parsed, str):
        return {parsed: []}
    return None


def _sync(b: VtigerBackend, u: User, p: Params) -> Any:
    # an unreadable modifiedTime crashes the server, as the sync_http_500 setting does
    return b.sync.sync(u, p.get("elementType"), sync_since(p.get("modifiedTime")),
                       str(p.get("syncType") or "application"))


def _tags_delete(b: VtigerBackend, u: User, p: Params) -> Any:
    delete_all = str(p.get("delete_all", "")).lower() in ("1", "true", "yes", "on")
    return b.tags.tags_delete(u, p.get("id"), tag_items(p), delete_all)


#: Operation name -> its call, for every operation served after authentication (the session
#: operations getchallenge/login/logout are webservice.php's own).
CALLS: dict[str, Call] = {
    "me": lambda b, u, p: b.users.me(u),
    "listtypes": lambda b, u, p: b.metadata.listtypes(u, field_types(p)),
    "describe": lambda b, u, p: b.metadata.describe(u, p.get("elementType", "")),
    "editionLimits": lambda b, u, p: b.metadata.edition_limits(u, text(p, "serviceName")),
    "create": lambda b, u, p: b.records.create(u, p.get("elementType"), element(p)),
    "retrieve": lambda b, u, p: b.records.retrieve(u, p.get("id")),
    "update": lambda b, u, p: b.records.update(u, element(p)),
    "revise": lambda b, u, p: b.records.revise(u, element(p)),
    "delete": lambda b, u, p: b.records.delete(u, p.get("id")),
    "retrieve_inventory": lambda b, u, p: b.records.retrieve_inventory(u, p.get("id")),
    "files_retrieve": lambda b, u, p: b.records.files_retrieve(u, p.get("id")),
    "reopen": lambda b, u, p: b.records.reopen(u, p.get("id")),
    "decrypt": lambda b, u, p: b.records.decrypt(u, p.get("id"), p.get("fieldname")),
    "lookup": lambda b, u, p: b.records.lookup(u, str(p.get("type", "")).lower(),
                                               str(p.get("value", "")), search_in(p)),
    "query": lambda b, u, p: b.query.query(u, p.get("query", "")),
    "sync": _sync,
    "relatedtypes": lambda b, u, p: b.relations.relatedtypes(u, p.get("elementType")),
    "retrieve_related": lambda b, u, p: b.relations.retrieve_related(
        u, p.get("id"), p.get("relatedLabel"), p.get("relatedType")),
    "query_related": lambda b, u, p: b.relations.query_related(
        u, p.get("query", ""), p.get("id"), p.get("relatedLabel")),
    "add_related": lambda b, u, p: b.relations.add_related(
        u, p.get("sourceRecordId"), p.get("relatedRecordId"), p.get("relationIdLabel")),
    "delete_related": lambda b, u, p: b.relations.delete_related(
        u, p.get("sourceRecordId"), p.get("relatedRecordId")),
    "get_account_hierarchy": lambda b, u, p: b.relations.get_account_hierarchy(u, p.get("id")),
    "tags_add": lambda b, u, p: b.tags.tags_add(u, p.get("id"), tag_items(p)),
    "tags_retrieve": lambda b, u, p: b.tags.tags_retrieve(u, p.get("id")),
    "tags_delete": _tags_delete,
    "tag_delete": _tags_delete,
    "picklist_dependency": lambda b, u, p: b.picklists.picklist_dependency(
        u, p.get("module"), p.get("sourcefield", ""), p.get("targetfield", "")),
    "add_picklist": lambda b, u, p: b.picklists.add_picklist(u, p.get("elementType"),
                                                             element(p)),
    "edit_picklist": lambda b, u, p: b.picklists.edit_picklist(u, p.get("elementType"),
                                                               element(p)),
    "delete_picklist": lambda b, u, p: b.picklists.delete_picklist(u, p.get("elementType"),
                                                                   element(p)),
    "convertlead": lambda b, u, p: b.convert.convertlead(u, element(p)),
}
