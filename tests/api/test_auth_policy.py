"""Every staff route answers 401 without a key and with a wrong key (walks the URL map,
so a route added later is covered without anyone remembering to add it here)."""

from typing import Any

import pytest

# Routes anyone may call: health checks, API docs, Twilio's webhooks (signed instead),
# capture links (the token is the credential), the console-only dev phone, static files.
PUBLIC_PREFIXES = (
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/webhooks/",
    "/capture/",
    "/c/",
    "/dev/",
    "/static/",
    "/capture_static/",
)


def staff_routes(app: Any) -> list[tuple[str, str]]:
    routes = []
    for rule in app.app.url_map.iter_rules():
        if rule.rule.startswith(PUBLIC_PREFIXES) or rule.endpoint == "static":
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_there_are_staff_routes_to_check(app: Any) -> None:
    paths = {path for _, path in staff_routes(app)}
    assert "/api/v1/customers" in paths
    assert "/get_customer_id_by_name" in paths


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "Bearer"},
        {"Authorization": "test-admin-key-0123456789abcdef"},
    ],
)
async def test_every_staff_route_needs_a_valid_key(
    app: Any, client: Any, headers: dict[str, str]
) -> None:
    for index, (method, path) in enumerate(staff_routes(app)):
        # Each from its own address: this walks the policy, not the wrong-key throttle
        # (tests/api/test_auth_throttle.py), which one address would trip past 20 routes.
        sender = {"client": (f"198.51.100.{index % 250}", 50000)}
        response = await client.open(
            path, method=method, headers=headers, json={}, scope_base=sender
        )
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        body = await response.get_json()
        assert body["error"]["code"] == "unauthorized"


async def test_a_created_api_key_works_and_the_bootstrap_key_too(
    client: Any, staff: dict[str, str]
) -> None:
    from smsbank.api.apikeys import create_api_key

    _, key = await create_api_key("branch-12")
    for headers in (staff, {"Authorization": f"Bearer {key}"}):
        response = await client.get("/api/v1/customers", headers=headers)
        assert response.status_code == 200


async def test_public_routes_answer_without_a_key(client: Any) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200
