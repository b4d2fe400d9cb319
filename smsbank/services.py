"""The long-lived parts of a running app, built by `create_app` and started/stopped with
it: nothing here exists at import time, and tests can hand in their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from smsbank.expiry import ExpirySweeper
from smsbank.faces.service import FaceService
from smsbank.outbox.worker import OutboxWorker
from smsbank.settings import Settings
from smsbank.sms.group_commit import InboundBatcher


class Component(Protocol):
    """Something started after the database is up and stopped before it closes."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Services:
    settings: Settings
    # Filled in by the parts that need them (faces, outbox, expiry sweep, SMS batches);
    # None when not configured.
    face: FaceService | None = None
    outbox: OutboxWorker | None = None
    expiry: ExpirySweeper | None = None
    inbound_batch: InboundBatcher | None = None
    components: list[Component] = field(default_factory=list)

    @property
    def face_ready(self) -> bool:
        return self.face is not None and self.face.ready
