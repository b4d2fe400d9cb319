"""A real `smsbank serve` (hypercorn) in a subprocess on 127.0.0.1, for tests that
must talk to the bank over the network as a client would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fake_twilio import free_port

PROJECT = Path(__file__).resolve().parent.parent


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up in {timeout}s")


@contextmanager
def live_server(env: dict[str, str], workdir: Path, workers: int = 1) -> Iterator[str]:
    """Migrate, then serve with the given settings; yields the base URL."""
    port = free_port()
    full_env = {
        **os.environ,
        "SMSBANK_HOST": "127.0.0.1",
        "SMSBANK_PORT": str(port),
        "SMSBANK_LOG_LEVEL": "WARNING",
        **env,
    }
    smsbank = [sys.executable, "-m", "smsbank"]
    subprocess.run([*smsbank, "migrate"], env=full_env, cwd=workdir, check=True, timeout=120)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [*smsbank, "serve", "--workers", str(workers)],
        env=full_env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/healthz")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
