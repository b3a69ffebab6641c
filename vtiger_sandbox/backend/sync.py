"""``sync``: the records of a module changed or deleted since a time, page by page."""

# SQL is built only from identifiers out of the module describes (quoted by Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

from ..errors import access_denied
from .core import MAX_CRMID, Core, ServerCrash, User
from .wire import rows_to_records, wire_rows


def sync_since(raw: object) -> int:
    """The ``modifiedTime`` parameter as epoch seconds; what PHP cannot read crashes it."""
    try:
        since = int(float(raw))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ServerCrash("modifiedTime") from None
    if since < 1:
        raise ServerCrash("modifiedTime < 1")
    return min(since, MAX_CRMID)


class SyncBackend:
    """Vtiger's sync pages: ties at the boundary second are never split across pages."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def sync(self, user: User, module: object, since: int,
             sync_type: str = "application") -> dict:
        """One page of changes after ``since`` (epoch seconds, from :func:`sync_since`).

        ``sync_type``: ``application`` (every record), ``user`` (the caller's own) or
        ``userandgroup`` (the caller's and their groups'); self-hosted servers read only
        ``user``.
        """
        core = self.core
        if core.settings.get("sync_http_500"):
            raise ServerCrash("sync_http_500")
        if not module:
            raise ServerCrash("elementType")
        m = core.module(module)
        if m.name == "Emails" and core.self_hosted():
            raise ServerCrash("sync of Emails")  # sync-capable_sync_typed_Emails
        if m.name == "Users":
            return {"updated": [], "deleted": [], "lastModifiedTime": str(since), "more": False}
        if not m.is_entity or core.refuses("sync", m):
            raise access_denied()
        st = core.store
        mt = st.tables[m.name]
        owner_sql, owner_params = "", []
        if core.self_hosted():
            sync_type = "user"  # self-hosted ignores syncType: always the caller's own records
        if "assigned_user_id" in m.fields and sync_type == "user":
            owner_sql, owner_params = " AND assigned_user_id = ?", [user.id]
        elif "assigned_user_id" in m.fields and sync_type == "userandgroup":
            # group membership is not modelled: the admin belongs to every group, others none
            if user.crmid == 1:
                owner_sql = " AND (assigned_user_id = ? OR assigned_user_id LIKE ?)"
                owner_params = [user.id, f"{core.modules['Groups'].id_prefix}x%"]
            else:
                owner_sql, owner_params = " AND assigned_user_id = ?", [user.id]
        limit = int(core.settings.get("sync_page_limit", 100))
        with st.lock:
            c = st.conn
            top = c.execute(
                f"SELECT MAX(_mtime) FROM (SELECT _mtime FROM {m.table} WHERE _mtime > ?"
                f"{owner_sql} ORDER BY _mtime LIMIT ?)",
                (since, *owner_params, limit),
            ).fetchone()[0]
            if top is None:
                return {"updated": [], "deleted": [], "more": False, "lastModifiedTime": since}
            cur = c.execute(
                f"SELECT deleted, {mt.select_cols} FROM {m.table} WHERE _mtime > ? "
                f"AND _mtime <= ?{owner_sql} ORDER BY _mtime, crmid",
                (since, top, *owner_params),
            )
            rows = cur.fetchall()
            more = c.execute(
                f"SELECT EXISTS (SELECT 1 FROM {m.table} WHERE _mtime > ?{owner_sql})",
                (top, *owner_params),
            ).fetchone()[0]
        live = [r[1:] for r in rows if not r[0]]
        id_idx = mt.fields.index("id") + 1
        deleted = [r[id_idx] for r in rows if r[0]]
        return {
            "updated": wire_rows(core.modules, m, mt.fields, mt.fields,
                                 rows_to_records(mt.fields, live)),
            "deleted": deleted,
            "more": bool(more),
            "lastModifiedTime": int(top),
        }
