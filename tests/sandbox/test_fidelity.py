"""Answers that differ from a module's describe or from the obvious, as a real server's do.

Each behaviour is one recording of ``/work/shared/vtiger-reference`` (named in the test); the
replay test checks the shapes wholesale, these pin each rule on its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.testing import SandboxServer


@pytest.fixture(scope="module")
def self_hosted(tmp_path_factory) -> Iterator[SandboxServer]:
    with SandboxServer(tmp_path_factory.mktemp("sh") / "sh.sqlite", flavor="self-hosted") as s:
        yield s


@pytest.fixture
def shws(self_hosted: SandboxServer) -> WebService:
    client = WebService(self_hosted)
    client.login()
    return client


def result(resp) -> object:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["success"] is True, body
    return body["result"]


def crashed(resp) -> bool:
    return resp.status_code == 500 and resp.content == b""


# ------------------------------------------------------------------ records vs describe
def test_a_product_record_carries_currency_fields_its_describe_does_not(rest: Rest) -> None:
    product = rest.create("Products", productname="Widget", unit_price="9.99")
    assert product["currency_id"] == "21x1"
    assert isinstance(product["currency1"], int)  # a JSON number, not a string
    assert not {"tax1", "tax2", "tax3"} & product.keys()
    describe = rest.ok("GET", "describe", elementType="Products")
    names = {f["name"] for f in describe["fields"]}
    assert "currency_id" not in names and {"tax1", "currency1"} <= names


def test_a_retrieved_product_has_the_create_form(rest: Rest) -> None:
    pid = rest.create("Products", productname="Gadget", unit_price="12")["id"]
    got = rest.ok("GET", "retrieve", id=pid)
    assert got["currency1"] == 12 and got["currency_id"] == "21x1"
    assert "tax1" not in got


def test_a_revised_product_answers_currency1_zero(rest: Rest) -> None:
    pid = rest.create("Products", productname="Gizmo", unit_price="5")["id"]
    revised = rest.ok("POST", "revise", element={"id": pid, "unit_price": "9.99"})
    assert revised["currency1"] == 0 and revised["currency_id"] == "21x1"
    assert "tax2" not in revised


def test_query_and_sync_rows_of_products_carry_no_price_pseudo_fields(rest: Rest) -> None:
    rest.create("Products", productname="Sprocket", unit_price="3")
    rows = rest.ok("GET", "query", query="select * from Products;")
    synced = rest.ok("GET", "sync", modifiedTime="1", elementType="Products")["updated"]
    for row in rows + synced:
        assert not {"tax1", "tax2", "tax3", "currency1", "currency_id"} & row.keys()
        assert row["unit_price"].endswith(".00000000") or "." in row["unit_price"]


def test_helpdesk_records_carry_update_log_everywhere(rest: Rest) -> None:
    ticket = rest.create("HelpDesk", ticket_title="Printer on fire", ticketstatus="Open",
                           ticketpriorities="High")
    assert ticket["update_log"] == ""
    assert "update_log" in rest.ok("GET", "retrieve", id=ticket["id"])
    assert all("update_log" in r for r in rest.ok("GET", "query", query="select * from HelpDesk;"))
    synced = rest.ok("GET", "sync", modifiedTime="1", elementType="HelpDesk")["updated"]
    assert synced and all("update_log" in r for r in synced)
    describe = rest.ok("GET", "describe", elementType="HelpDesk")
    assert "update_log" not in {f["name"] for f in describe["fields"]}


def test_retrieve_of_a_user_has_no_label_but_a_revise_does(rest: Rest) -> None:
    assert "label" not in rest.ok("GET", "retrieve", id="19x1")
    revised = rest.ok("POST", "revise", element={"id": "19x1", "title": "Boss"})
    assert "label" in revised


def test_listtypes_filtered_by_field_type_leaves_users_out(rest: Rest) -> None:
    got = rest.ok("GET", "listtypes", fieldTypeList='["email"]')
    assert {"Contacts", "Leads", "Accounts", "Vendors"} <= set(got["types"])
    assert "Users" not in got["types"] and "Users" not in got["information"]
    assert "Users" in rest.ok("GET", "listtypes")["types"]


# ------------------------------------------------------------------------------ VTQL
def test_order_by_a_column_of_a_table_the_query_does_not_join_returns_nothing(
        rest: Rest) -> None:
    rest.create("Contacts", lastname="Orderly", firstname="A", leadsource="Web Site")
    q = "select lastname, firstname from Contacts order by leadsource, lastname desc limit 5;"
    assert rest.ok("GET", "query", query=q) == []
    # the main table and the selected/compared columns' tables are joined: these work
    for q in ("select id from Contacts order by lastname limit 3;",
              "select id from Contacts order by modifiedtime, id limit 3;",
              "select * from Contacts order by leadsource limit 3;",
              "select lastname from Contacts where leadsource = 'Web Site' order by leadsource;"):
        assert rest.ok("GET", "query", query=q), q


@pytest.mark.parametrize(("query", "message"), [
    ("select from Contacts;",
     "Syntax Error on line 1: token 'from' Unexpected FRM(from), expected one of: COLUMNNAME"),
    ("select id from Contacts where lastname = 'a' and (firstname = 'a' or firstname = 'b');",
     "Syntax Error on line 1: token '(' Unexpected PARENOPEN((), expected one of: SEMICOLON"),
    ("select id from Contacts where (lastname = 'a');",
     "Syntax Error on line 1: token '(' Unexpected PARENOPEN((), expected one of: COLUMNNAME"),
])
def test_syntax_errors_are_worded_as_the_real_servers(rest: Rest, query: str,
                                                      message: str) -> None:
    _status, err = rest.error("GET", "query", query=query)
    assert (err["code"], err["message"]) == ("QUERY_SYNTAX_ERROR", message)


# ------------------------------------------------------------------------ self-hosted
def test_self_hosted_crashes_on_format_xml(shws: WebService) -> None:
    resp = shws.get("listtypes", format="xml")
    assert resp.status_code == 500 and resp.content == b""
    assert resp.headers["content-type"] == "application/json"  # error_format_xml
    assert result(shws.get("listtypes", format="json"))["types"]


def test_self_hosted_crashes_on_sync_of_emails(shws: WebService) -> None:
    assert crashed(shws.get("sync", modifiedTime="1", elementType="Emails"))
    assert "updated" in result(shws.get("sync", modifiedTime="1", elementType="Contacts"))


def test_self_hosted_crashes_on_a_grouped_currency_amount(shws: WebService) -> None:
    product = result(shws.post("create", elementType="Products",
                               element={"productname": "W", "assigned_user_id": "19x1"}))
    assert crashed(shws.post("revise", element={"id": product["id"], "unit_price": "1,234.56"}))
    kept = result(shws.get("retrieve", id=product["id"]))
    assert kept["unit_price"] == product["unit_price"]  # nothing was written
    assert result(shws.post("revise", element={"id": product["id"], "unit_price": "1234.56"}))


def test_retrieve_inventory_answers_line_items_on_the_sync_capable_build(
        shws: WebService) -> None:
    lead = result(shws.post("create", elementType="Leads", element={
        "lastname": "SeedLead01", "company": "Co", "assigned_user_id": "19x1"}))
    got = result(shws.get("retrieve_inventory", id=lead["id"]))
    assert got["LineItems"] == [] and got["id"] == lead["id"] and got["label"] == "SeedLead01"

