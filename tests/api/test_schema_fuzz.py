"""schemathesis against a real server's /openapi.json: no input gives a 500, and every
response matches the documented schema. Each operation gets generated valid and
invalid inputs (strings, numbers, missing and extra fields).

The one check left out is "schema-valid data must be accepted": the schema says a phone
is a string, and the bank still (rightly) answers 400 to a string that is no phone
number. Everything else runs: no 5xx, documented status codes, content types and
response bodies that match their schemas, and invalid data rejected."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from smsbank.app import create_app
from smsbank.settings import Settings
from tests.bank_server import live_server
from tests.conftest import ADMIN_KEY, POSTGRES_URL


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    database_url = POSTGRES_URL or f"sqlite://{workdir / 'fuzz.sqlite3'}"
    if POSTGRES_URL:
        import asyncio

        from tortoise import Tortoise, connections

        from smsbank.db import tortoise_config

        async def drop() -> None:
            await Tortoise.init(config=tortoise_config(database_url))
            await connections.get("default").execute_script(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
            )
            await Tortoise.close_connections()

        asyncio.run(drop())
    env = {
        "DATABASE_URL": database_url,
        "SMSBANK_ADMIN_API_KEY": ADMIN_KEY,
        "SMSBANK_SMS_BACKEND": "console",
        "SMSBANK_FACE_WARMUP": "false",
        "SMSBANK_OUTBOX_ENABLED": "false",
        # The fuzzer sends wrong keys on purpose (its auth checks); past the throttle's
        # limit every later request, the right key's too, would be a 429 and test nothing.
        "SMSBANK_AUTH_FAILURE_LIMIT": "1000000",
    }
    with live_server(env, workdir) as base:
        # A few customers so lookups and ids hit real rows as well as missing ones.
        for index, name in enumerate(["Ada Fuzz", "Bo Fuzz", "Bo Fuzz"]):
            request = urllib.request.Request(
                base + "/api/v1/customers",
                data=json.dumps(
                    {"name": name, "phone": f"+1555303000{index}", "initial_deposit": "50"}
                ).encode(),
                headers={
                    "Authorization": f"Bearer {ADMIN_KEY}",
                    "Content-Type": "application/json",
                },
                method="POST",
            )
            urllib.request.urlopen(request, timeout=10).close()
        yield base


@pytest.fixture(scope="module")
def api_schema(server: str) -> Any:
    return schemathesis.openapi.from_url(server + "/openapi.json")


def test_no_input_breaks_the_api(api_schema: Any, server: str) -> None:
    """Every documented operation, with generated inputs; failures are collected per
    operation so one run reports them all. (Driven by hand rather than through
    schemathesis' pytest plugin, which does not support pytest 9 yet.)"""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            case.call_and_validate(
                base_url=server, headers=headers, excluded_checks=[positive_data_acceptance]
            )

        try:
            exercise()
        except Exception as exc:  # collect every operation's failure, report together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


# The blueprints whose every route takes a staff key (smsbank/api/auth.py).
STAFF_BLUEPRINTS = {"customers", "admin", "legacy", "branch", "faces"}
RULE_ARGUMENT = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")


def staff_operations() -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every route of the staff blueprints, as the app routes."""
    app = create_app(Settings(env="development", sms_backend="console"))
    return {
        (method, RULE_ARGUMENT.sub(r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in STAFF_BLUEPRINTS
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_the_schema_documents_every_staff_route(api_schema: Any) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in api_schema.raw_schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    staff = staff_operations()
    assert len(staff) >= 20  # the walk really found the routes
    assert staff - documented == set()  # every staff route is documented...
    assert documented - staff == set()  # ...and nothing else is (no webhook, no page)
