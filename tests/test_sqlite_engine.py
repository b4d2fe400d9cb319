"""The embedded SQLite engine runs statements on the event loop and waits for another
process's lock without stalling it (smsbank/core/sqlite_engine.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import Tortoise, connections
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from smsbank.core.db import tortoise_config
from smsbank.core.models import InboundMessage
from smsbank.core.sqlite_engine import (
    BACKSTOP_CHECKPOINT_PAGES,
    InlineSqliteClient,
    WalCheckpointer,
)


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


def write_from_another_process(path: Path, sid: str, done: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        other.execute(
            "INSERT INTO inbound_message (message_sid, channel, from_phone, to_phone, body,"
            " created_at) VALUES (?, 'sms', '+1555', '+1', '', '2026-01-01T00:00:00+00:00')",
            [sid],
        )
    finally:
        other.close()
        done.set()


async def test_a_transaction_that_reads_then_writes_never_loses_to_another_writer(
    bank_db: Path,
) -> None:
    """Several workers on one file: with a plain BEGIN, a write after a read fails
    (SQLITE_BUSY_SNAPSHOT) when another process wrote in between; BEGIN IMMEDIATE makes
    the other writer wait for this transaction instead."""
    done = threading.Event()
    async with in_transaction():
        await InboundMessage.filter(from_phone="+1555").count()  # the read
        other = threading.Thread(target=write_from_another_process, args=(bank_db, "SMother", done))
        other.start()
        await asyncio.sleep(0.2)  # the other writer tries meanwhile
        assert not done.is_set()  # ...and waits for this transaction's lock
        await InboundMessage.create(
            message_sid="SMmine", from_phone="+1555", to_phone="+1", body=""
        )
    await asyncio.to_thread(other.join)
    assert await InboundMessage.filter(from_phone="+1555").count() == 2


async def test_a_transaction_that_cannot_begin_leaves_the_next_one_free(tmp_path: Path) -> None:
    path = tmp_path / "begin.sqlite3"
    await open_bank_db(path, busy_timeout_ms=100)
    locked = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, 0.5, locked))
    try:
        holder.start()
        await asyncio.to_thread(locked.wait, 5)
        with pytest.raises(OperationalError, match="locked"):
            async with in_transaction():
                pass
        await asyncio.to_thread(holder.join)
        async with in_transaction():  # would hang forever on a leaked lock
            await InboundMessage.create(
                message_sid="SMnext", from_phone="+1555", to_phone="+1", body=""
            )
        assert await InboundMessage.filter(message_sid="SMnext").count() == 1
    finally:
        await Tortoise.close_connections()


def checkpointer_of_the_bank_db() -> WalCheckpointer:
    client = connections.get("default")
    assert isinstance(client, InlineSqliteClient) and client.checkpointer is not None
    return client.checkpointer


async def test_the_log_is_checkpointed_by_a_thread_not_by_the_loop(bank_db: Path) -> None:
    client = connections.get("default")
    _, rows = await client.execute_query("PRAGMA wal_autocheckpoint")
    # The loop's connection checkpoints only past ~40 MB of log (a backstop)...
    assert list(rows[0]) == [BACKSTOP_CHECKPOINT_PAGES]
    size_before = await asyncio.to_thread(os.path.getsize, bank_db)
    await InboundMessage.bulk_create(
        InboundMessage(message_sid=f"SMbulk{i}", from_phone="+1555", to_phone="+1", body="x" * 900)
        for i in range(1500)
    )
    # ...so ~1.5 MB of new rows reach the database file only through the thread's
    # checkpoint (SQLite's default, on the committing connection, waits for 4 MB).

    def database_file_grew() -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.getsize(bank_db) >= size_before + 1_000_000:
                return True
            time.sleep(0.05)
        return False

    assert await asyncio.to_thread(database_file_grew)
    assert checkpointer_of_the_bank_db().running


async def test_closing_the_database_stops_its_checkpointer(tmp_path: Path) -> None:
    await open_bank_db(tmp_path / "close.sqlite3")
    checkpointer = checkpointer_of_the_bank_db()
    assert checkpointer.running
    await Tortoise.close_connections()
    assert not checkpointer.running
