"""What every domain of the backend shares: the store, the settings, ids and record lookup.

Each domain module (records, query, sync, ...) holds one :class:`Core`; the core knows nothing
of HTTP and nothing of the domains.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import VtigerApiError, access_denied
from ..modules import Module
from ..store import Store
from .settings import DEFAULT_SETTINGS, check_picklist_dependencies, check_setting, is_self_hosted

ID_RE = re.compile(r"^([0-9]+)x([0-9]+)$")  # ASCII digits only (\d matches other scripts)
#: SQLite integers are 64-bit; larger ids cannot exist (and must not reach the driver).
MAX_CRMID = 2**62

#: Users fields never shown on the wire (secrets).
HIDDEN_USER_FIELDS = frozenset({"user_password", "confirm_password", "accesskey"})


class ServerCrash(Exception):
    """Vtiger answering HTTP 500 with an empty body (PHP fatal error), e.g. sync modifiedTime=0."""


@dataclass
class User:
    """An authenticated caller."""

    crmid: int
    user_name: str
    record: dict

    @property
    def id(self) -> str:
        """The wire id, ``19x<crmid>``."""
        return self.record["id"]


class Core:
    """The store, the modules and the runtime settings of one sandbox."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.modules = store.modules
        self.clock = clock
        self.settings: dict[str, Any] = copy.deepcopy(DEFAULT_SETTINGS)
        saved = store.get_setting("config")
        if isinstance(saved, dict):
            self.settings.update(saved)

    # ------------------------------------------------------------------------ settings
    def configure(self, new: dict) -> dict:
        """Merge settings (admin endpoint) and persist them across restarts."""
        checked = {}
        for k, v in new.items():
            if k not in DEFAULT_SETTINGS:
                raise VtigerApiError("INVALID_SETTING", f"unknown setting {k}", 400)
            checked[k] = (check_picklist_dependencies(self.modules, v)
                          if k == "picklist_dependencies" else check_setting(k, v))
        self.settings.update(checked)
        self.store.set_setting("config", self.settings)
        return dict(self.settings)

    def self_hosted(self) -> bool:
        """Any self-hosted flavor (stored forms follow a fresh self-hosted install)."""
        return is_self_hosted(self.settings)

    def cloud_only(self, operation: str) -> None:
        """The open-source edition has no such operation: HTTP 500, empty body."""
        if self.self_hosted():
            raise ServerCrash(f"{operation} is Vtiger Cloud only")

    def refuses(self, operation: str, m: Module) -> bool:
        """Whether the ``refused_modules`` setting makes ``operation`` refuse module ``m``."""
        return m.name in ((self.settings.get("refused_modules") or {}).get(operation) or ())

    # ------------------------------------------------------------------ ids and lookup
    def module(self, name: object, message: str | None = None) -> Module:
        """A module by exact (case-sensitive) name, else ACCESS_DENIED."""
        m = self.modules.get(name) if isinstance(name, str) else None
        if m is None:
            raise access_denied(message or "Permission to perform the operation is denied")
        return m

    def parse_id(self, value: object) -> tuple[Module, int]:
        """``NxM`` -> (module, crmid) with Vtiger's errors for malformed/foreign ids."""
        mo = ID_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if mo is None:
            raise access_denied("Permission to perform the operation is denied for id")
        m = self.store.by_prefix.get(mo.group(1))
        if m is None:
            raise access_denied("Permission to perform the operation is denied for id")
        crmid = int(mo.group(2))
        if crmid > MAX_CRMID:
            raise access_denied()
        if m.is_entity and m.name != "Users":
            with self.store.lock:
                setype = self.store.setype(crmid)
            if setype is not None and setype != m.name:
                raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
        return m, crmid

    def load_live(self, value: object) -> tuple[Module, int, dict]:
        """A live record by id, else ACCESS_DENIED (missing and deleted look the same)."""
        m, crmid = self.parse_id(value)
        with self.store.lock:
            got = self.store.fetch(m, crmid)
        if got is None or got[1]:
            raise access_denied()
        rec = got[0]
        if m.name == "Users":
            rec = {k: v for k, v in rec.items() if k not in HIDDEN_USER_FIELDS}
        return m, crmid, rec
