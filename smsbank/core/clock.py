"""Time in one place, always timezone-aware UTC, so tests and limits agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def start_of_day(moment: datetime) -> datetime:
    """Midnight UTC of `moment`'s day: daily limits reset then."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def in_seconds(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
