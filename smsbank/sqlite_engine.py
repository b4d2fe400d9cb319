"""The embedded SQLite engine: Tortoise's SQLite client, with statements run on the loop.

Why: aiosqlite runs every statement on a thread of its own and hands the result back
to the event loop. For the bank's statements (an indexed lookup, a one-row insert:
tens of microseconds inside SQLite) the hand-over costs more than the work, and while
a webhook's transaction waits for it the connection's lock is held, so every other
request queues behind it. Run inline, the webhook serves more requests for less CPU
(`make bench`; the figures are in bench/README.md).

How: `InlineConnection` runs each statement directly (the sqlite3 connection is
opened with `check_same_thread=False`; only this event loop uses it). A database
locked by another process (a second worker, the CLI) is never waited for inside
SQLite, which would stall the loop: the connection's `busy_timeout` is 0, and a
statement that finds the database busy is retried after an `asyncio.sleep`, with
backoff, up to the configured `busy_timeout`, the same budget SQLite would have used.

Transactions start with `BEGIN IMMEDIATE`: they take the write lock first, so with
several workers on one SQLite file a transaction that reads and then writes can never
find that another process wrote in between (SQLITE_BUSY_SNAPSHOT, which no waiting
cures). With Tortoise's plain `BEGIN`, `serve --workers 2` answered 503 to about one
webhook in ten under load; every bank transaction writes, so nothing is lost by it.

The cost: a statement blocks the loop while it runs. Every statement the bank issues
on a request path is indexed and bounded (lists are paginated). The WAL checkpoints,
which copy the log into the database file and sync it, are not run on the loop but by
a thread of the client's own (`WalCheckpointer`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from functools import partial
from typing import Any

import aiosqlite
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError

log = logging.getLogger("smsbank.sqlite")

# The checkpointer thread (WalCheckpointer) runs a checkpoint this often; the loop's
# connection checkpoints itself only past the backstop (~40 MB of log), if the thread
# cannot keep up; the log file is kept allocated up to WAL_SIZE_LIMIT_BYTES.
CHECKPOINT_INTERVAL_SECONDS = 0.25
BACKSTOP_CHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

# Default budget for waiting on another process's write lock, as SQLite's busy_timeout.
DEFAULT_BUSY_TIMEOUT_MS = 5_000
FIRST_PAUSE_SECONDS = 0.001
LONGEST_PAUSE_SECONDS = 0.05


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements run on the calling thread (the loop)."""

    def __init__(self, connector: Any, busy_timeout_seconds: float) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout_seconds = busy_timeout_seconds

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:  # opening or closed: aiosqlite's own path
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        deadline: float | None = None
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                # Plain SQLITE_BUSY only: another connection holds the lock and the
                # statement did not run, so running it again is what SQLite's own busy
                # handler would do. (BUSY_SNAPSHOT and the rest cannot be waited out.)
                if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout_seconds
                if now >= deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """A transaction that takes SQLite's write lock when it begins."""

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # Still locked by another process after the whole busy budget: the
            # database is unavailable for now (the app answers 503).
            raise OperationalError(exc) from exc


class ImmediateTransactionContext(SqliteTransactionContext):
    """Tortoise's SQLite transaction context, giving back its lock when BEGIN fails.

    Tortoise's own keeps the lock (and its context variable) if BEGIN raises, which a
    plain BEGIN never did; with BEGIN IMMEDIATE timing out, no transaction could ever
    start again in this process.
    """

    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


class InlineSqliteClient(SqliteClient):
    """Tortoise's SQLite client on an `InlineConnection`."""

    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        timeout_ms = int(self.pragmas.get("busy_timeout", DEFAULT_BUSY_TIMEOUT_MS))
        self.busy_timeout_seconds = timeout_ms / 1000
        # SQLite must report a lock at once; InlineConnection waits for it without
        # blocking the loop.
        self.pragmas["busy_timeout"] = 0
        # Checkpoints are the checkpointer thread's; the loop's connection checkpoints
        # only as a backstop, should the thread fall far behind.
        self.pragmas["wal_autocheckpoint"] = BACKSTOP_CHECKPOINT_PAGES
        # Tortoise's default (16 KB) truncated the WAL file after every checkpoint, to be
        # grown again block by block; kept up to this size, it is reused instead.
        self.pragmas["journal_size_limit"] = WAL_SIZE_LIMIT_BYTES
        self.checkpointer: WalCheckpointer | None = None

    def _in_transaction(self) -> TransactionContext:
        return ImmediateTransactionContext(ImmediateTransactionWrapper(self), self._lock)

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        connector = partial(
            sqlite3.connect, self.filename, isolation_level=None, check_same_thread=False
        )
        connection = InlineConnection(connector, self.busy_timeout_seconds)
        self._connection = await connection
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
            await cursor.close()
        await self._post_connect()
        if self.filename != ":memory:":
            self.checkpointer = WalCheckpointer(self.filename, CHECKPOINT_INTERVAL_SECONDS)
            self.checkpointer.start()

    async def close(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.stop()
            self.checkpointer = None
        await super().close()


class WalCheckpointer:
    """Checkpoints the WAL from a thread of its own, so the event loop does not.

    A commit appends pages to the write-ahead log; a checkpoint copies them into the
    database file and syncs it. By default SQLite checkpoints inside whichever commit
    takes the log past 1,000 pages: on the event loop, stalling every request for the
    copy and the fsync. Here a thread with its own connection runs a PASSIVE checkpoint
    every `interval_seconds` (it never waits for, nor blocks, the loop's writes), and
    sqlite3 releases the GIL while it works, so the loop spends less of its time in
    SQLite (bench/README.md). With several workers on one
    file each runs one; a checkpoint finding another under way just skips its turn.
    """

    def __init__(self, filename: str, interval_seconds: float) -> None:
        self.filename = filename
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        # Off the loop: a checkpoint under way finishes first (milliseconds, usually).
        await asyncio.to_thread(self._thread.join, 10)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.filename, isolation_level=None)
        except sqlite3.Error as exc:
            # The loop's connection then checkpoints at the backstop: slower, not wrong.
            log.error("wal checkpointer could not open the database", extra={"error": str(exc)})
            return
        try:
            connection.execute("PRAGMA busy_timeout=0")
            failing = False
            while not self._stop.wait(self.interval_seconds):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    failing = False
                except sqlite3.Error as exc:
                    if not failing:  # once when it starts failing, not four times a second
                        log.warning("wal checkpoint failed", extra={"error": str(exc)})
                    failing = True
        finally:
            connection.close()


# Tortoise finds the client of an engine module through these names.
client_class = InlineSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[InlineSqliteClient]:
    return InlineSqliteClient
