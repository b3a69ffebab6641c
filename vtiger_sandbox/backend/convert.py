"""``convertlead``: a lead becomes an account, a contact and a potential."""

from __future__ import annotations

import json
from typing import Any

from ..errors import VtigerApiError
from ..store import now_epoch
from .core import Core, User
from .records import RecordsBackend

#: Lead field -> field of the entity created by convertlead.
LEAD_MAP: dict[str, dict[str, str]] = {
    "Contacts": {"salutationtype": "salutationtype", "firstname": "firstname",
                 "lastname": "lastname", "email": "email", "phone": "phone", "mobile": "mobile",
                 "fax": "fax", "leadsource": "leadsource", "designation": "title",
                 "secondaryemail": "secondaryemail", "emailoptout": "emailoptout",
                 "description": "description", "lane": "mailingstreet", "city": "mailingcity",
                 "state": "mailingstate", "code": "mailingzip", "country": "mailingcountry",
                 "pobox": "mailingpobox"},
    "Accounts": {"company": "accountname", "phone": "phone", "website": "website",
                 "industry": "industry", "annualrevenue": "annual_revenue",
                 "noofemployees": "employees", "rating": "rating", "lane": "bill_street",
                 "city": "bill_city", "state": "bill_state", "code": "bill_code",
                 "country": "bill_country", "pobox": "bill_pobox", "description": "description"},
    "Potentials": {"company": "potentialname", "leadsource": "leadsource",
                   "description": "description"},
}


class ConvertBackend:
    """Creates the entities through the records backend, then retires the lead."""

    def __init__(self, core: Core, records: RecordsBackend) -> None:
        self.core = core
        self.records = records

    def convertlead(self, user: User, element: dict[str, Any]) -> dict:
        """Lead -> Account/Contact/Potential; the lead then shows as deleted in sync."""
        lead_id = element.get("leadId")
        if isinstance(lead_id, list):
            lead_id = lead_id[0] if lead_id else None
        m, crmid = self.core.parse_id(lead_id)
        if m.name != "Leads":
            raise VtigerApiError("INVALID_ID_ATTRIBUTE", "Id specified is incorrect", 400)
        with self.core.store.lock:
            done = self.core.store.conn.execute(
                "SELECT 1 FROM converted_leads WHERE crmid = ?", (crmid,)).fetchone()
        if done:
            raise VtigerApiError("LEAD_ALREADY_CONVERTED", "Lead is already converted", 400)
        m, crmid, lead = self.core.load_live(lead_id)
        owner = element.get("assignedTo") or lead.get("assigned_user_id") or user.id
        entities = element.get("entities") if isinstance(element.get("entities"), dict) else {}
        result: dict[str, str] = {}
        for name in ("Accounts", "Contacts", "Potentials"):
            spec = entities.get(name)
            if not isinstance(spec, dict) or not spec.get("create", True):
                continue
            values = {dst: lead.get(src, "") for src, dst in LEAD_MAP[name].items()
                      if lead.get(src, "")}
            values.update({k: v for k, v in spec.items() if k not in ("create", "name")})
            values["assigned_user_id"] = owner
            if name == "Contacts" and "Accounts" in result:
                values.setdefault("account_id", result["Accounts"])
            if name == "Potentials":
                if "Accounts" in result:
                    values.setdefault("related_to", result["Accounts"])
                if "Contacts" in result:
                    values.setdefault("contact_id", result["Contacts"])
                values.setdefault("sales_stage", "Prospecting")
            if "isconvertedfromlead" in self.core.modules[name].fields:
                values["isconvertedfromlead"] = "1"
            rec = self.records.create(user, name, values)
            result[name] = rec["id"]
        if not result:
            raise VtigerApiError("MANDATORY_FIELDS_MISSING", "entities does not have a value", 400)
        with self.core.store.transaction():
            self.core.store.conn.execute(
                "INSERT INTO converted_leads (crmid, result) VALUES (?, ?)",
                (crmid, json.dumps(result)))
            self.core.store.mark_deleted(m, crmid, now_epoch())
        return result
