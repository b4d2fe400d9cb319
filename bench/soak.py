"""`make soak`: a bounded loopback soak of the whole bank, then proof that nothing was lost.

    python -m bench.soak                      # ~200 customers, ~1 minute of load, SQLite
    python -m bench.soak --short              # a quick pass (~15 s of load)
    python -m bench.soak --database-url postgres://postgres@127.0.0.1:5432/test

The PostgreSQL database named is emptied first (its `public` schema is dropped), as
`make bench` does: never point it at a database whose data you want.

One real server (`smsbank serve`: hypercorn, a real database, the console SMS backend,
127.0.0.1 only) and two load processes beside it, both bounded in count and in time:

- the customers (`python -m bench.soak --drive SPEC`, this module in a second process):
  every customer at once, each texting a realistic mix over signed webhooks: BAL, ME,
  HISTORY, HELP, unknown and malformed text, withdrawals (the code read back from
  `/dev/messages`, a wrong code now and then, the selfie posted on `/capture/<token>`,
  sometimes twice at once, sometimes first with someone else's face or no face),
  ABORT at either step, a withdrawal replaced by another, deposits through the staff
  API, the same MessageSid sent again (later, or twice at the same moment), forged
  signatures (missing, wrong key, another URL, a tampered body), and a forged request
  whose MessageSid is then used by the real message. A few customers enrol their face
  on an enrolment link during the load; a few unregistered numbers text too.
- a steady stream of prepared signed webhooks (BAL, HELP, ME, HISTORY, chatter, with
  replays) from `bench.load`, the benchmark's own load generator.

Then it checks that nothing was lost, through the public APIs: each number's thread
on `/dev/messages` holds exactly one inbound message per accepted MessageSid (replays
not twice, forged ones never) and exactly the replies its messages call for, each of
them sent (none left queued or failed); each customer's ledger sums to their balance,
no balance is negative, balances and debits match what the customers did; completed
withdrawals match the ledger's debits. Two facts the APIs do not show are read from
the database once the server has stopped: the exact set of stored MessageSids, and the
status of every outbox row (calls and numbers the threads above do not cover).

It prints a table, writes `bench/soak_results.json` (one entry per database and mode)
and exits non-zero when anything was lost, any check failed or any request got a 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

from bench.load import percentile, summarize
from bench.run import (
    ADMIN_KEY,
    AUTH_TOKEN,
    PROJECT,
    SHARED_FACES,
    bank_server,
    create_customers,
    enrol,
    machine,
    reset_postgres,
    run_load,
    signed_sms_requests,
    staff_call,
)

RESULTS = PROJECT / "bench" / "soak_results.json"
SMS_PATH = "/webhooks/twilio/sms"
SENT = ("sent", "delivered")
CODES_PER_CUSTOMER = 5  # SMSBANK_OTP_SEND_LIMIT's default: more would be refused
# How long a customer waits for a code or a link. Longer counts as a failure (the code
# itself lives 5 minutes): the customer gives up and texts ABORT.
REPLY_TIMEOUT = 60.0
BUSY_RETRIES = 5  # a selfie answered 503 "try again in a moment" is sent again, like the page
# People, not scripts: seconds between two actions, to type a code, to take a selfie.
THINK, TYPING, CAMERA = (0.5, 3.0), (1.0, 3.0), (1.0, 4.0)


@dataclass(frozen=True)
class Profile:
    customers: int
    enrolled: int  # faces enrolled by staff (photo upload) before the load
    enrolled_by_link: int  # customers who enrol on an enrolment link during the load
    strangers: int  # unregistered numbers that text the bank
    actions: tuple[int, int]  # per customer, at least / at most
    background: int  # prepared webhooks sent by bench.load beside the customers
    seconds: float  # no customer starts a new action after this


FULL = Profile(200, 20, 4, 12, (14, 20), 1500, 60.0)
SHORT = Profile(24, 6, 2, 3, (5, 8), 300, 8.0)


# -- what a reply is --------------------------------------------------------

# Capture links are texted short (/c/<token>) and the page also answers /capture/<token>.
CAPTURE_LINK = r"(https?://\S+/(?:c|capture)/[A-Za-z0-9_-]{22,43})"
# Every text a customer of this soak can receive, told apart by its wording. A body that
# matches none of these is "other", and it is never expected.
REPLY_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile("^SMS Bank: " + pattern, re.DOTALL))
    for name, pattern in (
        ("withdraw_code", r"\d{6} is your code to withdraw "),
        ("capture_link", r"Code accepted\. To approve your withdrawal .*" + CAPTURE_LINK),
        ("completed", r"Your withdrawal of \S+ is approved\. Ref W-"),
        ("not_approved", r"Withdrawal of \S+ not approved"),
        ("cancelled", r"Your withdrawal of \S+ is cancelled\."),
        ("wrong_code", r"That code is not right\. You have \d tr(y|ies) left\."),
        ("not_enrolled", r"Withdrawals need a face enrolled first"),
        ("no_funds", r"There is not enough money in the account"),
        ("balance", r"The balance of account ending \d+ is "),
        ("profile", r".*, face enrolled: (yes|no)"),
        ("history", r"(Your last (\d+ transactions|transaction):\n|No transactions yet\.)"),
        ("help", r"BAL balance, ME your details"),
        ("unknown", r"Sorry, we did not understand that\."),
        ("malformed", r"(Say how much to withdraw|That amount is not valid)"),
        ("nothing_to_cancel", r"There is nothing to cancel\."),
        ("no_code_waiting", r"No code is waiting for an answer"),
        ("unregistered", r"This phone number is not registered with us\."),
        ("enrolment_link", r"To enrol your face .*" + CAPTURE_LINK),
    )
)
LOOKUPS = {"BAL": "balance", "balance": "balance", "  bal ": "balance", "ME": "profile"}
LOOKUPS |= {"HISTORY": "history", "history": "history", "HELP": "help", "Help": "help"}
CHATTER = [
    "hello",
    "Thanks!",
    "what is my balance?",
    "BALANCE PLEASE",
    "🙂👍",
    "WD 20",
    "Ça va?",
    "x" * 1600,  # the longest body Twilio delivers
]
MALFORMED = ["W", "W abc", "WITHDRAW -5", "w 1.234", "W 0"]
BACKGROUND_CONNECTIONS = 1
BACKGROUND_BODIES = {"BAL": 40, "HELP": 15, "ME": 15, "HISTORY": 15, "hello there": 15}


def reply_kind(body: str) -> str:
    for name, pattern in REPLY_KINDS:
        if pattern.search(body):
            return name
    return "other"


def link_in(body: str) -> str:
    match = re.search(CAPTURE_LINK, body)
    assert match, "the reply holds no capture link"
    return match.group(1)


def to_minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


# -- photos -----------------------------------------------------------------


def write_photos(workdir: Path) -> dict[str, str]:
    """Enrolment photo, a changed copy as the selfie, a face that is not theirs, no face."""
    from PIL import Image, ImageEnhance, ImageOps
    from skimage import data

    def jpeg(image: Image.Image, name: str, quality: int = 90) -> str:
        path = workdir / f"{name}.jpg"
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
        path.write_bytes(buffer.getvalue())
        return str(path)

    astronaut = Image.fromarray(data.astronaut())
    width, height = astronaut.size
    # The same person, not the same file: mirrored, cropped, rescaled, darker, recompressed.
    changed = ImageOps.mirror(astronaut).crop((8, 6, width - 10, height - 4)).resize((600, 600))
    changed = ImageEnhance.Brightness(changed).enhance(0.9)
    photos = {
        "enrol": jpeg(astronaut, "enrol", 92),
        "selfie": jpeg(changed, "selfie", 85),
        "no_face": jpeg(Image.fromarray(data.coffee()), "no_face"),
    }
    stranger = SHARED_FACES / "A_26.jpg"
    if stranger.exists():
        photos["other_face"] = str(stranger)
    return photos


# == the customers: the second process ======================================


class Lost(Exception):
    """A reply the customer waits for did not arrive in time."""


@dataclass
class Sender:
    """One phone texting the bank, and everything the bank owes it."""

    phone: str
    customer_id: int | None = None  # None: an unregistered number
    enrolled: bool = False
    by_link: bool = False
    balance: int = 0  # minor units, as this customer's own actions left it
    codes: int = 0  # withdrawal codes issued to it
    replies: Counter[str] = field(default_factory=Counter)  # reply kind -> how many
    inbound: Counter[str] = field(default_factory=Counter)  # body -> accepted messages
    received: Counter[str] = field(default_factory=Counter)  # replies already read
    withdrawals: Counter[str] = field(default_factory=Counter)  # final status -> how many
    debits: list[int] = field(default_factory=list)  # completed withdrawals, minor units
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted requests, to replay
    sids: list[str] = field(default_factory=list)  # accepted MessageSids
    forged_sids: list[str] = field(default_factory=list)  # sids only ever forged


class Driver:
    """Runs every customer's life against the server and records what it should see."""

    def __init__(self, spec: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self.base: str = spec["base_url"]
        self.admin_key: str = spec["admin_key"]
        self.session = session
        self.rng = random.Random(spec["seed"])
        self.deadline = time.monotonic() + float(spec["seconds"])
        self.taken: set[str] = set(spec["taken_sids"])
        self.photos = {name: Path(path).read_bytes() for name, path in spec["photos"].items()}
        self.senders = [
            Sender(
                c["phone"],
                c["id"],
                enrolled=c["enrolled"],
                by_link=c["by_link"],
                balance=c["balance_minor"],
            )
            for c in spec["customers"]
        ] + [Sender(phone) for phone in spec["strangers"]]
        self.started = time.perf_counter()
        # (kind, status, seconds taken, seconds since the start)
        self.records: list[tuple[str, int, float, float]] = []
        self.unexpected: Counter[str] = Counter()  # "kind status error_code" -> how many
        self.problems: list[str] = []
        # (seconds from the customer's text to the bank's reply sent, seconds since the start)
        self.reply_waits: list[tuple[float, float]] = []
        self.counts: Counter[str] = Counter()

    # -- HTTP ---------------------------------------------------------------

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        expect: set[int],
        **kwargs: Any,
    ) -> tuple[int, Any]:
        started = time.perf_counter()
        status, raw = 0, b""
        try:
            async with self.session.request(method, self.base + path, **kwargs) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raw = repr(exc).encode()
        self.records.append((kind, status, time.perf_counter() - started, started - self.started))
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if status not in expect:
            error = answer.get("error") if isinstance(answer, dict) else None
            what = (
                error.get("code") if isinstance(error, dict) else raw[:200].decode(errors="replace")
            )
            self.unexpected[f"{kind} {method} -> {status} {what}"] += 1
        return status, answer

    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    # -- texting --------------------------------------------------------------

    def prepare(self, sender: Sender, body: str) -> tuple[str, dict[str, Any]]:
        """A signed webhook, as Twilio would send it, with a MessageSid not used before."""
        while True:
            item = signed_sms_requests(self.base, [sender.phone], 1, body)[0]
            sid = dict(parse_qsl(item["body"]))["MessageSid"]
            if sid not in self.taken:
                self.taken.add(sid)
                return sid, item

    async def post(self, item: dict[str, Any], kind: str = "sms", expect: int = 200) -> int:
        status, _ = await self.call(
            kind, "POST", item["path"], {expect}, data=item["body"], headers=item["headers"]
        )
        return status

    async def text(self, sender: Sender, body: str, reply: str | None) -> None:
        """Send one message; `reply` is the kind of reply it calls for (None: no reply)."""
        sid, item = self.prepare(sender, body)
        await self.accepted(sender, sid, item, body, reply)

    async def accepted(
        self, sender: Sender, sid: str, item: dict[str, Any], body: str, reply: str | None
    ) -> None:
        if await self.post(item) == 200:
            sender.inbound[body] += 1
            sender.sids.append(sid)
            sender.sent.append(item)
            self.counts["accepted"] += 1
            if reply:
                sender.replies[reply] += 1

    async def wait_reply(self, sender: Sender, kind: str, since: float) -> str:
        """The next unread reply of `kind`, once the outbox has sent it."""
        index = sender.received[kind]
        deadline = time.monotonic() + REPLY_TIMEOUT
        # Looked at often at first (so the wait is measured to ~20 ms), then less.
        pause = 0.02
        while True:
            _, thread = await self.call(
                "dev_messages", "GET", f"/dev/messages?phone={quote(sender.phone)}", {200}
            )
            found = [
                m
                for m in (thread or {}).get("messages", [])
                if m["direction"] == "outbound" and reply_kind(m["body"]) == kind
            ]
            if len(found) > index and found[index]["status"] in SENT:
                sender.received[kind] += 1
                self.reply_waits.append((time.perf_counter() - since, since - self.started))
                return str(found[index]["body"])
            if time.monotonic() > deadline:
                raise Lost(f"{sender.phone}: no {kind} reply sent within {REPLY_TIMEOUT:.0f} s")
            pause = min(pause * 1.5, 2.0)
            await asyncio.sleep(pause)

    # -- a customer's life ----------------------------------------------------

    async def life(self, sender: Sender, actions: int) -> None:
        await self.pause(0, 5.0)  # many at once, not all in the same second
        try:
            if sender.customer_id is None:
                await self.stranger(sender)
                return
            if sender.by_link:
                await self.enrol_on_link(sender)
            for _ in range(actions):
                if time.monotonic() > self.deadline:
                    break
                await self.act(sender)
                await self.pause(*THINK)
        except Lost as exc:
            self.problems.append(f"lost: {exc}")

    async def act(self, sender: Sender) -> None:
        rng = self.rng
        choice = rng.choices(
            [
                "withdraw",
                "lookup",
                "chatter",
                "malformed",
                "replay",
                "double",
                "forged",
                "forged_then_real",
                "deposit",
                "idle_abort",
                "stray_code",
                "overdraw",
            ],
            weights=[24, 34, 6, 3, 7, 4, 6, 3, 5, 3, 2, 3],
        )[0]
        if choice == "withdraw":
            await self.withdraw(sender)
        elif choice == "lookup":
            body = rng.choice(list(LOOKUPS))
            await self.text(sender, body, LOOKUPS[body])
        elif choice == "chatter":
            await self.text(sender, rng.choice(CHATTER), "unknown")
        elif choice == "malformed":
            await self.text(sender, rng.choice(MALFORMED), "malformed")
        elif choice == "replay" and sender.sent:
            # Twilio retrying a webhook: acknowledged again, processed once.
            await self.post(rng.choice(sender.sent))
            self.counts["replays"] += 1
        elif choice == "double":
            # The same MessageSid delivered twice at the same moment.
            sid, item = self.prepare(sender, "BAL")
            statuses = await asyncio.gather(self.post(item), self.post(item))
            if statuses == [200, 200]:
                sender.inbound["BAL"] += 1
                sender.sids.append(sid)
                sender.sent.append(item)
                sender.replies["balance"] += 1
            self.counts["replays"] += 1
        elif choice == "forged":
            sid, item = self.prepare(sender, "BAL")
            await self.post(self.forge(item, rng.choice(FORGERIES)), "sms_forged", 403)
            sender.forged_sids.append(sid)
        elif choice == "forged_then_real":
            # A forged request must not use up the MessageSid of the real one.
            sid, item = self.prepare(sender, "HELP")
            await self.post(self.forge(item, "tampered"), "sms_forged", 403)
            await self.accepted(sender, sid, item, "HELP", "help")
        elif choice == "deposit":
            await self.deposit(sender)
        elif choice == "idle_abort":
            await self.text(sender, "ABORT", "nothing_to_cancel")
        elif choice == "stray_code":
            await self.text(sender, f"{rng.randrange(10**6):06d}", "no_code_waiting")
        elif choice == "overdraw":
            amount = Decimal(sender.balance + rng.randrange(1, 5000)) / 100
            reply = "no_funds" if sender.enrolled else "not_enrolled"
            await self.text(sender, f"W {amount}", reply)
        else:
            await self.text(sender, "BAL", "balance")

    async def deposit(self, sender: Sender) -> None:
        amount = f"{self.rng.randrange(10, 200)}.{self.rng.randrange(100):02d}"
        status, answer = await self.call(
            "staff",
            "POST",
            f"/api/v1/customers/{sender.customer_id}/deposits",
            {201},
            json={"amount": amount},
            headers=self.staff(),
        )
        if status == 201:
            sender.balance += to_minor(amount)
            # Every change to this balance comes from this coroutine, so it is exact.
            balance = to_minor(answer["customer"]["balance"])
            if balance != sender.balance:
                self.problems.append(
                    f"customer {sender.customer_id}: balance {balance} after a deposit, "
                    f"expected {sender.balance}"
                )

    async def withdraw(self, sender: Sender) -> None:
        rng = self.rng
        amount = f"{rng.randrange(5, 60)}" + rng.choice(["", ".50", ".05"])
        body = rng.choice(["W {}", "WITHDRAW {}", "w {}", "Withdraw  ${}"]).format(amount)
        if not sender.enrolled:
            await self.text(sender, body, "not_enrolled")
            return
        flow = rng.choices(["complete", "abort_code", "abort_selfie", "replace"], [60, 15, 10, 15])[
            0
        ]
        if sender.codes + (2 if flow == "replace" else 1) > CODES_PER_CUSTOMER:
            await self.text(sender, "BAL", "balance")
            return
        try:
            await self.withdrawal_flow(sender, flow, body, amount)
        except Lost as exc:
            # Too slow for this customer: the request is still open, and ABORT ends it.
            self.problems.append(f"late: {exc}")
            await self.abort(sender)

    async def pause(self, low: float, high: float) -> None:
        await asyncio.sleep(self.rng.uniform(low, high))

    async def abort(self, sender: Sender) -> None:
        await self.text(sender, "ABORT", "cancelled")
        sender.withdrawals["cancelled"] += 1

    async def withdrawal_flow(self, sender: Sender, flow: str, body: str, amount: str) -> None:
        rng = self.rng
        started = time.perf_counter()
        await self.text(sender, body, "withdraw_code")
        sender.codes += 1
        code = self.code_in(await self.wait_reply(sender, "withdraw_code", started))
        await self.pause(*TYPING)
        if flow == "abort_code":
            await self.abort(sender)
            return
        if flow == "replace":
            # A second WITHDRAW replaces the first: the first code dies with it.
            amount = f"{rng.randrange(5, 60)}"
            started = time.perf_counter()
            await self.text(sender, f"W {amount}", "withdraw_code")
            sender.codes += 1
            sender.withdrawals["cancelled"] += 1
            old, code = code, self.code_in(await self.wait_reply(sender, "withdraw_code", started))
            if old != code:
                await self.text(sender, old, "wrong_code")
        elif rng.random() < 0.2:
            wrong = f"{(int(code) + rng.randrange(1, 10**6)) % 10**6:06d}"
            await self.text(sender, wrong, "wrong_code")
        started = time.perf_counter()
        await self.text(sender, code, "capture_link")
        link = link_in(await self.wait_reply(sender, "capture_link", started))
        token_path = urlsplit(link).path
        await self.call("capture_page", "GET", token_path, {200})
        await self.pause(*CAMERA)
        if flow == "abort_selfie":
            await self.abort(sender)
            # The link outlives the request it was for, and must approve nothing now.
            status, answer = await self.selfie(token_path, "selfie", {409})
            if status != 409 or (answer or {}).get("status") != "failed":
                self.problems.append(f"{sender.phone}: selfie after ABORT answered {status}")
            return
        await self.selfie_until_verified(sender, token_path, to_minor(amount))

    async def selfie_until_verified(self, sender: Sender, token_path: str, amount: int) -> None:
        rng = self.rng
        if rng.random() < 0.1:
            # No face: the page asks again and uses no attempt.
            status, answer = await self.selfie(token_path, "no_face", {422})
            if (answer or {}).get("status") != "retry":
                self.problems.append(f"{sender.phone}: a photo without a face answered {answer}")
        if "other_face" in self.photos and rng.random() < 0.15:
            status, answer = await self.selfie(token_path, "other_face", {200})
            if (answer or {}).get("status") != "retry":
                self.problems.append(f"{sender.phone}: someone else's face answered {answer}")
        if rng.random() < 0.1:
            # The send button pressed twice: one debit, whatever the timing.
            results = await asyncio.gather(
                self.selfie(token_path, "selfie", {200, 409, 410}),
                self.selfie(token_path, "selfie", {200, 409, 410}),
            )
            self.counts["double_selfies"] += 1
            verified = [a for _, a in results if (a or {}).get("status") == "verified"]
            if len(verified) != 1:
                self.problems.append(f"{sender.phone}: two selfies at once answered {results}")
        else:
            status, answer = await self.selfie(token_path, "selfie", {200})
            verified = [answer] if (answer or {}).get("status") == "verified" else []
            if not verified:
                self.problems.append(f"{sender.phone}: the selfie answered {status} {answer}")
                if status == 503:  # still busy after every retry: the customer gives up
                    await self.abort(sender)
        if verified:
            sender.balance -= amount
            sender.debits.append(amount)
            sender.withdrawals["completed"] += 1
            sender.replies["completed"] += 1

    async def selfie(self, token_path: str, photo: str, expect: set[int]) -> tuple[int, Any]:
        """Post a photo on a capture link; a 503 (still counted) is sent again shortly."""
        for _ in range(BUSY_RETRIES):
            form = aiohttp.FormData()
            form.add_field(
                "selfie", self.photos[photo], filename="selfie.jpg", content_type="image/jpeg"
            )
            self.counts["selfies"] += 1
            status, answer = await self.call("capture_post", "POST", token_path, expect, data=form)
            if status != 503:
                break
            self.counts["selfies_503"] += 1
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
        return status, answer

    @staticmethod
    def code_in(body: str) -> str:
        codes = re.findall(r"(?<!\d)\d{6}(?!\d)", body)
        assert len(codes) == 1, "a code SMS holds exactly one 6-digit number"
        return codes[0]

    async def enrol_on_link(self, sender: Sender) -> None:
        """Staff text an enrolment link; the customer opens it and sends a selfie."""
        started = time.perf_counter()
        status, _ = await self.call(
            "staff",
            "POST",
            f"/api/v1/customers/{sender.customer_id}/enrolment-link",
            {202},
            headers=self.staff(),
        )
        if status != 202:
            return
        sender.replies["enrolment_link"] += 1
        token_path = urlsplit(
            link_in(await self.wait_reply(sender, "enrolment_link", started))
        ).path
        await self.call("capture_page", "GET", token_path, {200})
        _, answer = await self.selfie(token_path, "enrol", {200})
        if (answer or {}).get("status") == "enrolled":
            sender.enrolled = True
        else:
            self.problems.append(f"{sender.phone}: enrolment link answered {answer}")

    async def stranger(self, sender: Sender) -> None:
        """An unregistered number: one 'not registered' reply, whatever it sends."""
        replied = False
        for body in self.rng.sample(["BAL", "HELP", "W 20", "hello", "ME"], 3):
            await self.text(sender, body, None if replied else "unregistered")
            replied = bool(sender.sids)
            await asyncio.sleep(self.rng.uniform(0.1, 1.0))
        if sender.sent:
            await self.post(sender.sent[0])
            self.counts["replays"] += 1
        sid, item = self.prepare(sender, "BAL")
        await self.post(self.forge(item, "wrong_token"), "sms_forged", 403)
        sender.forged_sids.append(sid)

    def forge(self, item: dict[str, Any], how: str) -> dict[str, Any]:
        """A genuine request turned into one whose signature must not pass.

        Every forgery asks for `W 13.13`, which no genuine message does: if one got
        through, its body would show in the thread and its reply in the outbox.
        """
        headers = dict(item["headers"])
        form = dict(parse_qsl(item["body"], keep_blank_values=True))
        assert form["Body"] != FORGED_BODY, "a forgery must differ from what was signed"
        form["Body"] = FORGED_BODY
        url = self.base + SMS_PATH
        if how == "missing":
            headers.pop("X-Twilio-Signature")
        elif how == "wrong_token":  # signed over this very form, with another key
            signature = RequestValidator("not-the-auth-token").compute_signature(url, form)
            headers["X-Twilio-Signature"] = signature
        elif how == "other_url":  # the right key, for another site's URL
            validator = RequestValidator(AUTH_TOKEN)
            headers["X-Twilio-Signature"] = validator.compute_signature(
                "https://attacker.example" + SMS_PATH, form
            )
        elif how == "garbage":
            headers["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl"
        # "tampered": the genuine signature, made over the genuine body.
        return {**item, "body": urlencode(form), "headers": headers}

    # -- the whole crowd ------------------------------------------------------

    def timeline(self, step: float = 5.0) -> list[dict[str, Any]]:
        """Per `step` seconds: requests sent, 5xx, webhook p50, slowest code/link SMS."""
        buckets: dict[int, dict[str, Any]] = {}
        for kind, status, seconds, at in self.records:
            bucket = buckets.setdefault(int(at // step), {"requests": 0, "5xx": 0, "sms": []})
            bucket["requests"] += 1
            bucket["5xx"] += status >= 500
            if kind == "sms" and status == 200:
                bucket["sms"].append(seconds)
        slowest: dict[int, float] = {}
        for wait, at in self.reply_waits:
            slowest[int(at // step)] = max(slowest.get(int(at // step), 0.0), wait)
        return [
            {
                "from_s": index * step,
                "requests": b["requests"],
                "5xx": b["5xx"],
                "webhook_p50_ms": (
                    round(percentile(sorted(b["sms"]), 0.5) * 1000, 1) if b["sms"] else None
                ),
                "slowest_reply_s": round(slowest.get(index, 0.0), 1),
            }
            for index, b in sorted(buckets.items())
        ]

    async def run(self, actions: tuple[int, int]) -> dict[str, Any]:
        self.started = time.perf_counter()
        await asyncio.gather(
            *(self.life(sender, self.rng.randint(*actions)) for sender in self.senders)
        )
        elapsed = time.perf_counter() - self.started
        webhook = sorted(
            s for kind, status, s, _ in self.records if kind == "sms" and status == 200
        )
        waits = sorted(wait for wait, _ in self.reply_waits)
        return {
            "seconds": round(elapsed, 2),
            "requests": len(self.records),
            "by_kind": dict(Counter(kind for kind, _, _, _ in self.records)),
            "by_status": {
                str(k): v for k, v in sorted(Counter(s for _, s, _, _ in self.records).items())
            },
            "webhook": summarize(webhook, 0, elapsed),
            "reply_wait_p50_ms": round(percentile(waits, 0.5) * 1000, 1),
            "reply_wait_p99_ms": round(percentile(waits, 0.99) * 1000, 1),
            "reply_wait_max_ms": round(waits[-1] * 1000, 1) if waits else None,
            "counts": dict(self.counts),
            "timeline": self.timeline(),
            "unexpected": dict(self.unexpected),
            "problems": self.problems,
            "senders": [
                {
                    "phone": s.phone,
                    "customer_id": s.customer_id,
                    "enrolled": s.enrolled,
                    "balance_minor": s.balance,
                    "replies": dict(s.replies),
                    "inbound": dict(s.inbound),
                    "withdrawals": dict(s.withdrawals),
                    "debits": s.debits,
                    "sids": s.sids,
                    "forged_sids": s.forged_sids,
                }
                for s in self.senders
            ],
        }


FORGERIES = ["missing", "wrong_token", "other_url", "garbage", "tampered"]
FORGED_BODY = "W 13.13"


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    assert spec["base_url"].startswith("http://127.0.0.1:"), "loopback only"
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        low, high = spec["actions"]
        return await Driver(spec, session).run((low, high))


# == the soak: server, load, checks ==========================================


def page_all(base: str, path: str, key: str) -> list[dict[str, Any]]:
    """Every row of a paged staff list (200 at a time)."""
    rows: list[dict[str, Any]] = []
    separator = "&" if "?" in path else "?"
    while True:
        page = staff_call(base, "GET", f"{path}{separator}limit=200&offset={len(rows)}")[key]
        rows.extend(page)
        if len(page) < 200:
            return rows


def background_stream(
    base: str, phones: list[str], count: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Prepared signed webhooks for bench.load, with replays: some right after their
    original (the same MessageSid twice at once), some later."""
    total = sum(BACKGROUND_BODIES.values())
    items = []
    for body, share in BACKGROUND_BODIES.items():
        shuffled = rng.sample(phones, len(phones))
        items += signed_sms_requests(base, shuffled, count * share // total, body)
    rng.shuffle(items)
    stream: list[dict[str, Any]] = []
    for item in items:
        stream.append(item)
        if rng.random() < 0.06:
            stream.append(item)
    for _ in range(count // 25):
        index = rng.randrange(len(stream) // 2)
        stream.insert(rng.randrange(index + 1, len(stream)), stream[index])
    return stream


def form_of(item: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(item["body"], keep_blank_values=True))


def setup_customers(
    base: str, profile: Profile, photos: dict[str, str], rng: random.Random
) -> list[dict[str, Any]]:
    phones = create_customers(base, profile.customers)
    rows = page_all(base, "/api/v1/customers", "customers")
    by_phone = {row["phone"]: row for row in rows}
    customers = [by_phone[phone] for phone in phones]
    chosen = rng.sample(customers, profile.enrolled + profile.enrolled_by_link)
    photo = Path(photos["enrol"]).read_bytes()
    with ThreadPoolExecutor(2) as pool:  # the face pool has two workers
        list(pool.map(lambda c: enrol(base, c["id"], photo), chosen[: profile.enrolled]))
    enrolled = {c["id"] for c in chosen[: profile.enrolled]}
    by_link = {c["id"] for c in chosen[profile.enrolled :]}
    return [
        {
            "id": c["id"],
            "phone": c["phone"],
            "enrolled": c["id"] in enrolled,
            "by_link": c["id"] in by_link,
            "balance_minor": to_minor(c["balance"]),
        }
        for c in customers
    ]


def wait_drained(base: str, phones: list[str], seconds: float = 30.0) -> list[dict[str, Any]]:
    """Every thread, once the outbox has nothing left queued for these numbers."""
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(8) as pool:
        while True:
            threads = list(
                pool.map(
                    lambda p: staff_call(base, "GET", f"/dev/messages?phone={quote(p)}"), phones
                )
            )
            pending = sum(
                1
                for thread in threads
                for m in thread["messages"]
                if m["direction"] == "outbound" and m["status"] in ("queued", "sending")
            )
            if not pending or time.monotonic() > deadline:
                return [dict(thread) for thread in threads]
            time.sleep(1.0)


def check_threads(
    senders: list[dict[str, Any]], threads: list[dict[str, Any]], figures: dict[str, Any]
) -> list[str]:
    problems = []
    delivered: Counter[str] = Counter()
    expected_total = received_total = 0
    for sender, thread in zip(senders, threads, strict=True):
        phone = sender["phone"]
        inbound = Counter(m["body"] for m in thread["messages"] if m["direction"] == "inbound")
        outbound = [m for m in thread["messages"] if m["direction"] == "outbound"]
        if inbound != Counter(sender["inbound"]):
            extra = inbound - Counter(sender["inbound"])
            missing = Counter(sender["inbound"]) - inbound
            problems.append(
                f"{phone}: inbound messages differ: extra {dict(extra)}, missing {dict(missing)}"
            )
        kinds = Counter(reply_kind(m["body"]) for m in outbound)
        expected = Counter(sender["replies"])
        expected_total += sum(expected.values())
        received_total += len(outbound)
        if kinds != expected:
            problems.append(
                f"{phone}: replies differ: extra {dict(kinds - expected)}, "
                f"missing {dict(expected - kinds)}"
            )
        for message in outbound:
            delivered[message["status"]] += 1
            if message["status"] not in SENT:
                problems.append(
                    f"{phone}: a {reply_kind(message['body'])} reply is {message['status']}"
                )
    figures["replies_expected"] = expected_total
    figures["replies_found"] = received_total
    figures["replies_by_status"] = dict(delivered)
    return problems


def check_ledger(base: str, senders: list[dict[str, Any]], figures: dict[str, Any]) -> list[str]:
    """Each customer's ledger sums to the balance, never negative, and the debits and
    withdrawal requests are exactly those the customer's actions made."""
    problems = []
    customers = [s for s in senders if s["customer_id"] is not None]

    def one(sender: dict[str, Any]) -> tuple[list[str], int]:
        cid = sender["customer_id"]
        found = []
        balance = to_minor(staff_call(base, "GET", f"/api/v1/customers/{cid}")["balance"])
        entries = page_all(base, f"/api/v1/customers/{cid}/transactions", "transactions")
        total = sum(to_minor(e["amount"]) * (1 if e["kind"] == "deposit" else -1) for e in entries)
        if total != balance:
            found.append(f"customer {cid}: ledger sums to {total}, balance is {balance}")
        if balance < 0 or any(to_minor(e["balance_after"]) < 0 for e in entries):
            found.append(f"customer {cid}: a negative balance")
        if balance != sender["balance_minor"]:
            found.append(f"customer {cid}: balance {balance}, expected {sender['balance_minor']}")
        debits = sorted(to_minor(e["amount"]) for e in entries if e["kind"] == "withdrawal")
        if debits != sorted(sender["debits"]):
            found.append(f"customer {cid}: debits {debits}, expected {sorted(sender['debits'])}")
        requests = page_all(base, f"/api/v1/withdrawals?customer_id={cid}", "withdrawals")
        statuses = Counter(w["status"] for w in requests)
        if statuses != Counter(sender["withdrawals"]):
            found.append(
                f"customer {cid}: withdrawals {dict(statuses)}, expected {sender['withdrawals']}"
            )
        references = {e["reference"] for e in entries}
        for w in requests:
            if w["status"] == "completed" and w["reference"] not in references:
                found.append(f"customer {cid}: withdrawal {w['id']} has no ledger entry")
        return found, len(debits)

    debits = 0
    with ThreadPoolExecutor(8) as pool:
        for found, count in pool.map(one, customers):
            problems += found
            debits += count
    completed = page_all(base, "/api/v1/withdrawals?status=completed", "withdrawals")
    verified = sum(len(s["debits"]) for s in customers)
    figures["withdrawals_completed"] = len(completed)
    figures["ledger_debits"] = debits
    figures["selfies_verified"] = verified
    figures["ledger_customers_checked"] = len(customers)
    if not len(completed) == debits == verified:
        problems.append(
            f"{len(completed)} completed withdrawals, {debits} ledger debits, "
            f"{verified} selfies verified: they must be equal"
        )
    return problems


def check_database(
    database_url: str, accepted: set[str], forged: set[str], figures: dict[str, Any]
) -> list[str]:
    """What the APIs cannot show: the exact MessageSids stored (de-duplication by sid,
    forged sids never stored) and every outbox row, calls and all."""
    from tortoise import Tortoise, connections

    from smsbank.core.db import tortoise_config

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        await Tortoise.init(config=tortoise_config(database_url))
        try:
            conn = connections.get("default")
            sids = await conn.execute_query_dict("SELECT message_sid FROM inbound_message")
            outbox = await conn.execute_query_dict(
                "SELECT status, COUNT(*) AS n FROM outbound_message GROUP BY status"
            )
            return sids, outbox
        finally:
            await Tortoise.close_connections()

    rows, outbox = asyncio.run(read())
    stored = Counter(str(r["message_sid"]) for r in rows)
    problems = []
    if any(n > 1 for n in stored.values()):
        problems.append("a MessageSid is stored twice")
    if set(stored) != accepted:
        problems.append(
            f"stored MessageSids differ: {len(set(stored) - accepted)} unexpected, "
            f"{len(accepted - set(stored))} missing"
        )
    if set(stored) & forged:
        problems.append(f"{len(set(stored) & forged)} forged MessageSids were stored")
    statuses = {str(r["status"]): int(r["n"]) for r in outbox}
    figures["db_inbound_rows"] = len(rows)
    figures["db_outbox_by_status"] = statuses
    stuck = {k: v for k, v in statuses.items() if k not in SENT}
    if stuck:
        problems.append(f"outbox rows not sent: {stuck}")
    return problems


def soak(args: argparse.Namespace) -> dict[str, Any]:
    profile = SHORT if args.short else FULL
    rng = random.Random(args.seed)
    database = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "database": database,
        "workers": args.workers,
        "short": args.short,
        "seed": args.seed,
        "machine": {**machine(), "loadavg_before": os.getloadavg()},
        "profile": profile.__dict__,
    }
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="smsbank-soak-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite://{workdir / 'soak.sqlite3'}"
        if database == "postgresql":
            reset_postgres(url)
        photos = write_photos(workdir)
        started = time.perf_counter()
        # The soak's customers send single selfies (SPEC §9): liveness off. A challenge
        # is decided from 15 frames, and its load is measured by bench/run.py's faces.
        with bank_server(workdir, url, workers=args.workers, SMSBANK_LIVENESS="off") as (
            base,
            _process,
        ):
            results["startup_s"] = round(time.perf_counter() - started, 1)
            setup_started = time.perf_counter()
            customers = setup_customers(base, profile, photos, rng)
            results["setup_s"] = round(time.perf_counter() - setup_started, 1)
            strangers = [f"+1555710{i:04d}" for i in range(profile.strangers)]
            stream = background_stream(
                base, [c["phone"] for c in customers], profile.background, rng
            )
            spec = {
                "base_url": base,
                "admin_key": ADMIN_KEY,
                "seed": args.seed,
                "seconds": profile.seconds,
                "actions": profile.actions,
                "customers": customers,
                "strangers": strangers,
                "photos": photos,
                "taken_sids": [form_of(item)["MessageSid"] for item in stream],
            }
            spec_path, out_path = workdir / "spec.json", workdir / "customers.json"
            spec_path.write_text(json.dumps(spec))
            print(
                f"soak: {database}, {len(customers)} customers, "
                f"{sum(c['enrolled'] for c in customers)} faces enrolled, "
                f"{len(stream)} background webhooks; load for up to {profile.seconds:.0f} s...",
                flush=True,
            )
            load_started = time.perf_counter()
            with (workdir / "driver.log").open("wb") as log, out_path.open("wb") as out:
                driver = subprocess.Popen(
                    [sys.executable, "-m", "bench.soak", "--drive", str(spec_path)],
                    cwd=PROJECT,
                    stdout=out,
                    stderr=log,
                )
                # bench.load sends the stream as fast as its connections go: a steady
                # pressure under the customers, from a third process.
                background = run_load(base, stream, BACKGROUND_CONNECTIONS, profile.seconds)
                try:
                    driver.wait(timeout=profile.seconds + 180)
                except subprocess.TimeoutExpired:
                    driver.kill()
                    driver.wait()
            load_seconds = time.perf_counter() - load_started
            if driver.returncode != 0:
                raise RuntimeError(
                    f"the customers' process failed:\n{(workdir / 'driver.log').read_text()[-3000:]}"
                )
            crowd = json.loads(out_path.read_text())
            senders: list[dict[str, Any]] = crowd["senders"]
            problems += crowd["problems"]
            problems += [f"unexpected: {what} (x{n})" for what, n in crowd["unexpected"].items()]

            # What bench.load sent: its first `requests` items (it takes them in order).
            by_phone = {s["phone"]: s for s in senders}
            accepted = {sid for s in senders for sid in s["sids"]}
            background_sids = set()
            for item in stream[: background["requests"]]:
                form = form_of(item)
                if form["MessageSid"] in background_sids:
                    continue
                background_sids.add(form["MessageSid"])
                sender = by_phone[form["From"]]
                sender["inbound"][form["Body"]] = sender["inbound"].get(form["Body"], 0) + 1
                kind = LOOKUPS.get(form["Body"], "unknown")
                sender["replies"][kind] = sender["replies"].get(kind, 0) + 1
            accepted |= background_sids
            if background["errors"]:
                problems.append(f"background load: {background['errors']} requests not 200")

            figures: dict[str, Any] = {}
            threads = wait_drained(base, [s["phone"] for s in senders])
            problems += check_threads(senders, threads, figures)
            problems += check_ledger(base, senders, figures)
        forged = {sid for s in senders for sid in s["forged_sids"]}
        problems += check_database(url, accepted, forged, figures)
        if problems:
            server_log = next(workdir.glob("server-*.log"), None)
            if server_log is not None:
                results["server_log_tail"] = server_log.read_text(errors="replace")[-4000:]

    five_xx = sum(v for k, v in crowd["by_status"].items() if k.startswith("5"))
    results.update(
        {
            "load_seconds": round(load_seconds, 1),
            "customers": crowd,
            "background": background,
            "messages": {
                "accepted_sids": len(accepted),
                "background_sent": background["requests"],
                "replays": crowd["counts"].get("replays", 0)
                + background["requests"]
                - len(background_sids),
                "forged": crowd["by_kind"].get("sms_forged", 0),
                **figures,
            },
            "http_5xx": five_xx,
            "problems": problems,
            "passed": not problems and five_xx == 0,
        }
    )
    results["machine"]["loadavg_after"] = os.getloadavg()
    for key in ("senders", "problems"):
        results["customers"].pop(key, None)
    return results


def print_table(r: dict[str, Any]) -> None:
    crowd, background, messages = r["customers"], r["background"], r["messages"]
    requests = crowd["requests"] + background["requests"]
    statuses = ", ".join(f"{k}: {v}" for k, v in crowd["by_status"].items())
    rows = [
        ("database", f"{r['database']} ({r['workers']} worker{'s' * (r['workers'] > 1)})"),
        ("customers / faces / strangers", _people(r)),
        (
            "load duration",
            f"{r['load_seconds']} s (server start {r['startup_s']} s, setup {r['setup_s']} s)",
        ),
        (
            "requests (customers + background)",
            f"{requests} ({crowd['requests']} + {background['requests']})",
        ),
        ("customers' requests by status", statuses),
        ("background errors (not 200)", background["errors"]),
        ("5xx", r["http_5xx"]),
        ("req/s", round(requests / r["load_seconds"], 1)),
        (
            "webhook p50 / p99 ms (customers; background)",
            f"{crowd['webhook']['p50_ms']} / {crowd['webhook']['p99_ms']}; "
            f"{background['p50_ms']} / {background['p99_ms']}",
        ),
        (
            "code/link SMS: text to sent, p50 / p99 / max ms",
            f"{crowd['reply_wait_p50_ms']} / {crowd['reply_wait_p99_ms']} / "
            f"{crowd['reply_wait_max_ms']}",
        ),
        (
            "inbound accepted / replays / forged (403)",
            f"{messages['accepted_sids']} / {messages['replays']} / {messages['forged']}",
        ),
        (
            "replies expected / found / sent",
            f"{messages.get('replies_expected')} / {messages.get('replies_found')} / "
            f"{sum(v for k, v in messages.get('replies_by_status', {}).items() if k in SENT)}",
        ),
        ("outbox rows by status (database)", messages.get("db_outbox_by_status")),
        (
            "withdrawals completed / ledger debits / selfies verified",
            f"{messages.get('withdrawals_completed')} / {messages.get('ledger_debits')} / "
            f"{messages.get('selfies_verified')}",
        ),
        (
            "ledger check",
            f"{messages.get('ledger_customers_checked')} customers: "
            + ("sum = balance, none negative" if not _ledger_problems(r) else "FAILED"),
        ),
        ("machine", f"{r['machine']['cpus']} CPUs, load {_load(r)}"),
        (
            "result",
            "PASS: nothing lost" if r["passed"] else f"FAIL ({len(r['problems'])} problems)",
        ),
    ]
    print("\n| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(
        "\ncustomers' timeline (5 s buckets): requests, 5xx, webhook p50 ms, slowest code/link SMS s"
    )
    print(
        "  "
        + "; ".join(
            f"{b['from_s']:.0f}s: {b['requests']}, {b['5xx']}, {b['webhook_p50_ms']}, "
            f"{b['slowest_reply_s']}"
            for b in crowd["timeline"]
        )
    )
    for problem in r["problems"][:40]:
        print(f"  problem: {problem}")


def _people(r: dict[str, Any]) -> str:
    p = r["profile"]
    return (
        f"{p['customers']} / {p['enrolled']} + {p['enrolled_by_link']} by link / {p['strangers']}"
    )


def _load(r: dict[str, Any]) -> str:
    before, after = r["machine"]["loadavg_before"], r["machine"]["loadavg_after"]
    return f"{before[0]:.2f} before, {after[0]:.2f} after (1-min average)"


def _ledger_problems(r: dict[str, Any]) -> bool:
    return any(p.startswith("customer ") or "debits" in p for p in r["problems"])


def save(results: dict[str, Any]) -> None:
    """One entry per database, workers and mode: the SQLite and PostgreSQL runs side by side."""
    key = results["database"] + (f"-{results['workers']}-workers" if results["workers"] > 1 else "")
    key += "-short" if results["short"] else ""
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved[key] = results
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="a quick pass (~15 s of load)")
    parser.add_argument("--database-url", default="", help="postgres://... (emptied first)")
    parser.add_argument("--workers", type=int, default=1, help="smsbank serve --workers")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--drive", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:  # the customers' process
        spec = json.loads(Path(args.drive).read_text())
        print(json.dumps(asyncio.run(drive(spec))))
        return
    results = soak(args)
    save(results)
    print_table(results)
    sys.exit(0 if results["passed"] else 1)


if __name__ == "__main__":
    main()
