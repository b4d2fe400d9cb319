"""Enrolment: a photo becomes an encrypted embedding on the customer's row.

Only the embedding is kept (128 numbers, encrypted with a key derived from the secret
key and bound to the customer id); the photo itself is never stored. It is computed
once here and never recomputed when the customer is verified.

These functions work with or without a running app: pass the app's FaceService, or
none and a short-lived one is started in this process (the CLI does that).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from tortoise.transactions import in_transaction

from smsbank.core import audit
from smsbank.core.clock import utcnow
from smsbank.core.customers import clean_language, clean_name, create_customer, get_customer
from smsbank.core.errors import Conflict, Forbidden
from smsbank.core.models import Customer, CustomerStatus
from smsbank.core.settings import Settings
from smsbank.faces.crypto import decrypt_embedding, encrypt_embedding
from smsbank.faces.service import FaceResult, FaceService, running_face_service
from smsbank.outbox import enqueue_sms
from smsbank.requests import cooling_off
from smsbank.requests.capture import close_enrolment_links
from smsbank.texts import messages
from smsbank.texts.i18n import DEFAULT_LANGUAGE


class NotEnrolled(Conflict):
    code = "face_not_enrolled"


class FaceAlreadyEnrolled(Conflict):
    code = "face_enrolled"


def ensure_face_may_change(customer: Customer) -> None:
    """A re-enrolment replaces what proves who the customer is: never on a locked
    account or while face checks are locked; staff lift the lock first (audited)."""
    if customer.status != CustomerStatus.ACTIVE:
        raise Forbidden(
            "the account is locked: unlock it first "
            '(PATCH /api/v1/customers/{id} {"status": "active"}), then re-enrol the face',
            code="account_locked",
        )
    if customer.face_locked:
        raise Forbidden(
            "face checks are locked for this customer: lift the lock first "
            '(PATCH /api/v1/customers/{id} {"face_locked": false}), then re-enrol the face',
            code="face_locked",
        )


@asynccontextmanager
async def face_engine(settings: Settings, faces: FaceService | None) -> AsyncIterator[FaceService]:
    """The given service, or one started for this block."""
    if faces is not None:
        yield faces
        return
    async with running_face_service(settings) as own:
        yield own


async def store_embedding(
    settings: Settings,
    customer_id: int,
    result: FaceResult,
    *,
    model: str,
    actor: str,
    source: str,
    replacing: bool = False,
) -> Customer:
    """Save an embedding (encrypted) on the customer; the enrolment links still open
    are closed (a face is enrolled now: none of them may replace it).

    A first enrolment only where no face is enrolled: 409 `face_enrolled` otherwise, so
    an enrolment link never replaces a face, however it races. `replacing` (a
    re-enrolment at a branch) replaces it, audited as a face change, texted to the
    customer, and withdrawals cool off.
    """
    blob = encrypt_embedding(settings.secret_key, customer_id, result.embedding)
    async with in_transaction():
        target = Customer.filter(id=customer_id)
        if not replacing:
            target = target.filter(face_embedding__isnull=True)
        if not await target.update(
            face_embedding=blob, face_model=model, face_enrolled_at=utcnow()
        ):
            raise FaceAlreadyEnrolled(
                "this customer already has a face enrolled; re-enrol it at the counter "
                "with PUT /api/v1/customers/{id}/face"
            )
        await close_enrolment_links(customer_id)
        if replacing:
            await _announce_face_change(settings, customer_id, actor=actor, source=source)
        else:
            await audit.record(
                "face.enrolled", actor=actor, customer_id=customer_id, source=source, model=model
            )
    return await get_customer(customer_id)


async def _announce_face_change(
    settings: Settings, customer_id: int, *, actor: str, source: str
) -> None:
    """Inside the change's transaction: audit it, tell the customer, start the cooling-off."""
    customer = await get_customer(customer_id)
    held_until = await cooling_off.start(settings, customer_id)
    await enqueue_sms(
        settings,
        to=customer.phone,
        body=messages.face_changed(customer.language, settings.cooling_off_hours),
        template="face_changed",
        customer_id=customer_id,
        respect_opt_out=False,  # a security notice, like a number change's
    )
    await audit.record(
        "face.changed",
        actor=actor,
        customer_id=customer_id,
        source=source,
        model=customer.face_model,
        withdrawals_held_until=held_until.isoformat() if held_until else None,
    )


async def enrol_customer_photo(
    settings: Settings,
    customer_id: int,
    photo: bytes,
    actor: str,
    *,
    faces: FaceService | None = None,
    source: str = "staff",
) -> Customer:
    """Enrol a customer's face from a photo with exactly one face, or at a branch
    replace the enrolled one (`ensure_face_may_change`, then `store_embedding`)."""
    customer = await get_customer(customer_id)  # 404 (and 403) before the expensive part
    if customer.face_enrolled:
        ensure_face_may_change(customer)
    async with face_engine(settings, faces) as engine:
        result = await engine.analyse(photo)
        model = engine.model_label
    customer = await get_customer(customer_id)
    if customer.face_enrolled:
        ensure_face_may_change(customer)
    return await store_embedding(
        settings,
        customer_id,
        result,
        model=model,
        actor=actor,
        source=source,
        replacing=customer.face_enrolled,
    )


async def create_customer_with_photo(
    settings: Settings,
    *,
    name: str,
    phone: str,
    photo: bytes,
    initial_deposit: Decimal | None,
    actor: str,
    faces: FaceService | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> Customer:
    """Open an account with a face, all or nothing: no usable face, no customer.

    The photo is analysed first (the slow part, outside any transaction); then the
    customer, the opening deposit and the embedding are written in one transaction.
    """
    name = clean_name(name)
    language = clean_language(language)
    if await Customer.exists(phone=phone):
        raise Conflict("a customer already has that phone number", code="phone_taken")
    async with face_engine(settings, faces) as engine:
        result = await engine.analyse(photo)
        model = engine.model_label
    async with in_transaction():
        customer = await create_customer(
            name,
            phone,
            currency=settings.currency,
            initial_deposit=initial_deposit,
            language=language,
            actor=actor,
        )
        return await store_embedding(
            settings, customer.id, result, model=model, actor=actor, source="new_customer"
        )


def enrolled_embedding(settings: Settings, customer: Customer, faces: FaceService) -> list[float]:
    """The customer's stored embedding, for a model the running engine can compare."""
    if customer.face_embedding is None:
        raise NotEnrolled(
            "this customer has no face enrolled; enrol a photo or send an enrolment link"
        )
    if customer.face_model and customer.face_model != faces.model_label:
        raise Conflict(
            f"the face was enrolled with {customer.face_model}, but the bank now uses "
            f"{faces.model_label}; the customer must re-enrol",
            code="face_model_changed",
        )
    return decrypt_embedding(settings.secret_key, customer.id, customer.face_embedding)
