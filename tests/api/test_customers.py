"""Staff API for customers, deposits and transactions, over HTTP."""

from typing import Any

import pytest

from smsbank.ledger import ledger_total_minor
from smsbank.models import AuditEvent, Customer

CUSTOMER_FIELDS = {
    "id",
    "name",
    "phone",
    "account_number",
    "balance",
    "currency",
    "status",
    "face_enrolled",
    "language",
    "created_at",
}


async def create(client: Any, staff: dict[str, str], **body: Any) -> Any:
    return await client.post("/api/v1/customers", headers=staff, json=body)


async def test_create_fund_and_look_up_a_customer(client: Any, staff: dict[str, str]) -> None:
    response = await create(
        client, staff, name="Ada  Lovelace", phone="(555) 201-0001", initial_deposit="$1,000.50"
    )
    assert response.status_code == 201
    customer = await response.get_json()
    assert set(customer) >= CUSTOMER_FIELDS
    assert customer["name"] == "Ada Lovelace"
    assert customer["phone"] == "+15552010001"
    assert customer["balance"] == "1000.50"
    assert customer["currency"] == "USD"
    assert customer["status"] == "active"
    assert customer["face_enrolled"] is False
    assert customer["language"] == "en"  # unless staff say otherwise
    assert len(customer["account_number"]) == 10

    deposit = await client.post(
        f"/api/v1/customers/{customer['id']}/deposits", headers=staff, json={"amount": "20.5"}
    )
    assert deposit.status_code == 201
    body = await deposit.get_json()
    assert body["customer"]["balance"] == "1021.00"
    assert body["transaction"]["kind"] == "deposit"
    assert body["transaction"]["reference"].startswith("D-")

    history = await client.get(f"/api/v1/customers/{customer['id']}/transactions", headers=staff)
    transactions = (await history.get_json())["transactions"]
    assert [t["amount"] for t in transactions] == ["20.50", "1000.50"]  # newest first
    assert [t["balance_after"] for t in transactions] == ["1021.00", "1000.50"]
    assert await ledger_total_minor(customer["id"]) == 102100

    by_id = await client.get(f"/api/v1/customers/{customer['id']}", headers=staff)
    assert (await by_id.get_json())["balance"] == "1021.00"

    for path, expected in [
        ("/get_customer_id_by_name?name=ada%20lovelace", {"customer_id": customer["id"]}),
        ("/get_phone_number_by_name?name=Ada Lovelace", {"phone_number": "+15552010001"}),
    ]:
        response = await client.get(path, headers=staff)
        assert response.status_code == 200
        assert await response.get_json() == expected
    details = await client.get("/get_customer_details_by_phone?phone=555.201.0001", headers=staff)
    assert (await details.get_json())["id"] == customer["id"]

    listed = await client.get("/api/v1/customers?phone=%2B15552010001", headers=staff)
    assert [c["id"] for c in (await listed.get_json())["customers"]] == [customer["id"]]
    actions = await AuditEvent.filter(customer_id=customer["id"]).values_list("action", flat=True)
    assert "customer.created" in actions
    assert "deposit.recorded" in actions


async def test_name_lookups_say_none_or_several(client: Any, staff: dict[str, str]) -> None:
    assert (
        await client.get("/get_customer_id_by_name?name=Nobody", headers=staff)
    ).status_code == 404
    for phone in ("+15552010002", "+15552010003"):
        await create(client, staff, name="Sam Lee", phone=phone)
    response = await client.get("/get_customer_id_by_name?name=sam lee", headers=staff)
    assert response.status_code == 409
    body = await response.get_json()
    assert body["error"]["code"] == "ambiguous_name"
    assert len(body["candidates"]) == 2
    assert all("+1555201000" not in c["phone"] for c in body["candidates"])
    phone = await client.get("/get_phone_number_by_name?name=Sam Lee", headers=staff)
    assert phone.status_code == 409


async def test_duplicate_phone_is_a_conflict(client: Any, staff: dict[str, str]) -> None:
    assert (await create(client, staff, name="A", phone="+15552010004")).status_code == 201
    again = await create(client, staff, name="B", phone="555-201-0004")
    assert again.status_code == 409
    assert (await again.get_json())["error"]["code"] == "phone_taken"
    assert await Customer.filter(phone="+15552010004").count() == 1


async def test_patch_locks_and_renames(client: Any, staff: dict[str, str]) -> None:
    created = await (await create(client, staff, name="Lin", phone="+15552010005")).get_json()
    response = await client.patch(
        f"/api/v1/customers/{created['id']}",
        headers=staff,
        json={"status": "locked", "name": "Lin Wu"},
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["status"], body["name"]) == ("locked", "Lin Wu")


async def test_the_language_is_set_at_opening_and_changed_by_staff(
    client: Any, staff: dict[str, str]
) -> None:
    response = await create(client, staff, name="Ana", phone="+15552010006", language="es")
    assert response.status_code == 201
    created = await response.get_json()
    assert created["language"] == "es"
    patched = await client.patch(
        f"/api/v1/customers/{created['id']}", headers=staff, json={"language": "en"}
    )
    assert (await patched.get_json())["language"] == "en"
    refused = await client.patch(
        f"/api/v1/customers/{created['id']}", headers=staff, json={"language": "fr"}
    )
    assert refused.status_code == 400
    error = (await refused.get_json())["error"]
    assert error["code"] == "invalid_request" and "'en' or 'es'" in error["message"]
    assert (await Customer.get(id=created["id"])).language == "en"  # unchanged
    event = await AuditEvent.filter(action="customer.updated").order_by("-id").first()
    assert event is not None and event.details["fields"] == ["language"]


async def test_the_openapi_document_shows_the_language(client: Any) -> None:
    schema = await (await client.get("/openapi.json")).get_json()
    assert schema["components"]["schemas"]["Language"]["enum"] == ["en", "es"]
    paths = schema["paths"]
    bodies = [
        paths["/api/v1/customers"]["post"]["requestBody"]["content"]["application/json"],
        paths["/api/v1/customers/{customer_id}"]["patch"]["requestBody"]["content"][
            "application/json"
        ],
        paths["/add_customer"]["post"]["requestBody"]["content"]["multipart/form-data"],
        {"schema": schema["components"]["schemas"]["CustomerOut"]},
    ]
    for body in bodies:
        assert "Language" in str(body["schema"]["properties"]["language"]), body


BAD_CREATES = [
    {},
    {"name": "X"},
    {"phone": "+15552010009"},
    {"name": "", "phone": "+15552010009"},
    {"name": "   ", "phone": "+15552010009"},
    {"name": "X", "phone": "not a phone"},
    {"name": "X", "phone": "+15552010009", "initial_deposit": "-5"},
    {"name": "X", "phone": "+15552010009", "initial_deposit": "0"},
    {"name": "X", "phone": "+15552010009", "initial_deposit": "1.005"},
    {"name": "X", "phone": "+15552010009", "initial_deposit": "ten"},
    {"name": "X", "phone": "+15552010009", "initial_deposit": True},
    {"name": "X", "phone": "+15552010009", "initial_deposit": [1]},
    {"name": 5, "phone": "+15552010009"},
    {"name": "X\x00Y", "phone": "+15552010009"},
    {"name": "X" * 500, "phone": "+15552010009"},
    {"name": "X", "phone": "+15552010009", "surprise": 1},
    {"name": "X", "phone": "+15552010009", "language": "fr"},
    {"name": "X", "phone": "+15552010009", "language": "ES "},
    {"name": "X", "phone": "+15552010009", "language": None},
]


@pytest.mark.parametrize("body", BAD_CREATES)
async def test_bad_customer_input_is_a_clear_400(
    client: Any, staff: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/customers", headers=staff, json=body)
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] and error["message"]
    assert await Customer.all().count() == 0


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/api/v1/customers", {"data": "not json"}, 400),
        (
            "POST",
            "/api/v1/customers",
            {"data": "{", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("POST", "/api/v1/customers", {"json": [1, 2]}, 400),
        ("GET", "/api/v1/customers/999", {}, 404),
        ("GET", "/api/v1/customers/abc", {}, 404),
        ("PATCH", "/api/v1/customers/999", {"json": {"status": "locked"}}, 404),
        ("PATCH", "/api/v1/customers/1", {"json": {"status": "frozen"}}, 400),
        ("POST", "/api/v1/customers/999/deposits", {"json": {"amount": "5"}}, 404),
        ("POST", "/api/v1/customers/1/deposits", {"json": {"amount": "-5"}}, 400),
        ("POST", "/api/v1/customers/1/deposits", {"json": {}}, 400),
        ("GET", "/api/v1/customers/999/transactions", {}, 404),
        ("GET", "/api/v1/customers?limit=0", {}, 400),
        ("GET", "/api/v1/customers?limit=abc", {}, 400),
        ("GET", "/api/v1/customers?phone=xyz", {}, 400),
        ("GET", "/api/v1/withdrawals?status=bogus", {}, 400),
        ("GET", "/api/v1/audit?customer_id=abc", {}, 400),
        # A NUL in a search: PostgreSQL cannot compare with it, so it must be refused first.
        ("GET", "/api/v1/customers?name=A%00B", {}, 400),
        ("GET", "/api/v1/audit?action=A%00B", {}, 400),
        ("GET", "/get_customer_id_by_name?name=A%00B", {}, 400),
        ("GET", "/get_customer_id_by_name", {}, 400),
        ("GET", "/get_customer_id_by_name?name=", {}, 400),
        ("GET", "/get_phone_number_by_name", {}, 400),
        ("GET", "/get_customer_details_by_phone?phone=12", {}, 400),
        ("GET", "/get_customer_details_by_phone?phone=%2B15559999999", {}, 404),
        ("DELETE", "/api/v1/customers/1", {}, 405),
    ],
)
async def test_bad_admin_requests_get_json_4xx(
    client: Any,
    staff: dict[str, str],
    make_customer: Any,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    await make_customer(phone="+15552010010")  # customer 1 exists
    headers = {**staff, **kwargs.pop("headers", {})}
    response = await client.open(path, method=method, headers=headers, **kwargs)
    assert response.status_code == status
    body = await response.get_json()
    assert body["error"]["code"]
    assert body["error"]["message"]
