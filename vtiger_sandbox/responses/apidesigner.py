"""API Designer (Vtiger Cloud) in the sandbox: custom REST endpoints and webhooks from XML.

Why: connectors can read from admin-published endpoints (tap ``api_designer_streams``) and
write through webhooks (target ``webhook_url``, up to 50 records a request); both need a server
that serves such definitions the way Vtiger Cloud does, over real HTTP.

URLs (mounted by ``vtiger_sandbox.urls`` through :func:`mount`):

* ``/restapi/vtap/api/<path>``: HTTP Basic auth of a sandbox user (username + access key).
* ``/restapi/vtap/webhook/<path>``: no Basic auth; the endpoint's own token, in the ``token``
  header or the ``token`` query parameter as its definition says. Missing or wrong token:
  HTTP 401 ``INVALID_AUTH_TOKEN``, nothing read or written. Webhooks act as the admin (19x1).
* The self-hosted flavors answer 404 (the open-source edition has no ``/restapi``).

Definitions file (one XML document; Vtiger's own ``<api>`` scripts wrapped in ``<endpoint>``)::

    <apidesigner>
      <endpoint path="contacts" kind="api">              <!-- kind: api | webhook -->
        <api method="get">                               <!-- one per HTTP method -->
          <select module="Contacts">
            <record><field name="firstname"/><field name="email"/></record>  <!-- columns -->
            <where glue="OR">                            <!-- AND (default) | OR -->
              <field name="email" condition="like" value="@email"/>
              <field name="lastname" value="@lastname"/> <!-- condition default: equal -->
            </where>
            <sort><field name="modifiedtime" order="descending"/></sort>
            <limit max="100" page="@page"/>              <!-- max <= 100, page 1-based -->
          </select>
        </api>
      </endpoint>
      <endpoint path="contacts_in" kind="webhook" token="..." token_placement="header">
        <webhook method="post">                          <!-- <api> works here too -->
          <upsert module="Contacts" bulk="true">
            <record><field name="lastname"/><field name="email"/>
                    <field name="leadsource" value="Web Site"/></record>  <!-- constant -->
            <where><field name="email" value="@email"/></where>
          </upsert>
        </webhook>
      </endpoint>
    </apidesigner>

Semantics:

* ``@name`` takes the request parameter ``name`` (GET: query string; other methods: the JSON
  object body, query string as fallback); a ``<record>`` field without ``value`` means
  ``@<its name>``; a literal ``value`` is a constant. Parameters that are absent or empty are
  left out: a ``<where>`` condition without its value is skipped, a record field not sent is
  not written.
* Conditions: ``equal`` (default), ``notequal``, ``lessthan``, ``greaterthan``,
  ``lessorequal``, ``greaterorequal``, ``like`` (contains, wildcards in the value are literal),
  ``startswith``, ``endswith``, ``in`` (a list, or a comma-separated string). ``<sort>``: VTQL
  allows one direction, on the last field, so only that one may say ``descending``.
* ``<select>`` answers ``{"success": true, "result": [records]}`` (selected fields plus ``id``),
  as the sandbox's VTQL would answer it (100 rows at most per page).
* ``<create>`` / ``<update>`` / ``<upsert>`` / ``<delete>`` take one record (the body object);
  with ``bulk="true"`` (create, upsert) also ``{"records": [...]}`` or a JSON array, at most
  50 records, else HTTP 400 ``LIMIT_EXCEEDED`` and nothing is written. A bulk answer is
  ``{"success": true, "result": {"records": [{"success": true, "status":
  "created"|"updated", "id", "record"} | {"success": false, "error": {...}}]}}`` in request
  order (each record stands alone). ``update``/``upsert``/``delete`` find the record by the
  ``<where>`` fields (all must match; an ``id`` parameter in the record wins); upsert creates
  when nothing matches; more than one match is ``DUPLICATE_RECORDS`` ("Duplicate records
  found"), none for update/delete ``RECORD_NOT_FOUND``. Creates default ``assigned_user_id`` to
  the caller. Record work goes through the sandbox's backend (``records.create``, ``revise``,
  ``delete``, ``query.select``), so validation and errors are the core API's.

Where definitions come from (first found): ``mount(server, definitions_path)``, the environment
variable ``VTIGER_SANDBOX_API_DESIGNER``, ``<database file>.apidesigner.xml`` beside the
sandbox's database, the bundled ``apidesigner_demo.xml``. The file is re-read when it changes
(tests may write it while the server runs). An invalid file makes every endpoint answer HTTP 500
``API_DEFINITION_INVALID`` naming the problem. Calls are counted in ``/_sandbox/stats`` as
``vtap_api`` / ``vtap_webhook``. They count against the same per-minute and daily limits as
the core REST API (Vtiger Cloud meters every REST call): the same ``X-FloodControl-*`` /
``X-RateLimit-*`` headers, HTTP 429 past a limit. Injected faults apply only when the faults
setting names these routes in its ``operations`` list (``["vtap_webhook"]``), so that the core
API's fault tests keep their call numbering.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from ..backend import User, VtigerBackend
from ..backend.settings import is_self_hosted
from ..errors import VtigerApiError
from ..modules import Module
from ..vtql import Condition, Select
from .common import Server, error_response, json_response, parse_basic

__all__ = ["BULK_LIMIT", "DEMO_DEFINITIONS", "DefinitionError", "Endpoint", "load_definitions",
           "mount"]

#: Records one bulk request may carry (Vtiger's limit).
BULK_LIMIT = 50
#: Rows one select page may return (the VTQL cap).
PAGE_LIMIT = 100
#: Largest request body read.
MAX_BODY = 8 * 1024 * 1024
DEMO_DEFINITIONS = Path(__file__).parent.parent / "apidesigner_demo.xml"
ENV_VAR = "VTIGER_SANDBOX_API_DESIGNER"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
_ACTIONS = ("select", "create", "update", "upsert", "delete")
_CONDITIONS = {
    "equal": "=", "=": "=", "notequal": "!=", "!=": "!=", "lessthan": "<", "<": "<",
    "greaterthan": ">", ">": ">", "lessorequal": "<=", "<=": "<=", "greaterorequal": ">=",
    ">=": ">=", "like": "like", "contains": "like", "startswith": "startswith",
    "endswith": "endswith", "in": "in",
}


class DefinitionError(ValueError):
    """The definitions file is not usable (bad XML, unknown module or field...)."""


@dataclass
class FieldSpec:
    """One ``<field>``: a name, where its value comes from, and its condition/sort order."""

    name: str
    value: str | None = None  # "@param", a constant, or None (record: "@<name>")
    condition: str = "="
    descending: bool = False

    def resolve(self, params: dict[str, Any]) -> Any:
        """The value for this request, or None when the parameter is absent or empty."""
        source = self.value if self.value is not None else f"@{self.name}"
        if not source.startswith("@"):
            return source
        got = params.get(source[1:])
        if got is None or got == "" or got == []:
            return None
        return got


@dataclass
class Action:
    """What one HTTP method of an endpoint does."""

    verb: str  # select | create | update | upsert | delete
    module: Module
    record: list[FieldSpec] = field(default_factory=list)
    where: list[FieldSpec] = field(default_factory=list)
    glue: str = "and"
    sort: list[FieldSpec] = field(default_factory=list)
    limit_max: int = PAGE_LIMIT
    page: str | None = None  # "@param" or a constant page number
    bulk: bool = False


@dataclass
class Endpoint:
    """One published path: kind (api | webhook), its token settings and its actions."""

    path: str
    kind: str
    actions: dict[str, Action]
    token: str | None = None
    token_placement: str = "header"  # noqa: S105 - where the token goes, not a token


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1", "yes")


def _field_name(el: ET.Element, module: Module, where: str) -> str:
    name = el.get("name") or ""
    if not _NAME.fullmatch(name) or (name not in module.fields and name != "id"):
        raise DefinitionError(f"{where}: {module.name} has no field {name!r}")
    return name


def _parse_action(el: ET.Element, modules: dict[str, Module], where: str) -> Action:
    verbs = [child for child in el if child.tag in _ACTIONS]
    if len(verbs) != 1:
        raise DefinitionError(f"{where}: expected one of <{'>, <'.join(_ACTIONS)}>")
    body = verbs[0]
    module = modules.get(body.get("module") or "")
    if module is None:
        raise DefinitionError(f"{where}: unknown module {body.get('module')!r}")
    action = Action(verb=body.tag, module=module, bulk=_bool(body.get("bulk")))
    if action.bulk and action.verb not in ("create", "upsert"):
        raise DefinitionError(f"{where}: bulk is for <create> and <upsert>")
    here = f"{where} <{body.tag} module={module.name}>"
    for part in body:
        fields = list(part.iter("field"))
        if part.tag == "record":
            action.record = [FieldSpec(_field_name(f, module, here), f.get("value"))
                             for f in fields]
        elif part.tag == "where":
            glue = (part.get("glue") or "AND").lower()
            if glue not in ("and", "or"):
                raise DefinitionError(f"{here}: glue must be AND or OR")
            action.glue = glue
            for f in fields:
                cond = (f.get("condition") or "equal").lower()
                if cond not in _CONDITIONS:
                    raise DefinitionError(f"{here}: unknown condition {cond!r}")
                if f.get("value") is None:
                    raise DefinitionError(f"{here}: where field {f.get('name')!r} needs a value")
                action.where.append(FieldSpec(_field_name(f, module, here), f.get("value"),
                                              _CONDITIONS[cond]))
        elif part.tag == "sort":
            for f in fields:
                order = (f.get("order") or "ascending").lower()
                action.sort.append(FieldSpec(_field_name(f, module, here),
                                             descending=order in ("descending", "desc")))
            if any(s.descending for s in action.sort[:-1]):
                raise DefinitionError(f"{here}: VTQL sorts one direction, on the last field")
        elif part.tag == "limit":
            try:
                action.limit_max = int(part.get("max") or PAGE_LIMIT)
            except ValueError:
                raise DefinitionError(f"{here}: limit max must be a number") from None
            if not 1 <= action.limit_max <= PAGE_LIMIT:
                raise DefinitionError(f"{here}: limit max must be 1..{PAGE_LIMIT}")
            action.page = part.get("page")
        else:
            raise DefinitionError(f"{here}: unexpected <{part.tag}>")
    if action.verb in ("update", "delete") and not action.where:
        raise DefinitionError(f"{here}: <{action.verb}> needs a <where>")
    return action


def load_definitions(text: str, modules: dict[str, Module]) -> dict[tuple[str, str], Endpoint]:
    """Parse a definitions document: ``{(kind, path): Endpoint}``; raise DefinitionError."""
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise DefinitionError("DTDs and entities are not allowed in definitions")
    try:
        root = ET.fromstring(text)  # noqa: S314 - operator-provided file, DTDs refused above
    except ET.ParseError as exc:
        raise DefinitionError(f"not well-formed XML: {exc}") from None
    endpoints: dict[tuple[str, str], Endpoint] = {}
    for ep in root.iter("endpoint"):
        path = (ep.get("path") or "").strip("/")
        if not _PATH.fullmatch(path) or ".." in path:
            raise DefinitionError(f"bad endpoint path {path!r}")
        scripts = [child for child in ep if child.tag in ("api", "webhook")]
        kind = ep.get("kind") or (scripts[0].tag if scripts else "api")
        if kind not in ("api", "webhook"):
            raise DefinitionError(f"{path}: kind must be api or webhook")
        token = ep.get("token")
        placement = (ep.get("token_placement") or "header").lower()
        if kind == "webhook" and not token:
            raise DefinitionError(f"{path}: a webhook needs a token")
        if placement not in ("header", "query"):
            raise DefinitionError(f"{path}: token_placement must be header or query")
        actions: dict[str, Action] = {}
        for script in scripts:
            method = (script.get("method") or "get").upper()
            if method not in ("GET", "POST", "PUT", "DELETE"):
                raise DefinitionError(f"{path}: bad method {method}")
            if method in actions:
                raise DefinitionError(f"{path}: method {method} defined twice")
            actions[method] = _parse_action(script, modules, f"{kind}/{path} {method}")
        if not actions:
            raise DefinitionError(f"{path}: no <api> or <webhook> script")
        if (kind, path) in endpoints:
            raise DefinitionError(f"{kind}/{path} defined twice")
        endpoints[(kind, path)] = Endpoint(path, kind, actions, token, placement)
    return endpoints


# ------------------------------------------------------------------------ typed filters
def _text(value: Any) -> str:
    return "1" if value is True else "0" if value is False else str(value)


def _like(value: Any, mode: str) -> str:
    """A LIKE pattern finding ``value`` literally (its wildcards and backslashes escaped)."""
    text = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"like": f"%{text}%", "startswith": f"{text}%", "endswith": f"%{text}"}[mode]


def _condition(spec: FieldSpec, value: Any) -> Condition | None:
    """The condition a where field sets for this request's value, None when it sets none."""
    if spec.condition == "in":
        items = value if isinstance(value, list) else str(value).split(",")
        items = [str(v).strip() for v in items if str(v).strip()]
        return Condition(spec.name, "in", tuple(items)) if items else None
    if isinstance(value, (list, dict)):
        raise VtigerApiError("INVALID_PARAMETER", f"{spec.name}: one value expected", 400)
    if str(value) == "":
        return None
    if spec.condition in ("like", "startswith", "endswith"):
        return Condition(spec.name, "like", (_like(value, spec.condition),))
    return Condition(spec.name, spec.condition, (_text(value),))


def _where(specs: list[FieldSpec], params: dict[str, Any]) -> tuple[Condition, ...]:
    conditions = []
    for spec in specs:
        value = spec.resolve(params)
        if value is None:
            continue
        cond = _condition(spec, value)
        if cond is not None:
            conditions.append(cond)
    return tuple(conditions)


# ------------------------------------------------------------------------------ actions
class Runner:
    """Executes actions as typed calls of the sandbox's backend (its validation, its errors)."""

    def __init__(self, backend: VtigerBackend) -> None:
        self.backend = backend

    def select(self, user: User, action: Action, params: dict[str, Any]) -> list[dict]:
        """One page of the records the select's where fields match."""
        page = 1
        if action.page:
            raw = params.get(action.page[1:]) if action.page.startswith("@") else action.page
            if raw not in (None, ""):
                try:
                    page = int(str(raw))
                except ValueError:
                    page = 0
                if page < 1:
                    raise VtigerApiError("INVALID_PARAMETER", "page must be 1, 2, 3...", 400)
        select = Select(
            module=action.module.name,
            columns=tuple(dict.fromkeys(f.name for f in action.record)),
            where=_where(action.where, params), any_of=action.glue == "or",
            order_by=tuple(s.name for s in action.sort),
            descending=bool(action.sort) and action.sort[-1].descending,
            offset=(page - 1) * action.limit_max, limit=action.limit_max)
        return self.backend.query.select(user, select)

    def _values(self, action: Action, record: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for spec in action.record:
            value = spec.resolve(record)
            if value is not None and spec.name != "id":
                values[spec.name] = value
        return values

    def _matches(self, user: User, action: Action, record: dict[str, Any]) -> list[str] | None:
        """Ids of live records matching the where fields (AND), None if no value was sent."""
        rid = record.get("id")
        if isinstance(rid, str) and rid:
            if rid.partition("x")[0] != action.module.id_prefix:
                raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
            return [rid]
        where = _where(action.where, record)
        if not where:
            return None
        rows = self.backend.query.select(user, Select(
            module=action.module.name, columns=("id",), where=where, limit=2))
        return [row["id"] for row in rows]

    def create(self, user: User, action: Action, record: dict[str, Any]) -> tuple[str, dict]:
        """A new record of the sent fields (owner: the caller unless sent)."""
        values = self._values(action, record)
        if "assigned_user_id" in action.module.fields:
            values.setdefault("assigned_user_id", user.id)
        return "created", self.backend.records.create(user, action.module.name, values)

    def _one(self, user: User, action: Action, record: dict[str, Any]) -> str | None:
        ids = self._matches(user, action, record)
        if ids and len(ids) > 1:
            raise VtigerApiError("DUPLICATE_RECORDS", "Duplicate records found", 409)
        return ids[0] if ids else None

    def update(self, user: User, action: Action, record: dict[str, Any]) -> tuple[str, dict]:
        """The one matching record revised with the sent fields."""
        rid = self._one(user, action, record)
        if rid is None:
            raise VtigerApiError("RECORD_NOT_FOUND", "Record not found", 404)
        element = {**self._values(action, record), "id": rid}
        return "updated", self.backend.records.revise(user, element)

    def upsert(self, user: User, action: Action, record: dict[str, Any]) -> tuple[str, dict]:
        """Update the one matching record, or create it when none matches."""
        rid = self._one(user, action, record)
        if rid is None:
            return self.create(user, action, record)
        element = {**self._values(action, record), "id": rid}
        return "updated", self.backend.records.revise(user, element)

    def delete(self, user: User, action: Action, record: dict[str, Any]) -> tuple[str, dict]:
        """Delete the one matching record."""
        rid = self._one(user, action, record)
        if rid is None:
            raise VtigerApiError("RECORD_NOT_FOUND", "Record not found", 404)
        self.backend.records.delete(user, rid)
        return "deleted", {"id": rid, "status": "successful"}

    def write(self, user: User, action: Action, record: Any) -> tuple[str, dict]:
        """One record of a write action: (status, the record as stored)."""
        if not isinstance(record, dict):
            raise VtigerApiError("INVALID_PARAMETER", "a record must be a JSON object", 400)
        verbs = {"create": self.create, "update": self.update, "upsert": self.upsert,
                 "delete": self.delete}
        return verbs[action.verb](user, action, record)


# --------------------------------------------------------------------------------- HTTP
class _Definitions:
    """The current definitions, re-read when the file changes."""

    def __init__(self, backend: VtigerBackend, explicit: str | os.PathLike | None) -> None:
        self.backend = backend
        self.explicit = Path(explicit) if explicit else None
        self.lock = threading.Lock()
        self.key: tuple[str, int, int] | None = None
        self.value: dict[tuple[str, str], Endpoint] | DefinitionError = {}

    def path(self) -> Path:
        if self.explicit is not None:
            return self.explicit
        if os.environ.get(ENV_VAR):
            return Path(os.environ[ENV_VAR])
        beside = Path(str(getattr(self.backend.store, "path", "")) + ".apidesigner.xml")
        if beside.name != ".apidesigner.xml" and beside.exists():
            return beside
        return DEMO_DEFINITIONS

    def get(self) -> dict[tuple[str, str], Endpoint]:
        path = self.path()
        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
        except OSError:
            raise VtigerApiError("API_DEFINITION_INVALID", f"no definitions file at {path}",
                                 500) from None
        with self.lock:
            if key != self.key:
                try:
                    self.value = load_definitions(path.read_text(encoding="utf-8"),
                                                  self.backend.modules)
                except (OSError, UnicodeDecodeError, DefinitionError) as exc:
                    self.value = DefinitionError(str(exc))
                self.key = key
            value = self.value
        if isinstance(value, DefinitionError):
            raise VtigerApiError("API_DEFINITION_INVALID", f"API definitions: {value}", 500)
        return value


async def _read_body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise VtigerApiError("REQUEST_TOO_LARGE", f"request body over {MAX_BODY} bytes", 413)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise VtigerApiError("REQUEST_TOO_LARGE", f"request body over {MAX_BODY} bytes", 413)
    if not raw.strip():
        return {}
    ctype = request.headers.get("content-type", "")
    if "json" in ctype or raw.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise VtigerApiError("INVALID_JSON", "the body is not valid JSON", 400) from None
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


class APIDesigner:
    """The two route handlers and what they share with the core API (limits, faults)."""

    def __init__(self, server: Server, definitions_path: str | os.PathLike | None = None
                 ) -> None:
        self.server = server
        self.backend = server.backend
        self.definitions = _Definitions(server.backend, definitions_path)
        self.runner = Runner(server.backend)

    async def _fault(self, kind: str) -> tuple[Any, Response | None]:
        """The injected fault for this call, when the faults setting names the route."""
        config = self.backend.settings.get("faults") or {}
        name = f"vtap_{kind}"
        if name not in (config.get("operations") or ()):
            return None, None
        return await self.server.apply_fault(name, {})

    async def api(self, request: Request) -> Response:
        """``/restapi/vtap/api/<path>``: a sandbox user's Basic auth."""
        return await self._serve(request, "api")

    async def webhook(self, request: Request) -> Response:
        """``/restapi/vtap/webhook/<path>``: the endpoint's token."""
        return await self._serve(request, "webhook")

    def _caller(self, request: Request, kind: str, endpoint: Endpoint | None) -> User:
        users = self.backend.users
        if kind == "webhook":
            given = (request.headers.get("token") if endpoint is None
                     or endpoint.token_placement == "header"  # noqa: S105
                     else request.query_params.get("token"))
            expected = endpoint.token if endpoint is not None else None
            if not given or not expected or not hmac.compare_digest(
                    given.encode("utf-8", "replace"), expected.encode("utf-8")):
                raise VtigerApiError("INVALID_AUTH_TOKEN", "Invalid or missing token", 401)
            admin = users.by_crmid(1)
            assert admin is not None  # bootstrap made it
            return admin
        creds = parse_basic(request)
        if creds is None:
            raise VtigerApiError("AUTHENTICATION_REQUIRED", "Authencation required", 401)
        user = users.authenticate_basic(*creds)
        if user is None:
            raise VtigerApiError("INVALID_USER_CREDENTIALS", "Invalid username or password", 401)
        return user

    async def _serve(self, request: Request, kind: str) -> Response:
        backend = self.backend
        if is_self_hosted(backend.settings):
            return Response(b"<html><body><h1>Not Found</h1></body></html>", 404,
                            media_type="text/html")
        backend.store.stats[f"vtap_{kind}"] += 1
        rate = self.server.limiter.hit()
        headers = rate.headers
        if not rate.allowed:
            err = VtigerApiError("TOO_MANY_REQUESTS", "Too many requests", 429)
            return error_response(err, True, headers)
        fault, early = await self._fault(kind)
        if early is None:
            response = await self._answer(request, kind)
            if fault is not None and fault.kind == "truncate":
                response = self.server.truncate(response)
        else:
            response = early
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    async def _answer(self, request: Request, kind: str) -> Response:
        path = request.path_params["path"].strip("/")
        try:
            endpoint = self.definitions.get().get((kind, path))
            # Authenticate before saying whether the path exists (no probing without a key).
            if endpoint is None:
                if kind == "api":
                    self._caller(request, kind, None)
                raise VtigerApiError("API_NOT_FOUND", f"No {kind} published at {path}", 404)
            user = self._caller(request, kind, endpoint)
            action = endpoint.actions.get(request.method)
            if action is None:
                raise VtigerApiError("METHOD_NOT_ALLOWED",
                                     f"{request.method} is not defined for {path}", 405)
            params: dict[str, Any] = dict(request.query_params)
            params.pop("token", None)
            if request.method == "GET":
                body: Any = {}
            else:
                body = await _read_body(request)
            return self._run(user, action, params, body)
        except VtigerApiError as err:
            return error_response(err, True)

    def _run(self, user: User, action: Action, params: dict[str, Any], body: Any) -> Response:
        if action.verb == "select":
            merged = {**params, **body} if isinstance(body, dict) else params
            return json_response({"success": True,
                                  "result": self.runner.select(user, action, merged)})
        records: list[Any] | None = None
        if isinstance(body, list):
            records = body
        elif isinstance(body, dict) and isinstance(body.get("records"), list):
            records = body["records"]
        if records is None:
            record = {**params, **body} if isinstance(body, dict) else body
            _status, result = self.runner.write(user, action, record)
            return json_response({"success": True, "result": result})
        if not action.bulk:
            raise VtigerApiError("INVALID_PARAMETER",
                                 "this endpoint takes one record (its definition is not bulk)",
                                 400)
        if len(records) > BULK_LIMIT:
            raise VtigerApiError("LIMIT_EXCEEDED",
                                 f"At most {BULK_LIMIT} records per request, got {len(records)}",
                                 400)
        out = []
        for record in records:
            try:
                status, result = self.runner.write(user, action, record)
                out.append({"success": True, "status": status, "id": result.get("id"),
                            "record": result})
            except VtigerApiError as err:
                out.append(err.envelope())
        return json_response({"success": True, "result": {"records": out}})


def mount(server: Server, definitions_path: str | os.PathLike | None = None) -> Mount:
    """The ``/restapi/vtap`` routes serving API Designer definitions over ``server``."""
    designer = APIDesigner(server, definitions_path)
    methods = ["GET", "POST", "PUT", "DELETE"]
    return Mount("/restapi/vtap", routes=[
        Route("/api/{path:path}", designer.api, methods=methods),
        Route("/webhook/{path:path}", designer.webhook, methods=methods),
    ])
