"""The embedded SQLite engine runs statements on the event loop and waits for another
process's lock without stalling it (smsbank/sqlite_engine.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.exceptions import OperationalError

from smsbank.db import tortoise_config
from smsbank.models import InboundMessage
from smsbank.sqlite_engine import InlineSqliteClient


async def open_bank_db(path: Path, busy_timeout_ms: int | None = None) -> None:
    config = tortoise_config(f"sqlite://{path}")
    if busy_timeout_ms is not None:
        config["connections"]["default"]["credentials"]["busy_timeout"] = busy_timeout_ms
    await Tortoise.init(config=config, _enable_global_fallback=True)
    await Tortoise.generate_schemas()


@pytest.fixture
async def bank_db(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "engine.sqlite3"
    await open_bank_db(path)
    try:
        yield path
    finally:
        await Tortoise.close_connections()


def hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    """Another writer (as a second worker or the CLI would be) holding the lock."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        other.execute("COMMIT")
    finally:
        other.close()


async def test_the_bank_uses_the_inline_engine_on_the_loop_thread(bank_db: Path) -> None:
    client = connections.get("default")
    assert isinstance(client, InlineSqliteClient)
    seen: list[int] = []

    def thread_id() -> int:
        seen.append(threading.get_ident())
        return 1

    client._connection._conn.create_function("thread_id", 0, thread_id)  # type: ignore[union-attr]
    await client.execute_query("SELECT thread_id()")
    assert seen == [threading.get_ident()]
    # SQLite itself never waits (that would stall the loop); the engine waits instead.
    _, rows = await client.execute_query("PRAGMA busy_timeout")
    assert list(rows[0]) == [0]


async def test_a_lock_held_elsewhere_is_awaited_without_stalling_the_loop(bank_db: Path) -> None:
    locked = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(bank_db, 0.4, locked))
    holder.start()
    await asyncio.to_thread(locked.wait, 5)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    await InboundMessage.create(message_sid="SMwaits", from_phone="+1555", to_phone="+1", body="")
    waited = time.monotonic() - started
    ticking.cancel()
    await asyncio.to_thread(holder.join)

    assert waited >= 0.3  # it really waited for the other writer...
    assert ticks >= 10  # ...while the loop kept serving other work
    assert await InboundMessage.filter(message_sid="SMwaits").count() == 1


async def test_a_lock_held_past_the_busy_timeout_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "short.sqlite3"
    await open_bank_db(path, busy_timeout_ms=100)
    locked = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, 0.6, locked))
    try:
        holder.start()
        await asyncio.to_thread(locked.wait, 5)
        with pytest.raises(OperationalError, match="locked"):
            await InboundMessage.create(
                message_sid="SMlate", from_phone="+1555", to_phone="+1", body=""
            )
    finally:
        await asyncio.to_thread(holder.join)
        assert await InboundMessage.filter(message_sid="SMlate").count() == 0
        await Tortoise.close_connections()
