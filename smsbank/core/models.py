"""Tortoise models: every table the bank keeps.

Money is stored in integer minor units (`*_minor`), never floats. Every table has
`created_at`. States are enums so the database and the code agree on their names.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from smsbank.core.money import from_minor
from smsbank.texts.i18n import DEFAULT_LANGUAGE, Language


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"


class Customer(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=20, unique=True)
    account_number = fields.CharField(max_length=20, unique=True)
    balance_minor = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=3, default="USD")
    status = fields.CharEnumField(CustomerStatus, max_length=16, default=CustomerStatus.ACTIVE)
    # Face enrolment: the embedding only (never the photo), encrypted with the secret key.
    face_embedding = fields.BinaryField(null=True)
    face_model = fields.CharField(max_length=40, null=True)
    face_enrolled_at = fields.DatetimeField(null=True)
    face_failures = fields.IntField(default=0)  # failed selfies in a row
    face_locked = fields.BooleanField(default=False)
    sms_opted_out = fields.BooleanField(default=False)
    # What the bank writes and says to the customer in (texts, calls, the capture page).
    language = fields.CharEnumField(Language, max_length=8, default=DEFAULT_LANGUAGE)
    # Cooling-off: after a face or number change no withdrawal until then (settings).
    withdrawals_held_until = fields.DatetimeField(null=True)
    # Too many wrong codes in a day: withdrawals and number changes by SMS are locked
    # until staff lift it; wrong codes before `codes_unlocked_at` no longer count.
    codes_locked = fields.BooleanField(default=False)
    codes_unlocked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customer"

    @property
    def balance(self) -> Decimal:
        return from_minor(self.balance_minor)

    @property
    def face_enrolled(self) -> bool:
        return self.face_embedding is not None


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class LedgerEntry(Model):
    """One balance change. The ledger of a customer sums to their balance."""

    id = fields.BigIntField(primary_key=True)
    customer_id: int  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="entries", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(EntryKind, max_length=16)
    amount_minor = fields.BigIntField()  # always positive; `kind` gives the direction
    balance_after_minor = fields.BigIntField()
    reference = fields.CharField(max_length=16, unique=True)
    # A withdrawal is written to the ledger at most once: the unique key enforces it.
    withdrawal_id: int | None  # the key Tortoise keeps beside `withdrawal`
    withdrawal: fields.ForeignKeyNullableRelation[Withdrawal] = fields.ForeignKeyField(
        "models.Withdrawal", related_name=False, null=True, unique=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "ledger_entry"

    @property
    def amount(self) -> Decimal:
        return from_minor(self.amount_minor)

    @property
    def signed_minor(self) -> int:
        amount = int(self.amount_minor)
        return amount if self.kind == EntryKind.DEPOSIT else -amount


class WithdrawalStatus(StrEnum):
    AWAITING_CODE = "awaiting_code"
    AWAITING_SELFIE = "awaiting_selfie"
    APPROVED = "approved"  # code and face passed; branch staff still have to record it
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Channel(StrEnum):
    SMS = "sms"
    BRANCH = "branch"


class Withdrawal(Model):
    """A withdrawal request: code, then selfie, then exactly one ledger entry."""

    id = fields.IntField(primary_key=True)
    customer_id: int  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="withdrawals", on_delete=fields.RESTRICT
    )
    amount_minor = fields.BigIntField()
    status = fields.CharEnumField(WithdrawalStatus, max_length=20, db_index=True)
    channel = fields.CharEnumField(Channel, max_length=10, default=Channel.SMS)
    code_failures = fields.IntField(default=0)
    code_verified_at = fields.DatetimeField(null=True)
    face_verified_at = fields.DatetimeField(null=True)
    face_distance = fields.FloatField(null=True)
    reference = fields.CharField(max_length=16, null=True)
    failure_reason = fields.CharField(max_length=200, null=True)
    expires_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "withdrawal"

    @property
    def amount(self) -> Decimal:
        return from_minor(self.amount_minor)


class PhoneChangeStatus(StrEnum):
    AWAITING_CODE = "awaiting_code"
    AWAITING_SELFIE = "awaiting_selfie"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PhoneChange(Model):
    """A request to move a customer to a new number: code to the new phone, then selfie."""

    id = fields.IntField(primary_key=True)
    customer_id: int  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="phone_changes", on_delete=fields.RESTRICT
    )
    old_phone = fields.CharField(max_length=20)
    new_phone = fields.CharField(max_length=20)
    status = fields.CharEnumField(PhoneChangeStatus, max_length=20, db_index=True)
    channel = fields.CharEnumField(Channel, max_length=10, default=Channel.SMS)
    code_failures = fields.IntField(default=0)
    code_verified_at = fields.DatetimeField(null=True)
    failure_reason = fields.CharField(max_length=200, null=True)
    expires_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "phone_change"


class CodePurpose(StrEnum):
    WITHDRAWAL = "withdrawal"
    PHONE_CHANGE = "phone_change"


class OneTimeCode(Model):
    """A 6-digit code, stored only as an HMAC, bound to a purpose and a subject."""

    id = fields.IntField(primary_key=True)
    customer_id: int  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="codes", on_delete=fields.RESTRICT
    )
    purpose = fields.CharEnumField(CodePurpose, max_length=20)
    # What the code approves, e.g. "withdrawal:12:2000" or "phone_change:3:+15557654321".
    subject = fields.CharField(max_length=120, db_index=True)
    code_hash = fields.CharField(max_length=64)
    failed_attempts = fields.IntField(default=0)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "one_time_code"


class CapturePurpose(StrEnum):
    WITHDRAWAL = "withdrawal"
    PHONE_CHANGE = "phone_change"
    ENROLMENT = "enrolment"


class CaptureTokenStatus(StrEnum):
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CaptureToken(Model):
    """A one-time selfie link: 32 random bytes, stored hashed, bound to one request."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    purpose = fields.CharEnumField(CapturePurpose, max_length=20)
    customer_id: int  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="capture_tokens", on_delete=fields.RESTRICT
    )
    withdrawal_id: int | None  # the key Tortoise keeps beside `withdrawal`
    withdrawal: fields.ForeignKeyNullableRelation[Withdrawal] = fields.ForeignKeyField(
        "models.Withdrawal", related_name="capture_tokens", null=True, on_delete=fields.RESTRICT
    )
    phone_change_id: int | None  # the key Tortoise keeps beside `phone_change`
    phone_change: fields.ForeignKeyNullableRelation[PhoneChange] = fields.ForeignKeyField(
        "models.PhoneChange", related_name="capture_tokens", null=True, on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(CaptureTokenStatus, max_length=16)
    attempts_used = fields.IntField(default=0)
    max_attempts = fields.IntField()
    expires_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "capture_token"


class LivenessChallengeStatus(StrEnum):
    ISSUED = "issued"
    USED = "used"
    VOIDED = "voided"  # a newer challenge of the same link replaced it


class LivenessChallenge(Model):
    """A head-turn challenge (SPEC §9a): 16 random bytes, stored hashed, for one link,
    answered once within its lifetime."""

    id = fields.IntField(primary_key=True)
    challenge_hash = fields.CharField(max_length=64, unique=True)
    capture_token: fields.ForeignKeyRelation[CaptureToken] = fields.ForeignKeyField(
        "models.CaptureToken", related_name="challenges", on_delete=fields.CASCADE
    )
    steps = fields.CharField(max_length=32)  # "left,right" or "right,left"
    status = fields.CharEnumField(LivenessChallengeStatus, max_length=16)
    issued_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "liveness_challenge"


class ConversationState(StrEnum):
    IDLE = "idle"
    AWAITING_WITHDRAWAL_CODE = "awaiting_withdrawal_code"
    AWAITING_WITHDRAWAL_SELFIE = "awaiting_withdrawal_selfie"
    AWAITING_PHONE_CODE = "awaiting_phone_code"
    AWAITING_PHONE_SELFIE = "awaiting_phone_selfie"
    # A number change started at a branch: the old phone can only ABORT it.
    BRANCH_PHONE_CHANGE = "branch_phone_change"


class Conversation(Model):
    """Where a customer's SMS conversation stands; kept here, never in process memory."""

    id = fields.IntField(primary_key=True)
    customer_id: int  # the key Tortoise keeps beside `customer`
    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="conversation", on_delete=fields.CASCADE
    )
    state = fields.CharEnumField(ConversationState, max_length=32, default=ConversationState.IDLE)
    withdrawal_id: int | None  # the key Tortoise keeps beside `withdrawal`
    withdrawal: fields.ForeignKeyNullableRelation[Withdrawal] = fields.ForeignKeyField(
        "models.Withdrawal", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    phone_change_id: int | None  # the key Tortoise keeps beside `phone_change`
    phone_change: fields.ForeignKeyNullableRelation[PhoneChange] = fields.ForeignKeyField(
        "models.PhoneChange", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation"


class MessageDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageChannel(StrEnum):
    SMS = "sms"
    VOICE = "voice"


class InboundMessage(Model):
    """Every inbound SMS or call, keyed by Twilio's sid so a retried webhook runs once."""

    id = fields.BigIntField(primary_key=True)
    message_sid = fields.CharField(max_length=64, unique=True)
    channel = fields.CharEnumField(MessageChannel, max_length=8, default=MessageChannel.SMS)
    # Indexed by (from_phone, created_at) below; every write pays for each index.
    from_phone = fields.CharField(max_length=32)
    to_phone = fields.CharField(max_length=32)
    body = fields.TextField()
    customer_id: int | None  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "inbound_message"
        # The flood check counts one number's messages of the last minute: with this
        # index that reads only the recent rows, however long the number's history. It
        # also serves every lookup by number alone.
        indexes = (("from_phone", "created_at"),)


class OutboundStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker (or for its retry time)
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # opted out: stored, never sent


class OutboundMessage(Model):
    """The outbox: stored with the change that caused it, then delivered by a worker."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharEnumField(MessageChannel, max_length=8, default=MessageChannel.SMS)
    to_phone = fields.CharField(max_length=32, db_index=True)
    from_phone = fields.CharField(max_length=32)
    body = fields.TextField()  # SMS text, or the words a call says
    template = fields.CharField(max_length=40)  # which message this is, for limits and audits
    customer_id: int | None  # the key Tortoise keeps beside `customer`
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    status = fields.CharEnumField(OutboundStatus, max_length=16, default=OutboundStatus.QUEUED)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()  # indexed with status, below
    claimed_by = fields.CharField(max_length=64, null=True)
    claimed_until = fields.DatetimeField(null=True)
    # Not indexed: a status callback finds its row by the outbox id its URL carries.
    # Provider sids are random, so an index on them would dirty a page of its own for
    # every message sent (bench/README.md).
    provider_sid = fields.CharField(max_length=64, null=True)
    last_error = fields.CharField(max_length=500, null=True)
    sent_at = fields.DatetimeField(null=True)
    # A body that carries a live secret (a code, a capture link) says until when; the
    # secret is scrubbed from the body once sent or expired (then this is NULL again
    # and `scrubbed_at` says when), so the index holds only the live ones.
    secret_expires_at = fields.DatetimeField(null=True, db_index=True)
    scrubbed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "outbound_message"
        # The worker's claim looks for queued rows whose time has come (and sending rows
        # whose claim ran out): by status first, or it would scan every row ever sent.
        indexes = (("status", "next_attempt_at"),)


class UsageCounter(Model):
    """Events counted per time window, for caps every worker shares (`smsbank.quotas`)."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=160, unique=True)  # what, for whom, which window
    count = fields.IntField(default=0)
    window_start = fields.DatetimeField(db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "usage_counter"


class ApiKey(Model):
    """A staff API key: only its SHA-256 is kept; the key is shown once at creation."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    key_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=12)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "api_key"


class AuthFailure(Model):
    """A wrong staff key, by client address: the throttle of `smsbank.auth_throttle`.

    In the database, the one thing every worker and host shares (SPEC §12)."""

    id = fields.BigIntField(primary_key=True)
    client = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "auth_failure"
        indexes = (("client", "created_at"),)


class AuditEvent(Model):
    """Who did what, when: codes, selfies, withdrawals, phone changes, admin actions."""

    id = fields.BigIntField(primary_key=True)
    action = fields.CharField(max_length=60, db_index=True)
    actor = fields.CharField(max_length=100)
    customer_id = fields.IntField(null=True, db_index=True)
    details: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_event"
