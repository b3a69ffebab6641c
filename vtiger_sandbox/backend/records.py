"""One record at a time: create, retrieve, update, revise, delete, and their Cloud extras."""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.

from __future__ import annotations

from typing import Any

from ..errors import VtigerApiError, access_denied
from ..modules import Module
from ..store import epoch_to_text, now_epoch, qi
from .core import HIDDEN_USER_FIELDS, ID_RE, MAX_CRMID, Core, ServerCrash, User
from .values import (
    autonumber,
    autonumber_field,
    check_mandatory,
    default_value,
    normalize,
    writable,
)
from .wire import rows_to_records, with_label

#: Users fields a revise/update may not touch.
PROTECTED_USER_FIELDS = frozenset({"user_name", "is_admin", "roleid", "user_password",
                                   "confirm_password", "accesskey", "is_owner", "status"})

#: module -> (status field, closed values, value a reopen sets)
REOPEN_STATUS: dict[str, tuple[str, frozenset[str], str]] = {
    "HelpDesk": ("ticketstatus", frozenset({"Closed"}), "Open"),
    "Potentials": ("sales_stage", frozenset({"Closed Won", "Closed Lost"}), "Prospecting"),
    "Project": ("projectstatus", frozenset({"completed", "archived"}), "in progress"),
    "ProjectTask": ("projecttaskstatus", frozenset({"Completed"}), "In Progress"),
    "Calendar": ("taskstatus", frozenset({"Completed"}), "In Progress"),
    "Events": ("eventstatus", frozenset({"Held"}), "Planned"),
}


class RecordsBackend:
    """Record writes follow the real server's validation order, forms and error codes."""

    def __init__(self, core: Core) -> None:
        self.core = core

    # ------------------------------------------------------------------------- writes
    def create(self, user: User, module: object, element: dict[str, Any]) -> dict:
        """Create one record; returns it whole (with ``label``)."""
        core = self.core
        m = core.module(module)
        if not m.describe.get("createable", True) or not m.is_entity or m.name == "Users":
            raise access_denied()
        values = {k: v for k, v in element.items() if isinstance(k, str) and writable(m, k)}
        texts = {k: normalize(core.settings, m, k, v, user) for k, v in values.items()}
        check_mandatory(m, texts, m.fields)
        for k, v in texts.items():
            if m.fields[k]["type"]["name"] in ("reference", "owner"):
                self.check_reference(m, k, v)
        return self._insert(m, user, texts)

    def _insert(self, m: Module, user: User, texts: dict) -> dict:
        epoch = now_epoch()
        ts = epoch_to_text(epoch)
        row: dict[str, Any] = {}
        for f in m.describe["fields"]:
            n = f["name"]
            row[n] = texts[n] if n in texts else default_value(f)
        for n in ("createdtime", "modifiedtime"):
            if n in m.fields:
                row[n] = ts
        if "modifiedby" in m.fields:
            row["modifiedby"] = user.id
        if "source" in m.fields:
            row["source"] = "WEBSERVICE"
        st = self.core.store
        with st.transaction():
            auto = autonumber_field(m)
            if auto:
                row[auto] = autonumber(m, st.next_seq(f"autonum:{m.name}"))
            row["_mtime"] = epoch
            (rid,) = st.insert_rows(m, [row])
        row.pop("_mtime")
        row["id"] = rid
        rec = {n: row.get(n, "") for n in st.tables[m.name].fields}
        return with_label(self.core.modules, m, rec)

    def check_reference(self, m: Module, name: str, value: str) -> None:
        """References and owners must point at live records of an allowed module."""
        if not value:
            return
        f = m.fields[name]
        ftype = f["type"]["name"]
        allowed = ["Users", "Groups"] if ftype == "owner" else list(f["type"].get("refersTo", []))
        bad = VtigerApiError("REFERENCE_INVALID", f"Invalid reference specified for {name}", 400)
        mo = ID_RE.fullmatch(value)
        if mo is None or int(mo.group(2)) > MAX_CRMID:
            raise bad
        st = self.core.store
        target = st.by_prefix.get(mo.group(1))
        if target is None or (allowed and target.name not in allowed):
            raise bad
        with st.lock:
            if not st.exists(target, int(mo.group(2))):
                raise bad

    def update(self, user: User, element: dict[str, Any]) -> dict:
        """Full update: mandatory fields required, omitted fields keep their values."""
        return self._write(user, element, full=True)

    def revise(self, user: User, element: dict[str, Any]) -> dict:
        """Partial update; returns the whole record."""
        return self._write(user, element, full=False)

    def _write(self, user: User, element: dict[str, Any], full: bool) -> dict:
        core = self.core
        m, crmid, old = core.load_live(element.get("id"))
        if m.name == "Users":
            # users may edit their own preferences (admin: anyone's), never identity/secrets
            if user.crmid != 1 and crmid != user.crmid:
                raise access_denied()
            element = {k: v for k, v in element.items() if k not in PROTECTED_USER_FIELDS}
        elif not m.is_entity:
            raise access_denied()
        values = {k: v for k, v in element.items() if isinstance(k, str) and writable(m, k)}
        texts = {k: normalize(core.settings, m, k, v, user) for k, v in values.items()}
        if full:
            # update: every mandatory field must be restated; an empty reference is ignored.
            check_mandatory(m, texts, m.fields)
            texts = {
                k: v for k, v in texts.items()
                if v or m.fields[k]["type"]["name"] not in ("reference",)
            }
        else:
            check_mandatory(m, texts, texts)
        for k, v in texts.items():
            if m.fields[k]["type"]["name"] in ("reference", "owner"):
                self.check_reference(m, k, v)
        epoch = now_epoch()
        if "modifiedby" in m.fields:
            texts["modifiedby"] = user.id
        with core.store.transaction():
            core.store.update_values(m, crmid, texts, epoch)
        new = dict(old)
        new.update(texts)
        if "modifiedtime" in new:
            new["modifiedtime"] = epoch_to_text(epoch)
        # a real update/revise answers currency1 0 whatever the price (revise_Products_*)
        return with_label(core.modules, m, new, currency1=0)

    def delete(self, user: User, record_id: object) -> dict:
        """Soft delete (sync reports it); deleting again is ACCESS_DENIED."""
        m, crmid, _rec = self.core.load_live(record_id)
        if not m.is_entity or m.name == "Users":
            raise access_denied()
        with self.core.store.transaction():
            self.core.store.mark_deleted(m, crmid, now_epoch())
        return {"status": "successful"}

    # -------------------------------------------------------------------------- reads
    def retrieve(self, user: User, record_id: object) -> dict:
        """One live record with its label (a converted lead stays retrievable, as in Vtiger)."""
        core = self.core
        m, crmid = core.parse_id(record_id)
        if m.name == "Leads":
            with core.store.lock:
                converted = core.store.conn.execute(
                    "SELECT 1 FROM converted_leads WHERE crmid = ?", (crmid,)).fetchone()
                got = core.store.fetch(m, crmid) if converted else None
            if got is not None:
                return with_label(core.modules, m, got[0])
        m, _crmid, rec = core.load_live(record_id)
        out = with_label(core.modules, m, rec)
        if m.name == "Users":
            del out["label"]  # retrieve_Users_admin (a revise of a user does carry one)
        return out

    def retrieve_inventory(self, user: User, record_id: object) -> dict:
        """A record with its ``LineItems`` (the sandbox stores no line items: always ``[]``).

        Stock 8.2 on PHP 8 crashes on it (retrieve_inventory_stock); the sync-capable build
        answers any record, inventory or not (sync-capable_retrieve_inventory_nonInventory).
        """
        if self.core.settings.get("flavor") == "self-hosted-stock":
            raise ServerCrash("retrieve_inventory on stock 8.2")
        rec = self.retrieve(user, record_id)
        rec["LineItems"] = []
        return rec

    def files_retrieve(self, user: User, record_id: object) -> dict:
        """The sandbox stores no attachments: any id is RECORD_NOT_FOUND, as Vtiger answers
        for an id that is not an attachment.
        """
        self.core.parse_id(record_id)
        raise VtigerApiError("RECORD_NOT_FOUND", "Record you are trying to access is not found",
                             404)

    def lookup(self, user: User, kind: str, value: str,
               search_in: dict[str, list[Any]] | None) -> list[dict]:
        """Exact phone/email search over the given (or all phone/email) fields.

        ``search_in``: module -> fields to search (empty: every field of the ``kind``);
        None: Contacts, Leads and Accounts.
        """
        if kind not in ("phone", "email"):
            raise VtigerApiError("INVALID_PARAMETER", "type must be phone or email", 400)
        search = search_in if search_in is not None else {
            "Contacts": [], "Leads": [], "Accounts": []}
        out: list[dict] = []
        if not value:
            return out
        st = self.core.store
        with st.lock:
            for name, wanted in search.items():
                m = self.core.module(name)
                mt = st.tables[m.name]
                cols = [f["name"] for f in m.describe["fields"] if f["type"]["name"] == kind]
                if wanted:
                    cols = [c for c in wanted if isinstance(c, str) and c in m.fields]
                if not cols:
                    continue
                where = " OR ".join(f"{qi(c)} = ?" for c in cols)
                rows = st.conn.execute(
                    f"{mt.select_sql} WHERE deleted = 0 AND ({where}) ORDER BY crmid LIMIT 100",
                    [value] * len(cols)).fetchall()
                out += rows_to_records(mt.fields, rows)
        return out

    # --------------------------------------------------------- Cloud-only record APIs
    def reopen(self, user: User, record_id: object) -> dict:
        """Reopen a closed record: its closing status goes back to the module's open one.

        A record that is not closed stays as it is (the answer is the same).
        """
        self.core.cloud_only("reopen")
        m, crmid, rec = self.core.load_live(record_id)
        rule = REOPEN_STATUS.get(m.name)
        if rule is not None and rec.get(rule[0]) in rule[1]:
            changes = {rule[0]: rule[2]}
            if "modifiedby" in m.fields:
                changes["modifiedby"] = user.id
            with self.core.store.transaction():
                self.core.store.update_values(m, crmid, changes, now_epoch())
        return {"message": "Record reopened successfully."}

    def decrypt(self, user: User, record_id: object, fieldname: object) -> str:
        """The clear value of one field of a record (``result`` is the bare string)."""
        self.core.cloud_only("decrypt")
        m, _crmid, rec = self.core.load_live(record_id)
        if not isinstance(fieldname, str) or fieldname not in m.fields \
                or fieldname in HIDDEN_USER_FIELDS:
            raise access_denied(f"Permission to access {fieldname} attribute denied.")
        return str(rec.get(fieldname, ""))
