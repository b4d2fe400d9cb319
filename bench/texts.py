"""What a conversation costs in SMS segments (`make bench`, section "texts").

No servers: each conversation runs in this process through the bank's own code (the
SMS conversation, the withdrawal and number-change machines, the outbox) on a fresh
SQLite file, and the segments of every SMS it queued are counted with
`smsbank.gsm7.segments`. Two set-ups, each in English and in Spanish:

- typical: a short public URL, dollars, "Ada Lovelace", a $20 withdrawal;
- worst: a 40-character public URL, a currency without a symbol, a name outside GSM-7
  (`Zoë Łukasiewicz-Núñez Þórsdóttir`), the largest amount and a ten-billion balance.

The selfie is approved by calling the machine directly (`selfie_verified`), as the
capture page does once DeepFace has matched the face: faces are not what is counted.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from smsbank import ledger, phone_changes, withdrawals
from smsbank.customers import create_customer
from smsbank.db import tortoise_config
from smsbank.gsm7 import segments
from smsbank.models import Customer, MessageChannel, OutboundMessage, PhoneChange, Withdrawal
from smsbank.money import MAX_AMOUNT
from smsbank.settings import Settings
from smsbank.sms.inbound import InboundSms
from smsbank.sms.router import handle_inbound_sms

SETUPS: dict[str, dict[str, Any]] = {
    "typical": {
        "url": "https://bank.example.com",
        "currency": "USD",
        "name": "Ada Lovelace",
        "deposits": [Decimal("100")],
        "withdraw": "20",
    },
    "worst": {
        "url": "https://sms-bank.example-long-domain.com",  # 40 characters
        "currency": "CHF",
        "name": "Zoë Łukasiewicz-Núñez Þórsdóttir",
        "deposits": [MAX_AMOUNT] * 9 + [Decimal("999999999.99")],
        "withdraw": "1,000,000,000",
    },
}
CONVERSATIONS = ("balance", "history", "withdrawal", "number change")
PHONE, NEW_PHONE = "+15550170001", "+15550170002"
CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
TARGET = "a withdrawal by SMS (code, link, approval) <= 4 segments, worst case"


async def _sms_since(mark: int) -> list[str]:
    rows = await OutboundMessage.filter(id__gt=mark, channel=MessageChannel.SMS).order_by("id")
    return [row.body for row in rows]


async def _mark() -> int:
    last = await OutboundMessage.all().order_by("-id").first()
    return last.id if last else 0


async def _text(settings: Settings, phone: str, body: str) -> None:
    await handle_inbound_sms(settings, InboundSms("SM" + secrets.token_hex(16), phone, "+1", body))


async def _one_setup(database: Path, setup: dict[str, Any], language: str) -> dict[str, Any]:
    settings = Settings(
        database_url=f"sqlite://{database}",
        public_base_url=setup["url"],
        currency=setup["currency"],
        withdrawal_limit=MAX_AMOUNT,
        daily_withdrawal_limit=MAX_AMOUNT,
        outbox_enabled=False,
        face_warmup=False,
        expiry_sweep_seconds=0,
    )
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    try:
        await Tortoise.generate_schemas()
        customer = await create_customer(
            setup["name"], PHONE, currency=setup["currency"], language=language, actor="bench"
        )
        for amount in setup["deposits"]:
            await ledger.deposit(customer.id, amount)
        await Customer.filter(id=customer.id).update(face_embedding=b"bench", face_model="Dlib")
        texts: dict[str, list[str]] = {}

        mark = await _mark()
        await _text(settings, PHONE, "BAL")
        texts["balance"] = await _sms_since(mark)

        mark = await _mark()
        await _text(settings, PHONE, "W " + setup["withdraw"])
        [code_sms] = await _sms_since(mark)
        await _text(settings, PHONE, CODE_RE.findall(code_sms)[0])
        withdrawal = await Withdrawal.get(customer_id=customer.id)
        await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.03, actor="bench")
        texts["withdrawal"] = await _sms_since(mark)

        mark = await _mark()  # five entries by now in the worst case, two in the typical
        await _text(settings, PHONE, "HISTORY")
        texts["history"] = await _sms_since(mark)

        mark = await _mark()
        await _text(settings, PHONE, f"PHONE {NEW_PHONE}")
        code_sms = next(body for body in await _sms_since(mark) if CODE_RE.search(body))
        await _text(settings, PHONE, CODE_RE.findall(code_sms)[0])
        change = await PhoneChange.get(customer_id=customer.id)
        await phone_changes.selfie_verified(settings, change.id, distance=0.03, actor="bench")
        texts["number change"] = await _sms_since(mark)
    finally:
        await Tortoise.close_connections()
    return {
        name: {
            "texts": len(texts[name]),
            "segments": sum(segments(body).segments for body in texts[name]),
            "encodings": sorted({segments(body).encoding for body in texts[name]}),
        }
        for name in CONVERSATIONS
    }


async def _measure(workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for setup_name, setup in SETUPS.items():
        for language in ("en", "es"):
            database = workdir / f"texts-{setup_name}-{language}.sqlite3"
            results[f"{setup_name}_{language}"] = await _one_setup(database, setup, language)
    worst = max(results[f"worst_{lang}"]["withdrawal"]["segments"] for lang in ("en", "es"))
    every_gsm7 = all(
        row["encodings"] == ["GSM-7"] for runs in results.values() for row in runs.values()
    )
    results["target"] = TARGET + "; every text GSM-7"
    results["met"] = worst <= 4 and every_gsm7
    return results


def bench_texts(workdir: Path | None = None, short: bool = False) -> dict[str, Any]:
    """Segments per conversation (see the module docstring); `short` changes nothing:
    the whole measure takes a second or two."""
    if workdir is not None:
        return asyncio.run(_measure(workdir))
    with tempfile.TemporaryDirectory(prefix="smsbank-texts-") as tmp:
        return asyncio.run(_measure(Path(tmp)))


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, bool | None]]:
    """Rows for bench/run.py's table: segments (texts) per conversation."""
    rows: list[tuple[str, str, str, str, bool | None]] = []
    for name in CONVERSATIONS:
        cells = []
        for setup in SETUPS:
            for language in ("en", "es"):
                row = results[f"{setup}_{language}"][name]
                cells.append(f"{row['segments']} ({row['texts']})")
        target = "<= 4 (worst)" if name == "withdrawal" else "-"
        met = None
        if name == "withdrawal":
            met = all(results[f"worst_{lang}"][name]["segments"] <= 4 for lang in ("en", "es"))
        rows.append(
            (
                f"SMS segments (texts): {name}, typical en / es, worst en / es",
                " / ".join(cells),
                target,
                "",
                met,
            )
        )
    return rows


if __name__ == "__main__":
    import json

    print(json.dumps(bench_texts(), indent=2))
