"""The sandbox's Vtiger, without HTTP: typed methods per domain over one SQLite store.

Everything Vtiger-specific (ids, wire formats, validation order, error codes and messages,
sync paging) lives here, so it can be checked against the recorded real responses in
``/work/shared/vtiger-reference``; ``vtiger_sandbox.responses`` only reads requests into
these calls and wraps what they return.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..store import Store
from .admin import AdminBackend
from .convert import ConvertBackend
from .core import Core, ServerCrash, User
from .metadata import MetadataBackend
from .picklists import PicklistsBackend
from .query import QueryBackend
from .records import RecordsBackend
from .relations import RelationsBackend
from .sync import SyncBackend
from .tags import TagsBackend
from .users import SessionsBackend, UsersBackend

__all__ = ["ServerCrash", "User", "VtigerBackend"]


class VtigerBackend:
    """One sandbox's state and every operation on it, grouped by domain."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.core = Core(store, clock)
        self.store = store
        self.modules = store.modules
        self.users = UsersBackend(self.core)
        self.sessions = SessionsBackend(self.core, self.users)
        self.metadata = MetadataBackend(self.core)
        self.records = RecordsBackend(self.core)
        self.query = QueryBackend(self.core)
        self.sync = SyncBackend(self.core)
        self.relations = RelationsBackend(self.core)
        self.tags = TagsBackend(self.core)
        self.picklists = PicklistsBackend(self.core)
        self.convert = ConvertBackend(self.core, self.records)
        self.admin = AdminBackend(self.core, self.sessions)

    @property
    def settings(self) -> dict:
        """The runtime settings (``/_sandbox/config``)."""
        return self.core.settings

    def configure(self, new: dict) -> dict:
        """Merge settings and persist them across restarts (see ``backend.settings``)."""
        return self.core.configure(new)

    def bootstrap(self, username: str = "admin", access_key: str | None = None) -> str:
        """Ensure the admin user, groups and currency exist; returns the admin's access key."""
        return self.users.bootstrap(username, access_key)
