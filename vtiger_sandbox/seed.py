"""Seed data: ``demo`` (a realistic, deterministic CRM) and ``N`` (N Contacts for benchmarks).

Rows are built in Python and written with one ``executemany`` per module inside a single
transaction, which keeps ``--seed demo`` well under a second. Everything derives from a
fixed ``random.Random`` and a fixed clock, so two demo databases are identical (ids included).
"""

# SQL is built only from identifiers out of the module describes (quoted by qi/Module.table);
# every value goes in as a ? parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import random
from typing import Any

from .backend import VtigerBackend
from .backend.settings import check_picklist_dependencies
from .backend.values import autonumber, autonumber_field, currency, default_value
from .modules import Module
from .store import epoch_to_text, text_to_epoch

#: 2025-06-01 00:00:00 UTC; demo records are modified from here on, one second apart-ish.
DEMO_EPOCH = 1748736000
#: The modifiedtime shared by a block of demo Contacts (sync tie tests use it).
DEMO_TIE_TEXT = "2025-06-02 12:00:00"
DEMO_TIE_COUNT = 150

FIRST = ["Alice", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Kemal", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
         "Ursula", "Viktor", "Wen", "Xenia", "Yusuf", "Zoë", "Renée", "Søren", "Łukasz", "José"]
LAST = ["Smith", "Müller", "García", "Rossi", "Nakamura", "Kowalski", "Johansson", "Dubois",
        "O'Brien", "Novák", "Silva", "Yilmaz", "Schmidt", "Jensen", "Kim", "Papadopoulos",
        "Ivanova", "Horváth", "van Dijk", "Costa", "Fischer", "Lindqvist", "Moreau", "Ng"]
COMPANY_A = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell",
             "Cyberdyne", "Soylent", "Hooli", "Vandelay", "Aperture", "Monarch", "Oscorp"]
COMPANY_B = ["Industries", "Corp", "GmbH", "Ltd", "& Sons", "Systems", "Labs", "Holdings",
             "Partners", "Logistics"]
TAGS = ["vip", "newsletter", "partner", "churn-risk", "event-2025", "key account"]
#: Picklist dependencies of the demo CRM (``picklist_dependency``; the
#: ``picklist_dependencies`` setting): trouble-ticket category -> allowed severities and
#: priorities. The demo tickets were drawn without them, like records created through the API,
#: which Vtiger does not check against dependencies.
DEMO_PICKLIST_DEPENDENCIES: list[dict[str, Any]] = [
    {"module": "HelpDesk", "sourcefield": "ticketcategories", "targetfield": "ticketseverities",
     "valuemapping": [
         {"sourcevalue": "Big Problem", "targetvalues": ["Major", "Critical"]},
         {"sourcevalue": "Small Problem", "targetvalues": ["Minor", "Feature"]},
         {"sourcevalue": "Other Problem", "targetvalues": ["Minor", "Major", "Feature",
                                                           "Critical"]},
     ]},
    {"module": "HelpDesk", "sourcefield": "ticketcategories", "targetfield": "ticketpriorities",
     "valuemapping": [
         {"sourcevalue": "Big Problem", "targetvalues": ["High", "Urgent"]},
         {"sourcevalue": "Small Problem", "targetvalues": ["Low", "Normal"]},
         {"sourcevalue": "Other Problem", "targetvalues": ["Low", "Normal", "High"]},
     ]},
]


def _picklist(m: Module, name: str) -> list[str]:
    f = m.fields.get(name)
    vals = [p["value"] for p in (f or {}).get("type", {}).get("picklistValues", [])] if f else []
    return vals or [""]


class _Builder:
    """Builds full rows for one module with the server-maintained fields filled."""

    def __init__(self, backend: VtigerBackend, m: Module) -> None:
        self.backend, self.m = backend, m
        self.base = {
            f["name"]: default_value(f) for f in m.describe["fields"]
        }
        for n, v in (("modifiedby", "19x1"), ("source", "WEBSERVICE"),
                     ("assigned_user_id", "19x1")):
            if n in m.fields:
                self.base[n] = v
        self.auto = autonumber_field(m)
        self.rows: list[dict[str, Any]] = []

    def add(self, epoch: int, created: int, deleted: bool = False, **values: str) -> int:
        row = dict(self.base)
        row.update({k: v for k, v in values.items() if k in row})
        if "createdtime" in row:
            row["createdtime"] = epoch_to_text(created)
        if "modifiedtime" in row:
            row["modifiedtime"] = epoch_to_text(epoch)
        row["_mtime"] = epoch
        row["_deleted"] = 1 if deleted else 0
        self.rows.append(row)
        return len(self.rows) - 1

    def write(self) -> list[str]:
        st = self.backend.store
        if self.auto:
            first = st.reserve_seq(f"autonum:{self.m.name}", len(self.rows))
            for i, row in enumerate(self.rows):
                row[self.auto] = autonumber(self.m, first + i)
        return st.insert_rows(self.m, self.rows)


def seed_demo(backend: VtigerBackend) -> dict[str, int]:
    """The demo CRM. Idempotent: a database already seeded is left alone."""
    st = backend.store
    if st.get_setting("seeded"):
        return {}
    rng = random.Random(20251122)
    mods = backend.modules

    def money(text: str) -> str:
        return currency(backend.settings, text)

    counts: dict[str, int] = {}
    clock = [DEMO_EPOCH]

    def tick(max_step: int = 3) -> int:
        clock[0] += rng.randint(0, max_step)
        return clock[0]

    owners = ["19x1"] * 8 + ["20x2", "20x3"]
    with st.transaction():
        # Accounts (a few with parents, for get_account_hierarchy)
        acc = _Builder(backend, mods["Accounts"])
        acc_ids: list[str] = []
        for i in range(500):
            t = tick()
            name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {i + 1}"
            acc.add(t, t - 86400, deleted=(i >= 450 and i % 10 == 3), accountname=name,
                    industry=rng.choice(_picklist(acc.m, "industry")),
                    accounttype=rng.choice(_picklist(acc.m, "accounttype")),
                    rating=rng.choice(_picklist(acc.m, "rating")),
                    phone=f"+1 555 {rng.randint(1000, 9999)}",
                    website=f"https://www.example{i}.com", employees=str(rng.randint(1, 5000)),
                    annual_revenue=money(str(rng.randint(10_000, 9_000_000))),
                    bill_city=rng.choice(["Berlin", "Paris", "Austin", "Osaka", "Lagos"]),
                    assigned_user_id=rng.choice(owners), email1=f"info@example{i}.com")
        all_acc_ids = acc.write()
        counts["Accounts"] = len(all_acc_ids)
        acc_ids = all_acc_ids[:450]  # the live ones others refer to
        # Parent chain: accounts 2..40 hang under earlier ones.
        accounts = mods["Accounts"]
        for i in range(1, 40):
            st.conn.execute(f"UPDATE {accounts.table} SET account_id = ? WHERE id = ?",
                            (acc_ids[(i - 1) // 3], acc_ids[i]))

        con = _Builder(backend, mods["Contacts"])
        for i in range(2000):
            t = tick()
            first, last = rng.choice(FIRST), rng.choice(LAST)
            con.add(t, t - 3600, deleted=(i % 97 == 5), firstname=first, lastname=last,
                    email=f"{first.lower()}.{i}@example.org".replace("'", ""),
                    phone=f"+49 30 {rng.randint(100000, 999999)}",
                    mobile=f"+1 415 {rng.randint(1000000, 9999999)}",
                    account_id=rng.choice(acc_ids) if rng.random() < 0.9 else "",
                    leadsource=rng.choice(_picklist(con.m, "leadsource")),
                    birthday=f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-"
                             f"{rng.randint(1, 28):02d}",
                    mailingcity=rng.choice(["Berlin", "München", "São Paulo", "Zürich", "Kyiv"]),
                    emailoptout=rng.choice(["0", "0", "1"]),
                    assigned_user_id=rng.choice(owners),
                    description=rng.choice(["", "Met at the fair.", "Prefers email 📧",
                                            'Says "hi" & <b>waves</b>']))
        # A block sharing one modifiedtime (sync ties across the page limit).
        tie = text_to_epoch(DEMO_TIE_TEXT)
        for row in con.rows[1000:1000 + DEMO_TIE_COUNT]:
            row["_mtime"] = tie
            row["modifiedtime"] = DEMO_TIE_TEXT
        con_ids = con.write()
        counts["Contacts"] = len(con_ids)

        lea = _Builder(backend, mods["Leads"])
        for i in range(1000):
            t = tick()
            lea.add(t, t - 7200, deleted=(i % 113 == 7), firstname=rng.choice(FIRST),
                    lastname=rng.choice(LAST), company=f"{rng.choice(COMPANY_A)} Lead {i}",
                    email=f"lead{i}@example.net",
                    leadsource=rng.choice(_picklist(lea.m, "leadsource")),
                    leadstatus=rng.choice(_picklist(lea.m, "leadstatus")),
                    industry=rng.choice(_picklist(lea.m, "industry")),
                    annualrevenue=money(str(rng.randint(0, 500000))),
                    assigned_user_id=rng.choice(owners))
        counts["Leads"] = len(lea.write())

        pot = _Builder(backend, mods["Potentials"])
        for i in range(300):
            t = tick()
            pot.add(t, t - 600, deleted=(i % 61 == 3), potentialname=f"Deal {i + 1}",
                    related_to=rng.choice(acc_ids), contact_id=rng.choice(con_ids),
                    amount=money(f"{rng.randint(500, 250000)}.{rng.randint(0, 99):02d}"),
                    closingdate=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    sales_stage=rng.choice(_picklist(pot.m, "sales_stage")),
                    leadsource=rng.choice(_picklist(pot.m, "leadsource")),
                    probability=str(rng.randint(0, 100)),
                    assigned_user_id=rng.choice(owners))
        pot_ids = pot.write()
        counts["Potentials"] = len(pot_ids)

        hd = _Builder(backend, mods["HelpDesk"])
        for i in range(200):
            t = tick()
            hd.add(t, t - 60, deleted=(i % 53 == 11), ticket_title=f"Ticket {i + 1}",
                   parent_id=rng.choice(acc_ids), contact_id=rng.choice(con_ids),
                   ticketpriorities=rng.choice(_picklist(hd.m, "ticketpriorities")),
                   ticketstatus=rng.choice(_picklist(hd.m, "ticketstatus")),
                   ticketseverities=rng.choice(_picklist(hd.m, "ticketseverities")),
                   ticketcategories=rng.choice(_picklist(hd.m, "ticketcategories")),
                   assigned_user_id=rng.choice(owners), description="Customer reports an issue.")
        counts["HelpDesk"] = len(hd.write())

        # A small catalogue: vendors, products, campaigns (for discovery and N:N relations)
        ven = _Builder(backend, mods["Vendors"])
        for i in range(10):
            t = tick()
            ven.add(t, t - 100, vendorname=f"{rng.choice(COMPANY_A)} Supply {i + 1}",
                    email=f"sales@vendor{i}.example", glacct=rng.choice(_picklist(ven.m, "glacct")))
        ven_ids = ven.write()
        counts["Vendors"] = len(ven_ids)
        prod = _Builder(backend, mods["Products"])
        for i in range(50):
            t = tick()
            prod.add(t, t - 100, productname=f"Widget {i + 1}", vendor_id=rng.choice(ven_ids),
                     productcategory=rng.choice(_picklist(prod.m, "productcategory")),
                     usageunit=rng.choice(_picklist(prod.m, "usageunit")),
                     unit_price=money(f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"),
                     qtyinstock=f"{rng.randint(0, 500)}.000", discontinued="1")
        prod_ids = prod.write()
        counts["Products"] = len(prod_ids)
        camp = _Builder(backend, mods["Campaigns"])
        for i in range(5):
            t = tick()
            camp.add(t, t - 100, campaignname=f"Campaign {2025 + i}",
                     campaigntype=rng.choice(_picklist(camp.m, "campaigntype")),
                     campaignstatus=rng.choice(_picklist(camp.m, "campaignstatus")),
                     closingdate=f"202{6 + i % 3}-0{1 + i}-15", product_id=rng.choice(prod_ids),
                     expectedrevenue=money(str(rng.randint(1000, 90000))))
        camp_ids = camp.write()
        counts["Campaigns"] = len(camp_ids)

        def crm(rid: str) -> int:
            return int(rid.split("x")[1])

        links = set()
        for cid in con_ids[::7]:
            links.add((crm(rng.choice(camp_ids)), crm(cid), "Contacts"))
        for pid in pot_ids:
            for prod_id in rng.sample(prod_ids, rng.randint(0, 2)):
                links.add((crm(pid), crm(prod_id), "Products"))
        st.conn.executemany("INSERT OR IGNORE INTO relations (src, dst, label) VALUES (?, ?, ?)",
                            sorted(links))

        # Tags
        tag_rows = set()
        for rid in con_ids[:400] + acc_ids[:100]:
            if rng.random() < 0.3:
                for tag in rng.sample(TAGS, rng.randint(1, 2)):
                    tag_rows.add((int(rid.split("x")[1]), tag))
        st.conn.executemany("INSERT OR IGNORE INTO tags (crmid, tag) VALUES (?, ?)",
                            sorted(tag_rows))
        # A record's `tags` field lists its tags, as tags_retrieve does (a Cloud server keeps
        # them in step); modifiedtime stays, as tagging does not change it there either.
        by_record: dict[int, list[str]] = {}
        for crmid, tag in st.conn.execute("SELECT crmid, tag FROM tags ORDER BY rowid"):
            by_record.setdefault(crmid, []).append(tag)
        for name, ids in (("Contacts", con_ids[:400]), ("Accounts", acc_ids[:100])):
            table = mods[name].table
            st.conn.executemany(
                f"UPDATE {table} SET tags = ? WHERE crmid = ?",
                [(",".join(by_record[crm(rid)]), crm(rid)) for rid in ids
                 if crm(rid) in by_record])
        # Picklist dependencies, unless the server was started with some (--config).
        settings = dict(backend.settings)
        if not settings.get("picklist_dependencies"):
            settings["picklist_dependencies"] = check_picklist_dependencies(
                mods, DEMO_PICKLIST_DEPENDENCIES)
            st.conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('config', ?)",
                            (json.dumps(settings),))
        st.conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('seeded', 'true')")
    backend.settings.update(settings)
    _demo_team(backend)
    return counts


#: The demo CRM's other users (login, first name, last name, access key): a self-hosted CRM
#: with several users is the normal case, and sync there sees only the caller's own records.
DEMO_USERS = [("maria", "Maria", "Sales", "demo-maria-key"),
              ("tom", "Tom", "Support", "demo-tom-key")]
#: Modules whose demo records are shared out among the users (admin, maria, tom, groups).
DEMO_SHARED_MODULES = ("Accounts", "Contacts", "Leads", "Potentials", "HelpDesk")


def _demo_team(backend: VtigerBackend) -> None:
    """Add the demo users and give each about a quarter of the admin's records (by crmid, so
    the draw of the rest of the demo data is unchanged).
    """
    users = [backend.users.add_user(name, first, last, key)
             for name, first, last, key in DEMO_USERS]
    with backend.store.transaction() as c:
        for name in DEMO_SHARED_MODULES:
            m = backend.modules[name]
            for i, user in enumerate(users, start=1):
                c.execute(f"UPDATE {m.table} SET assigned_user_id = ? "
                          "WHERE assigned_user_id = '19x1' AND crmid % 4 = ?", (user["id"], i))


def seed_contacts(backend: VtigerBackend, n: int) -> list[str]:
    """N plain Contacts (for benchmarks): realistic width, ten records per second of mtime."""
    st = backend.store
    m = backend.modules["Contacts"]
    rng = random.Random(n)
    b = _Builder(backend, m)
    for i in range(n):
        t = DEMO_EPOCH + i // 10
        b.add(t, t, firstname=rng.choice(FIRST), lastname=f"{rng.choice(LAST)} {i}",
              email=f"bench{i}@example.org", phone=f"+1 555 {i:07d}",
              mailingcity=rng.choice(["Berlin", "Paris", "Austin"]),
              description="Benchmark contact with a realistic amount of text in it.")
    with st.transaction():
        return b.write()


def apply_seed(backend: VtigerBackend, seed: str | None) -> dict[str, int]:
    """``--seed demo|empty|N``."""
    if not seed or seed == "empty":
        return {}
    if seed == "demo":
        return seed_demo(backend)
    n = int(seed)
    if backend.store.get_setting("seeded"):
        return {}
    ids = seed_contacts(backend, n)
    backend.store.set_setting("seeded", True)
    return {"Contacts": len(ids)}
