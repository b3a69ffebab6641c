"""Module metadata of the sandbox, loaded from the real describe documents.

The describes are package data (``vtiger_sandbox/schemas/*.json``, read with
:mod:`importlib.resources`), so an installed wheel finds them as well as a checkout does; the
repository's top-level ``schemas/`` is a symlink to that folder.

Each module is stored in its own SQLite table (``Module.table``) with one TEXT column per field
(named exactly as the field) plus bookkeeping columns; the VTQL compiler and the store both
rely on this layout.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Traversable

#: The describe documents shipped with the package (``_listtypes.json`` + one per module).
SCHEMAS_DIR: Traversable = files(__package__) / "schemas"

#: Field types whose values compare as numbers in VTQL conditions.
NUMERIC_TYPES = frozenset({"integer", "double", "currency", "percentage"})


@dataclass
class Module:
    """One Vtiger module: its describe document and where its records live."""

    name: str
    describe: dict
    id_prefix: str
    is_entity: bool
    label: str = ""
    singular: str = ""
    fields: dict[str, dict] = field(default_factory=dict)

    @property
    def table(self) -> str:
        """SQLite table holding this module's records (quoted identifier)."""
        return f'"m_{self.name}"'

    def field_type(self, name: str) -> str | None:
        """The Vtiger type name of a field, or None when the module has no such field."""
        f = self.fields.get(name)
        return f["type"]["name"] if f else None

    def add_field(self, field_describe: dict) -> None:
        """Add a (custom) field to the module's describe and field index."""
        self.describe.setdefault("fields", []).append(field_describe)
        self.fields[field_describe["name"]] = field_describe


def load_modules(schemas_dir: Traversable | Path = SCHEMAS_DIR) -> dict[str, Module]:
    """Read every ``<Module>.json`` describe listed in ``_listtypes.json`` of ``schemas_dir``."""
    listtypes = json.loads((schemas_dir / "_listtypes.json").read_text(encoding="utf-8"))
    info = listtypes.get("information", {})
    modules: dict[str, Module] = {}
    for name in listtypes["types"]:
        path = schemas_dir / f"{name}.json"
        if not path.is_file():
            continue
        describe = json.loads(path.read_text(encoding="utf-8"))
        meta = info.get(name, {})
        modules[name] = Module(
            name=name,
            describe=copy.deepcopy(describe),
            id_prefix=str(describe["idPrefix"]),
            is_entity=bool(describe.get("isEntity", meta.get("isEntity", True))),
            label=meta.get("label", describe.get("label", name)),
            singular=meta.get("singular", name),
            fields={f["name"]: f for f in describe["fields"]},
        )
    return modules
