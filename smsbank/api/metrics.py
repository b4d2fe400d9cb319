"""`GET /metrics`: the Prometheus text format, for staff keys and the scrape token.

Never public: the figures say how busy the bank is and how its checks go. A staff key
reads it (`Authorization: Bearer <key>`), and so does `SMSBANK_METRICS_TOKEN`, a
scrape-only token that opens nothing else; a Prometheus server holds that one
(`authorization: {credentials: ...}` in its scrape config) rather than a staff key.
The token is checked first and needs no database, so the scrape works while the
database is down and says so (`smsbank_database_up 0`).
"""

from __future__ import annotations

import hashlib
import hmac

from prometheus_client.core import Metric
from quart import Blueprint, Response, request
from quart_schema import hide
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.functions import Count, Min

from smsbank import metrics
from smsbank.api.auth import require_staff
from smsbank.clock import utcnow
from smsbank.http import settings
from smsbank.models import OutboundMessage, OutboundStatus

blueprint = Blueprint("metrics", __name__)

UNSENT = (OutboundStatus.QUEUED, OutboundStatus.SENDING)


def _is_metrics_token(presented: str, token: str) -> bool:
    # Compared as digests: constant time whatever the lengths.
    return bool(token) and hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


async def require_metrics_reader() -> None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and _is_metrics_token(
        presented.strip(), settings().metrics_token
    ):
        return
    await require_staff()


async def outbox_figures() -> list[Metric]:
    """The outbox's depth and oldest unsent message, from the database."""
    try:
        rows = (
            await OutboundMessage.filter(status__in=UNSENT)
            .annotate(count=Count("id"), oldest=Min("created_at"))
            .group_by("status")
            .values("status", "count", "oldest")
        )
    except (DBConnectionError, OperationalError, ConnectionError, OSError):
        return metrics.outbox_families(None, None, utcnow())
    depth = {str(row["status"]): int(row["count"]) for row in rows}
    oldest = min((row["oldest"] for row in rows if row["oldest"] is not None), default=None)
    return metrics.outbox_families(depth, oldest, utcnow())


@blueprint.get("/metrics")
@hide
async def get_metrics() -> Response:
    """Every metric in the Prometheus text format (a staff key or the metrics token)."""
    await require_metrics_reader()
    body = metrics.exposition(await outbox_figures())
    return Response(body, content_type=metrics.CONTENT_TYPE)
