"""An outbox worker in its own OS process, as a second app worker or host would run it.

    python -m tests.outbox.worker_process SETTINGS_JSON --mode drain --go-file PATH

`SETTINGS_JSON` holds Settings overrides. Modes:
- `once`: one `deliver_due` pass, then exit (a test kills it mid-send);
- `drain`: connect, write `--ready-file`, wait for `--go-file` to exist (so competing
  workers start together, all connected), then run passes until no message is queued
  or being sent, and print a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from smsbank.db import close_db, init_db
from smsbank.models import OutboundMessage, OutboundStatus
from smsbank.outbox.worker import PassResult, deliver_due, new_worker_id
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend

GO_TIMEOUT_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 120


def wait_for_go(go_file: str) -> None:
    """Block until the test says go, so competing workers start at the same moment."""
    deadline = time.monotonic() + GO_TIMEOUT_SECONDS
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.005)


async def run(
    settings: Settings, mode: str, limit: int, ready_file: str | None, go_file: str | None
) -> dict[str, object]:
    await init_db(settings)
    if ready_file:
        await asyncio.to_thread(Path(ready_file).touch)
    if go_file:
        await asyncio.to_thread(wait_for_go, go_file)
    backend = TwilioBackend(settings)
    worker_id = new_worker_id()
    total = PassResult()
    try:
        if mode == "once":
            total = await deliver_due(settings, backend, limit, worker_id=worker_id)
        else:
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                result = await deliver_due(settings, backend, limit, worker_id=worker_id)
                for name in ("claimed", "sent", "retrying", "failed"):
                    setattr(total, name, getattr(total, name) + getattr(result, name))
                if result.claimed == 0:
                    pending = await OutboundMessage.filter(
                        status__in=[OutboundStatus.QUEUED, OutboundStatus.SENDING]
                    ).exists()
                    if not pending:
                        break
                    await asyncio.sleep(0.02)
    finally:
        await backend.close()
        await close_db()
    return {"worker_id": worker_id, **total.__dict__}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("settings_json")
    parser.add_argument("--mode", choices=("once", "drain"), default="drain")
    parser.add_argument("--ready-file")
    parser.add_argument("--go-file")
    parser.add_argument("--limit", type=int, default=5)
    args = parser.parse_args()
    settings = Settings(**json.loads(args.settings_json))
    summary = asyncio.run(run(settings, args.mode, args.limit, args.ready_file, args.go_file))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
