"""Reliability fixtures: the face tests' photos and shared engine, the outbox tests' fake
Twilio, and killable bank processes (`tests/bank_server.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smsbank.settings import Settings
from tests.bank_server import BankProcess
from tests.faces.conftest import (  # noqa: F401 (fixtures are found by being imported here)
    astronaut,
    astronaut_jpeg,
    enrol,
    face_app,
    face_client,
    face_service,
    open_withdrawal,
)
from tests.outbox.conftest import fake, twilio_settings  # noqa: F401
from tests.reliability.bank_client import server_env


@pytest.fixture
def bank_process(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., BankProcess]]:
    """bank_process(**env) -> a BankProcess on the test's database (not started yet).

    Whatever is still running at the end of the test is stopped.
    """
    banks: list[BankProcess] = []

    def factory(**env: str) -> BankProcess:
        workdir = tmp_path / f"bank-{len(banks)}"
        workdir.mkdir()
        bank = BankProcess(server_env(settings, **env), workdir)
        banks.append(bank)
        return bank

    yield factory
    for bank in banks:
        bank.stop()
