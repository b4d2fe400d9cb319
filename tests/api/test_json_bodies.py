"""Hostile JSON to every staff route that reads JSON: too deep, not UTF-8, too large, not
JSON at all. Each is a 4xx with the JSON error shape, never a 500, and changes nothing.
The routes are found by walking the URL map, so a JSON route added later is covered."""

from __future__ import annotations

from typing import Any

import pytest
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE, DataSource

from smsbank.core.models import AuditEvent, Customer
from smsbank.http import MAX_JSON_BYTES
from tests.raw_http import Upload

JSON = {"Content-Type": "application/json"}

HOSTILE = {
    "nested_list_100k": (b"[" * 100_000, 413),  # what the fuzzer sent: past the cap, unread
    "nested_list": (b"[" * 60_000, 400),
    "nested_object": (b'{"a":' * 12_000, 400),
    "latin1": (b'{"name": "Jos\xe9", "phone": "+15550100001"}', 400),
    "utf16": ('{"name": "Ada", "phone": "+15550100001"}'.encode("utf-16"), 400),
    "truncated": (b'{"name": "Ada", "phone": "+155', 400),
    "too_large": (b'{"name": "' + b"a" * MAX_JSON_BYTES + b'"}', 413),
}


def json_routes(app: Any) -> list[tuple[str, str]]:
    routes = []
    for rule in app.app.url_map.iter_rules():
        view = app.app.view_functions[rule.endpoint]
        schema = getattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
        if schema is None or schema[1] != DataSource.JSON:
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS", "GET"}):
            routes.append((method, path))
    return routes


def test_the_staff_json_routes_are_found(app: Any) -> None:
    found = {path for _, path in json_routes(app)}
    assert {"/api/v1/customers", "/update_mobile", "/withdraw"} <= found
    assert len(found) >= 7


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_hostile_json_is_a_clear_4xx_on_every_route(
    app: Any, client: Any, staff: dict[str, str], make_customer: Any, kind: str
) -> None:
    await make_customer()  # customer 1 exists, so routes with an id get past the lookup
    body, status = HOSTILE[kind]
    events_before = await AuditEvent.all().count()
    for method, path in json_routes(app):
        response = await client.open(path, method=method, data=body, headers={**staff, **JSON})
        assert response.status_code == status, f"{method} {path}: {response.status_code}"
        error = (await response.get_json())["error"]
        assert error["code"] in ("invalid_json", "payload_too_large"), (path, error)
        assert error["message"]
    assert await Customer.all().count() == 1
    assert await AuditEvent.all().count() == events_before


async def test_a_chunked_body_is_cut_at_the_cap(live_bank: str, staff: dict[str, str]) -> None:
    """No Content-Length: the server counts as the body arrives and answers at the first
    chunk past the cap, though the body has not ended."""
    upload = await Upload.start(
        live_bank, "/api/v1/customers", {**staff, **JSON, "Transfer-Encoding": "chunked"}
    )
    try:
        await upload.send(b'{"name": "' + b"a" * MAX_JSON_BYTES, chunked=True)
        assert await upload.status() == 413
    finally:
        upload.close()


async def test_good_json_still_works(client: Any, staff: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/customers", json={"name": "José Núñez", "phone": "+15550100003"}, headers=staff
    )
    assert response.status_code == 201
    assert (await response.get_json())["name"] == "José Núñez"
