"""Hand-written SQL for the paths every message takes, in SQLite's and PostgreSQL's form.

The ORM builds each statement anew in Python; on the paths that run for every message
(the SMS batch, the outbox claim and record) that costs more than the rest of the
request (bench/README.md has the measurements). There, statements are written once,
in the SQL both databases accept, with `?` placeholders; `in_dialect` numbers them for
PostgreSQL. Values are always bound as parameters, never formatted into the text.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

PLACEHOLDER = re.compile(r"\?")


def placeholders(count: int) -> str:
    """`?, ?, ?`: `count` parameters, as in `IN (...)`."""
    return ", ".join(["?"] * count)


def row_placeholders(rows: int, columns: int) -> str:
    """`(?, ?), (?, ?)`: the VALUES of a `rows`-row INSERT, every value a parameter."""
    return ", ".join([f"({placeholders(columns)})"] * rows)


@functools.lru_cache(maxsize=512)
def in_dialect(sql: str, dialect: str) -> str:
    """`sql` as `dialect` ("sqlite" or "postgres") wants its placeholders."""
    if dialect != "postgres":
        return sql
    counter = itertools.count(1)
    return PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


async def fetch(connection: BaseDBAsyncClient, sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """The rows of a query (or of an INSERT/UPDATE ... RETURNING) as dicts.

    Tortoise's `execute_query` reports no rows for an INSERT or UPDATE on PostgreSQL,
    even with RETURNING; `execute_query_dict` does.
    """
    dialect = connection.capabilities.dialect
    return list(await connection.execute_query_dict(in_dialect(sql, dialect), values))


async def execute(connection: BaseDBAsyncClient, sql: str, values: list[Any]) -> int:
    """Run a statement; returns how many rows it changed (an UPDATE or DELETE: Tortoise
    reports 0 for an INSERT on PostgreSQL, so use `fetch` with RETURNING there)."""
    dialect = connection.capabilities.dialect
    changed, _ = await connection.execute_query(in_dialect(sql, dialect), values)
    return int(changed)


async def serialize_senders(connection: BaseDBAsyncClient, phones: list[str]) -> None:
    """These numbers' messages one at a time, across workers and hosts (PostgreSQL).

    Transaction-level advisory locks on each number's hash, taken in the order of the
    hashes, so two transactions locking several numbers (SMS batches) never wait on
    each other in a cycle. A branch starting a number change takes the customer's
    number's lock too, since it points their conversation at the change. SQLite needs
    nothing: its transactions begin with the database's write lock.
    """
    if connection.capabilities.dialect == "postgres":
        await fetch(connection, LOCK_SENDERS_SQL, [phones])


LOCK_SENDERS_SQL = """
SELECT pg_advisory_xact_lock(key)
FROM (SELECT DISTINCT hashtext(phone) AS key FROM unnest(?::text[]) AS phone ORDER BY key) AS keys
"""
