"""Serving on the address the operator chose: links, printed URLs, a busy port, the
start-here lines of `smsbank demo`, and request logs that stay readable."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bank_server import live_server, wait_until_up_blocking
from tests.conftest import ADMIN_KEY
from tests.fake_twilio import free_port

SMSBANK = [sys.executable, "-m", "smsbank"]
# A bank with no public URL set, as `make run` starts it (no face processes: not needed).
QUIET_BANK = {
    "SMSBANK_ADMIN_API_KEY": ADMIN_KEY,
    "SMSBANK_FACE_WARMUP": "false",
    "SMSBANK_FACE_WORKERS": "1",
    "SMSBANK_OUTBOX_POLL_SECONDS": "0.1",
}


def bank_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSBANK_", "TWILIO_"))}
    env.pop("DATABASE_URL", None)
    return {**env, **QUIET_BANK, **extra}


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def texted_link(base: str, phone: str) -> str:
    query = urllib.parse.urlencode({"phone": phone})
    [message] = call(base, "GET", f"/dev/messages?{query}")["messages"]
    return next(word for word in message["body"].split() if word.startswith("http"))


def enrolment_link_texted_by(base: str) -> str:
    customer = call(
        base, "POST", "/api/v1/customers", {"name": "Port Tester", "phone": "+15550190001"}
    )
    call(base, "POST", f"/api/v1/customers/{customer['id']}/enrolment-link")
    return texted_link(base, "+15550190001")


def test_on_another_port_the_texted_links_open(tmp_path: Path) -> None:
    with live_server(bank_env(), tmp_path) as base:
        port = base.rsplit(":", 1)[1]
        link = enrolment_link_texted_by(base)
        assert link.startswith(f"http://127.0.0.1:{port}/"), link
        with urllib.request.urlopen(link, timeout=10) as page:
            assert page.status == 200


def test_serve_port_option_reaches_the_links(tmp_path: Path) -> None:
    port = free_port()
    env = bank_env()
    subprocess.run([*SMSBANK, "migrate"], env=env, cwd=tmp_path, check=True, timeout=120)
    server = subprocess.Popen(
        [*SMSBANK, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up_blocking(base + "/healthz")
        assert enrolment_link_texted_by(base).startswith(base + "/")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"serving on {base}" in output.decode()
    assert "Ctrl-C" in output.decode()


def test_a_busy_port_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SMSBANK, "serve"],
            env=bank_env(SMSBANK_PORT=str(port)),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"port {port}" in line and "SMSBANK_PORT" in line


def test_demo_prints_where_to_start_on_the_chosen_port(tmp_path: Path) -> None:
    env = bank_env(SMSBANK_PORT="5123")
    subprocess.run([*SMSBANK, "migrate"], env=env, cwd=tmp_path, check=True, timeout=120)

    def demo() -> str:
        done = subprocess.run(
            [*SMSBANK, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first, second = demo(), demo()
    assert "http://127.0.0.1:5123/dev/phone?phone=%2B15555550100" in first
    assert "valid 10 minutes" in first
    links = [
        [word for word in out.split() if word.startswith("http://127.0.0.1:5123/c/")]
        for out in (first, second)
    ]
    # Run again while the face is not enrolled: a fresh link, as the first lines say.
    assert len(links[0]) == len(links[1]) == 1 and links[0] != links[1]


@pytest.mark.parametrize("path", ["/dev/messages?phone=%2B15550190002", "/healthz"])
async def test_polling_is_logged_at_debug_only(
    client: Any, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO, logger="smsbank.http"):
        assert (await client.get(path)).status_code == 200
        assert (await client.get("/api/v1/customers")).status_code == 401
    logged = [record.getMessage() for record in caplog.records if record.name == "smsbank.http"]
    paths = [getattr(r, "path", None) for r in caplog.records if r.name == "smsbank.http"]
    assert logged == ["request"] and paths == ["/api/v1/customers"]
