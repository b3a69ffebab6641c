"""Metadata streams: picklist values, picklist dependencies, account hierarchy.

- ``picklist_values`` (full table): every value of every picklist / multipicklist field of the
  selected module streams (of all module streams when none is selected), read from
  ``describe``: no extra call when discovery ran in the same process, else one ``describe``
  per module (a run with a catalog does not describe modules otherwise).
- ``picklist_dependencies`` (full table): ``picklist_dependency`` mappings, one call per
  configured (module, source field, target field) in the ``picklist_dependencies`` setting
  (Vtiger has no "list all dependencies" call, so the pairs must be named).
- ``account_hierarchy`` (child of Accounts, opt-in: ``include_account_hierarchy``): for every
  Account changed since the bookmark, one ``get_account_hierarchy`` call, unless that account
  already appeared in a hierarchy read earlier in the same run (one call per tree touched, not
  per account: 456 calls for the demo's 500 accounts on a first run). Each row is one account
  in a tree with its level, parent and root. Off by default: ``Accounts.account_id`` ("Member
  Of") already holds each account's parent, from which the warehouse derives the tree for free.
"""

from __future__ import annotations

import html
import typing as t

from singer_sdk import typing as th

from tap_vtiger.client import PerParentStream, stream_module, tap_client
from tap_vtiger.emitted import TableDigests
from vtiger_client.errors import AuthenticationError, BudgetExhaustedError, ConfigError, VtigerError
from vtiger_singer.sdk import HookedStream

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

METADATA_SETTINGS = [
    th.Property(
        "include_metadata_streams",
        th.BooleanType,
        default=True,
        description="Emit picklist_values and picklist_dependencies (and account_hierarchy "
        "when include_account_hierarchy is on).",
    ),
    th.Property(
        "include_account_hierarchy",
        th.BooleanType,
        default=False,
        description="Emit account_hierarchy (account, parent, root, level). Costs one "
        "get_account_hierarchy call per changed Account (at most one per tree and run): a first "
        "run of 10,000 accounts spends up to 10,000 calls. Accounts.account_id (Member Of) "
        "already holds each parent for free. Vtiger Cloud only.",
    ),
    th.Property(
        "picklist_dependencies",
        th.ArrayType(
            th.ObjectType(
                th.Property("module", th.StringType, required=True),
                th.Property("source_field", th.StringType, required=True),
                th.Property("target_field", th.StringType, required=True),
            )
        ),
        default=[],
        description="Dependencies to read with picklist_dependency (one call each), e.g. "
        '[{"module": "Potentials", "source_field": "pipeline", "target_field": '
        '"sales_stage"}].',
    ),
]

PICKLIST_TYPES = ("picklist", "multipicklist")

PICKLIST_VALUES_SCHEMA = th.PropertiesList(
    th.Property("module", th.StringType, required=True),
    th.Property("field", th.StringType, required=True),
    th.Property("value", th.StringType, required=True, description="Stored value."),
    th.Property("label", th.StringType, description="Label shown in the UI."),
    th.Property("field_label", th.StringType),
    th.Property("field_type", th.StringType, description="picklist or multipicklist."),
    th.Property("position", th.IntegerType, description="0-based order in the picklist."),
    th.Property("is_default", th.BooleanType),
).to_dict()

PICKLIST_DEPENDENCIES_SCHEMA = th.PropertiesList(
    th.Property("module", th.StringType, required=True),
    th.Property("source_field", th.StringType, required=True),
    th.Property("target_field", th.StringType, required=True),
    th.Property("source_value", th.StringType, required=True),
    th.Property(
        "target_values",
        th.ArrayType(th.StringType),
        description="Target values allowed when the source field holds source_value.",
    ),
).to_dict()

ACCOUNT_HIERARCHY_SCHEMA = th.PropertiesList(
    th.Property("account_id", th.StringType, required=True),
    th.Property("account_name", th.StringType),
    th.Property("parent_account_id", th.StringType, description="None for a root."),
    th.Property("root_account_id", th.StringType),
    th.Property("level", th.IntegerType, description="0 for the root."),
).to_dict()


class _MetadataStream(HookedStream):
    """A small full-table stream over the modules of the tap's module streams."""

    def __init__(self, tap: Tap, modules: list[str], **kwargs: t.Any) -> None:
        self.modules = list(modules)
        super().__init__(tap, **kwargs)

    @property
    def client(self) -> t.Any:
        """The tap's shared client."""
        return tap_client(self.tap)

    def describe(self, module: str) -> dict:
        """The module's describe, from the tap's cache when it has one."""
        cached = getattr(self.tap, "describe", None)
        if callable(cached):
            return cached(module)
        return self.client.describe(module)


class PicklistValuesStream(_MetadataStream):
    """Every value of every picklist field, read from describe."""

    primary_keys: t.ClassVar[list[str]] = ["module", "field", "value"]

    def __init__(self, tap: Tap, modules: list[str]) -> None:
        super().__init__(tap, modules, name="picklist_values", schema=PICKLIST_VALUES_SCHEMA)

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """One record per (module, field, value); rows unchanged since the last run are not
        emitted again (unless ACTIVATE_VERSION messages are on).
        """
        table = None
        if not self.config.get("emit_activate_version_messages"):
            table = TableDigests(self.get_context_state(context),
                                 key=lambda r: f"{r['module']}\x1f{r['field']}\x1f{r['value']}")
        for module in self.wanted_modules():
            for row in picklist_rows(module, self.describe(module)):
                if table is None or table.changed(row):
                    yield row
        if table is not None:
            table.remember()

    def wanted_modules(self) -> list[str]:
        """The modules whose streams the run selects; all of them when it selects none.

        A run with a catalog does not describe the modules (the catalog has the schemas), so
        each module here can cost one ``describe``: don't spend them on modules not extracted.
        """
        streams = getattr(self.tap, "streams", {})
        chosen = [m for m in self.modules if getattr(streams.get(m), "selected", False)]
        return chosen or self.modules


def picklist_rows(module: str, describe: t.Mapping[str, t.Any]) -> t.Iterator[dict]:
    """Rows of ``picklist_values`` for one module's describe."""
    for field in describe.get("fields") or []:
        ftype = field.get("type") or {}
        if ftype.get("name") not in PICKLIST_TYPES:
            continue
        default = ftype.get("defaultValue")
        for pos, item in enumerate(ftype.get("picklistValues") or []):
            value = item.get("value") if isinstance(item, dict) else item
            label = item.get("label", value) if isinstance(item, dict) else item
            if value is None:
                continue
            yield {
                "module": module,
                "field": field.get("name"),
                "value": str(value),
                "label": None if label is None else str(label),
                "field_label": field.get("label"),
                "field_type": ftype.get("name"),
                "position": pos,
                "is_default": default is not None and str(value) == str(default),
            }


class PicklistDependenciesStream(_MetadataStream):
    """Configured picklist dependencies, one ``picklist_dependency`` call each."""

    primary_keys: t.ClassVar[list[str]] = [
        "module",
        "source_field",
        "target_field",
        "source_value",
    ]

    def __init__(self, tap: Tap, modules: list[str]) -> None:
        super().__init__(
            tap, modules, name="picklist_dependencies", schema=PICKLIST_DEPENDENCIES_SCHEMA
        )

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> t.Iterable[dict]:
        """One record per source value of each configured dependency."""
        for i, dep in enumerate(self.config.get("picklist_dependencies") or []):
            module, src, dst = dep["module"], dep["source_field"], dep["target_field"]
            try:
                answer = self.client.picklist_dependency(module, src, dst) or {}
            except (AuthenticationError, BudgetExhaustedError):
                raise
            except VtigerError as exc:  # a typo in the setting: say which entry
                msg = f"picklist_dependencies[{i}] ({module}.{src} -> {dst}): {exc}"
                raise ConfigError("CONFIG", msg) from None
            yield from dependency_rows(module, src, dst, answer)


def dependency_rows(module: str, source_field: str, target_field: str,
                    answer: t.Mapping[str, t.Any]) -> t.Iterator[dict]:
    """Rows of ``picklist_dependencies`` from one ``picklist_dependency`` answer
    (``{"sourcefield", "targetfield", "valuemapping": [{"sourcevalue", "targetvalues"}]}``).
    """
    for item in answer.get("valuemapping") or []:
        if not isinstance(item, dict) or item.get("sourcevalue") is None:
            continue
        yield {
            "module": module,
            "source_field": answer.get("sourcefield") or source_field,
            "target_field": answer.get("targetfield") or target_field,
            "source_value": str(item["sourcevalue"]),
            "target_values": [str(v) for v in item.get("targetvalues") or []],
        }


class AccountHierarchyStream(PerParentStream):
    """Account trees, read for Accounts changed since the bookmark (once per tree per run)."""

    primary_keys: t.ClassVar[list[str]] = ["account_id"]
    parent_modules = ("Accounts",)

    def __init__(self, tap: Tap, parent_class: type[Stream] | None = None) -> None:
        super().__init__(
            tap, parent_class, name="account_hierarchy", schema=ACCOUNT_HIERARCHY_SCHEMA
        )
        #: account ids already emitted as part of a tree in this run
        self._covered: set[str] = set()

    def records_for(self, parent: dict[str, t.Any]) -> t.Iterable[dict]:
        """The whole tree of a changed account, unless this run already emitted it."""
        if str(parent["id"]) in self._covered:
            return
        rows = hierarchy_rows(self.client.get_account_hierarchy(str(parent["id"])) or [])
        for row in rows:
            self._covered.add(row["account_id"])
            yield row


def hierarchy_rows(answer: t.Iterable[t.Mapping[str, t.Any]]) -> list[dict]:
    """Rows with parent and root ids from a ``get_account_hierarchy`` answer.

    The answer lists the tree depth-first with a ``level`` per account but no parent id; the
    parent of an account is the nearest account before it one level up.
    """
    out: list[dict] = []
    chain: list[str] = []  # ids from the root down to the latest account seen
    for item in answer:
        try:
            level = max(0, int(item.get("level", 0)))
        except (TypeError, ValueError):
            level = 0
        account_id = str(item.get("id"))
        del chain[level:]
        parent_id = chain[-1] if chain and level > 0 else None
        chain.append(account_id)
        out.append(
            {
                "account_id": account_id,
                "account_name": _unescape(item.get("name")),
                "parent_account_id": parent_id,
                "root_account_id": chain[0],
                "level": level,
            }
        )
    return out


def _unescape(value: t.Any) -> str | None:
    """Vtiger HTML-escapes labels in this answer (``&amp;``); the warehouse wants the text."""
    if value is None:
        return None
    return html.unescape(str(value))


def metadata_streams(tap: Tap, parents: t.Iterable[Stream]) -> list[Stream]:
    """picklist_values, picklist_dependencies and (with an Accounts stream) account_hierarchy."""
    if not tap.config.get("include_metadata_streams", True):
        return []
    modules = [
        p
        for p in parents
        if not isinstance(p, PerParentStream) and "id" in (p.schema or {}).get("properties", {})
    ]
    names = [stream_module(p) for p in modules]
    streams: list[Stream] = [
        PicklistValuesStream(tap, names),
        PicklistDependenciesStream(tap, names),
    ]
    accounts = [p for p in modules if stream_module(p) == "Accounts"]
    if accounts and tap.config.get("include_account_hierarchy", False):
        streams.append(AccountHierarchyStream(tap, type(accounts[0])))
    return streams
