"""API Designer streams: custom REST endpoints an admin published in Vtiger's API Designer.

Configured with the ``api_designer_streams`` setting::

    "api_designer_streams": [{
        "name": "shared_contacts",          # stream name
        "path": "contacts_for_partner",     # served at <instance>/restapi/vtap/api/<path>
        "params": {"status": "Active"},     # fixed query parameters
        "pagination_param": "page",         # the endpoint's <limit page="@page"> parameter
        "page_size": 100,                   # the endpoint's <limit max="..."> (default 100)
        "primary_keys": ["id"],
        "replication_key": "modifiedtime",  # optional, see below
        "schema": {...}                     # optional JSON Schema of one record
    }]

Calls use HTTP Basic auth (username + access key), like the REST API, through the shared client
(same retries, rate-limit pacing and call counter).

Schema: given, or inferred from the endpoint's first page at discovery (one call). Inference
looks at every row of that page; a key missing there is not in the schema (give ``schema`` for
sparse data). When discovery and sync happen in the same process, the first page is reused.

Paging: with ``pagination_param``, pages 1, 2, 3... are read until a page is shorter than
``page_size`` (or empty, or repeats the previous one). Without it the endpoint is called once.
Cost: ceil(rows / page_size) calls per sync (+1 when the last page is exactly full).

Incremental: with ``replication_key`` the stream keeps a bookmark and emits only rows whose
value is >= the bookmark. API Designer endpoints cannot be told "since" unless their definition
has a parameter for it: name it in ``bookmark_param`` and the bookmark is sent there; otherwise
filtering happens on this side (every page is still read).
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk import typing as th

from tap_vtiger.client import tap_client
from vtiger_singer.sdk import HookedStream

if t.TYPE_CHECKING:
    from singer_sdk import Tap

API_DESIGNER_SETTINGS = [
    th.Property(
        "api_designer_streams",
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True, description="Stream name."),
                th.Property(
                    "path",
                    th.StringType,
                    required=True,
                    description="Endpoint path, served at /restapi/vtap/api/<path>.",
                ),
                th.Property("method", th.StringType, default="GET"),
                th.Property(
                    "params",
                    th.ObjectType(additional_properties=th.StringType),
                    description="Fixed request parameters.",
                ),
                th.Property(
                    "pagination_param",
                    th.StringType,
                    description="Page-number parameter of the endpoint (e.g. page).",
                ),
                th.Property("first_page", th.IntegerType, default=1),
                th.Property("page_size", th.IntegerType, default=100),
                th.Property(
                    "records_path",
                    th.StringType,
                    description="Key of the result holding the rows when the result is an "
                    "object (default: the result itself when it is a list, else its only "
                    "list value).",
                ),
                th.Property("primary_keys", th.ArrayType(th.StringType)),
                th.Property("replication_key", th.StringType),
                th.Property(
                    "bookmark_param",
                    th.StringType,
                    description="Parameter that receives the bookmark (server-side filter).",
                ),
                th.Property(
                    "schema",
                    th.ObjectType(),
                    description="JSON Schema of a record; inferred from the first page if "
                    "absent.",
                ),
            )
        ),
        default=[],
        description="Streams read from API Designer REST endpoints (Basic auth).",
    ),
]

MAX_PAGES = 100_000


class ApiDesignerStream(HookedStream):
    """Rows of one API Designer REST endpoint."""

    def __init__(self, tap: Tap, spec: t.Mapping[str, t.Any]) -> None:
        self.spec = dict(spec)
        self.path = str(spec["path"]).strip("/")
        self._first_page: list[dict] | None = None
        self._first_page_params: dict | None = None
        schema = spec.get("schema") or None
        self._tap_ref = tap
        if schema is None:  # a catalog given to the run already holds the inferred schema
            entry = tap.input_catalog.get_stream(str(spec["name"])) if tap.input_catalog else None
            schema = entry.schema.to_dict() if entry is not None else None
        if schema is None:
            schema = infer_schema(self._fetch_first_page(tap))
        super().__init__(tap, name=str(spec["name"]), schema=schema)
        self.primary_keys = list(spec.get("primary_keys") or [])
        self.replication_key = spec.get("replication_key") or None

    @property
    def client(self) -> t.Any:
        """The tap's shared client."""
        return tap_client(self._tap_ref)

    # ------------------------------------------------------------------ calls

    def _params(self, page: int | None, bookmark: t.Any = None) -> dict:
        params = {k: str(v) for k, v in (self.spec.get("params") or {}).items()}
        if page is not None and self.spec.get("pagination_param"):
            params[str(self.spec["pagination_param"])] = str(page)
        if bookmark is not None and self.spec.get("bookmark_param"):
            params[str(self.spec["bookmark_param"])] = str(bookmark)
        return params

    def _call(self, params: dict) -> list[dict]:
        method = str(self.spec.get("method") or "GET").upper()
        if method == "GET":
            result = self.client.api_designer("GET", self.path, params=params)
        else:
            result = self.client.api_designer(method, self.path, json=params)
        return rows_of(result, self.spec.get("records_path"))

    def _fetch_first_page(self, tap: Tap) -> list[dict]:
        start = int(self.spec.get("first_page") or 1)
        params = self._params(start if self.spec.get("pagination_param") else None)
        rows = self._call(params)
        self._first_page, self._first_page_params = rows, params
        return rows

    # ------------------------------------------------------------------ records

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """Every page (or the single answer), filtered by the bookmark when incremental."""
        bookmark = self.get_starting_replication_key_value(context)
        paged = bool(self.spec.get("pagination_param"))
        size = int(self.spec.get("page_size") or 100)
        page = int(self.spec.get("first_page") or 1)
        previous: str | None = None
        for _ in range(MAX_PAGES):
            params = self._params(page if paged else None, bookmark)
            if self._first_page is not None and params == self._first_page_params:
                rows, self._first_page = self._first_page, None  # reuse discovery's call
            else:
                rows = self._call(params)
            fingerprint = json.dumps(rows, sort_keys=True, default=str)
            if paged and fingerprint == previous:
                self.logger.warning(
                    "%s: page %d repeats the previous page; does the endpoint use %r?",
                    self.name, page, self.spec.get("pagination_param"),
                )
                return
            previous = fingerprint
            for row in rows:
                key = self.replication_key
                if key and bookmark is not None and row.get(key) is not None and (
                    str(row[key]) < str(bookmark)
                ):
                    continue
                yield row
            if not paged or len(rows) < size:
                return
            page += 1


def rows_of(result: t.Any, records_path: str | None = None) -> list[dict]:
    """The list of rows in an API Designer answer."""
    if records_path:
        for part in str(records_path).split("."):
            result = (result or {}).get(part) if isinstance(result, dict) else None
    if isinstance(result, dict):
        lists = [v for v in result.values() if isinstance(v, list)]
        result = lists[0] if len(lists) == 1 else [result] if result else []
    if not isinstance(result, list):
        return []
    return [r for r in result if isinstance(r, dict)]


def _json_type(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def infer_schema(rows: t.Iterable[t.Mapping[str, t.Any]]) -> dict:
    """A permissive JSON Schema from sample rows: every property nullable; a property seen
    with several types gets all of them (integer widened to number); nested values stay
    objects/arrays without further detail.
    """
    types: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            seen = types.setdefault(str(key), set())
            if value is not None:
                seen.add(_json_type(value))
    props: dict[str, dict] = {}
    for key, seen in types.items():
        if {"integer", "number"} <= seen:
            seen.discard("integer")
        names = sorted(seen) or ["string"]
        props[key] = {"type": [*names, "null"]}
    return {"type": "object", "properties": props}


def api_designer_streams(tap: Tap) -> list[ApiDesignerStream]:
    """One stream per entry of ``api_designer_streams``."""
    return [ApiDesignerStream(tap, spec) for spec in tap.config.get("api_designer_streams") or []]
