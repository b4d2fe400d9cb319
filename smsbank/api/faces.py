"""Staff API for faces: enrol a photo, text an enrolment link, open an account with a
face (`/add_customer`) and check a face at the counter (`/verify_face`).

Photos come as multipart form fields; every bad upload gets a JSON 4xx from the
checks in `smsbank.faces` (too large 413, wrong type 415, no usable face 422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, request
from quart_schema import (
    DataSource,
    document_request,
    document_response,
    security_scheme,
    tag_blueprint,
)
from quart_schema.pydantic import File
from tortoise.transactions import in_transaction

from smsbank import messages, quotas, withdrawals
from smsbank.api.auth import current_staff, protect
from smsbank.api.customers import parse_amount_field, parse_phone_field
from smsbank.api.schemas import LANGUAGE_DOC, CustomerOut, ErrorResponse
from smsbank.capture import issue_enrolment_link, link_deadline
from smsbank.customers import clean_language, customer_json, get_customer
from smsbank.errors import BankError, Conflict, Forbidden, TooManyRequests, ValidationFailed
from smsbank.faces.checks import compare_with_enrolled, record_check
from smsbank.faces.enrolment import (
    FaceAlreadyEnrolled,
    create_customer_with_photo,
    enrol_customer_photo,
)
from smsbank.faces.service import FaceService, FaceUnavailable
from smsbank.http import services, settings
from smsbank.i18n import DEFAULT_LANGUAGE, Language
from smsbank.models import CustomerStatus, Withdrawal, WithdrawalStatus
from smsbank.outbox import enqueue_sms
from smsbank.phones import mask_phone
from smsbank.quotas import Quota

blueprint = protect(Blueprint("faces", __name__))
tag_blueprint(blueprint, ["faces"])

MAX_ID = 2**31 - 1
Handler = Callable[..., Any]


class PhotoUpload(BaseModel):
    photo: File


class NewCustomerWithPhoto(BaseModel):
    name: str
    phone_number: str
    photo: File
    initial_deposit: str | None = None
    language: Language | None = Field(default=None, description=LANGUAGE_DOC)


class FaceCheckForm(BaseModel):
    photo: File
    withdrawal_id: int | None = None
    customer_id: int | None = None


class FaceCheckOut(BaseModel):
    verified: bool
    # The exact distance for a withdrawal's check (bounded by the lockout); null for a
    # plain check, which must not be an oracle for tuning a spoof (it is audited).
    distance: float | None
    threshold: float
    customer_id: int
    withdrawal_id: int | None = None
    withdrawal_status: str | None = None
    face_locked: bool


class EnrolmentLinkOut(BaseModel):
    customer_id: int
    sent_to: str
    expires_in_seconds: int


def errors(*statuses: int) -> Callable[[Handler], Handler]:
    """Document the JSON error body for each status a route can answer."""

    def decorate(handler: Handler) -> Handler:
        for status in statuses:
            handler = document_response(ErrorResponse, status)(handler)
        return handler

    return decorate


def photo_errors(*statuses: int) -> Callable[[Handler], Handler]:
    """The errors of every photo upload, plus the route's own."""
    # 400 bad form, 413 too large, 415 not an image, 422 no usable face, 503 busy.
    return errors(400, 413, 415, 422, 503, *statuses)


def _faces() -> FaceService:
    faces: FaceService | None = services().face
    if faces is None:
        raise FaceUnavailable("the face check is not available right now; try again shortly")
    return faces


async def _form() -> tuple[dict[str, str], Any]:
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise ValidationFailed(
            "send multipart/form-data with the photo as a file field", code="multipart_required"
        )
    return dict((await request.form).items()), await request.files


async def _photo(files: Any, field: str = "photo") -> bytes:
    upload = files.get(field)
    if upload is None:
        raise ValidationFailed(f"{field} is required: attach it as a file", code="photo_missing")
    # Reading one byte past the limit is enough to refuse it as too large.
    data: bytes = upload.read(settings().face_max_upload_bytes + 1)
    return data


def _id_field(form: dict[str, str], field: str) -> int | None:
    raw = form.get(field, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise ValidationFailed(f"{field} must be a positive whole number", code="invalid_id")
    return int(raw)


@blueprint.put("/api/v1/customers/<int:customer_id>/face")
@security_scheme([{"bearerAuth": []}])
@document_request(PhotoUpload, source=DataSource.FORM_MULTIPART)
@document_response(CustomerOut, 200)
@photo_errors(403, 404)
async def put_customer_face(customer_id: int) -> dict[str, Any]:
    """Enrol the customer's face from a photo with exactly one face, or replace it at
    the counter: refused (403) on a locked account or while face checks are locked;
    a replacement is audited, texted to the customer and pauses withdrawals."""
    _, files = await _form()
    photo = await _photo(files)
    customer = await enrol_customer_photo(
        settings(), customer_id, photo, current_staff().actor, faces=_faces()
    )
    return customer_json(customer)


@blueprint.post("/api/v1/customers/<int:customer_id>/enrolment-link")
@security_scheme([{"bearerAuth": []}])
@document_response(EnrolmentLinkOut, 202)
@errors(403, 404, 409)
async def post_enrolment_link(customer_id: int) -> tuple[dict[str, Any], int]:
    """Text the customer a link on which they enrol their face with a selfie.

    The link is not returned: it is the customer's credential, and whoever opens it
    enrols their face on this account.
    """
    customer = await get_customer(customer_id)
    if customer.face_enrolled:
        # Whoever holds the phone would enrol their own face: a face is changed only
        # at a branch, where staff see who is asking.
        raise FaceAlreadyEnrolled(
            "this customer already has a face enrolled; an enrolment link cannot change it: "
            f"re-enrol at the counter with PUT /api/v1/customers/{customer.id}/face"
        )
    if customer.status != CustomerStatus.ACTIVE:
        raise Forbidden("the account is locked; unlock it first", code="account_locked")
    if customer.sms_opted_out:
        raise Conflict(
            "the customer has opted out of text messages (STOP); they must text START first",
            code="sms_opted_out",
        )
    async with in_transaction():
        url = await issue_enrolment_link(settings(), customer, actor=current_staff().actor)
        await enqueue_sms(
            settings(),
            to=customer.phone,
            body=messages.enrolment_link(customer.language, url, settings().capture_ttl_seconds),
            template="enrolment_link",
            customer_id=customer.id,
            secret_expires_at=link_deadline(settings()),
        )
    return {
        "customer_id": customer.id,
        "sent_to": mask_phone(customer.phone),
        "expires_in_seconds": settings().capture_ttl_seconds,
    }, 202


@blueprint.post("/add_customer")
@security_scheme([{"bearerAuth": []}])
@document_request(NewCustomerWithPhoto, source=DataSource.FORM_MULTIPART)
@document_response(CustomerOut, 201)
@photo_errors(409)
async def post_add_customer() -> tuple[dict[str, Any], int]:
    """Open an account with a face photo (all or nothing: no usable face, no account)."""
    form, files = await _form()
    name = form.get("name", "")
    phone = parse_phone_field(form.get("phone_number", ""), "phone_number")
    raw_deposit = form.get("initial_deposit", "").strip()
    deposit = parse_amount_field(raw_deposit, "initial_deposit") if raw_deposit else None
    language = clean_language(form.get("language") or DEFAULT_LANGUAGE)
    photo = await _photo(files)
    customer = await create_customer_with_photo(
        settings(),
        name=name,
        phone=phone,
        photo=photo,
        initial_deposit=deposit,
        actor=current_staff().actor,
        faces=_faces(),
        language=language,
    )
    return customer_json(customer), 201


@blueprint.post("/verify_face")
@security_scheme([{"bearerAuth": []}])
@document_request(FaceCheckForm, source=DataSource.FORM_MULTIPART)
@document_response(FaceCheckOut, 200)
@photo_errors(403, 404, 409, 410, 429)
async def post_verify_face() -> dict[str, Any]:
    """Compare a photo with the enrolled face: for a withdrawal (a match approves it;
    a mismatch counts toward the lockout) or, by customer id, as a plain check (the
    decision only, `distance` null; limited per customer and per key an hour)."""
    form, files = await _form()
    withdrawal_id = _id_field(form, "withdrawal_id")
    customer_id = _id_field(form, "customer_id")
    if withdrawal_id is None and customer_id is None:
        raise ValidationFailed("send withdrawal_id or customer_id", code="invalid_request")
    photo = await _photo(files)
    actor = current_staff().actor
    withdrawal = None
    if withdrawal_id is not None:
        withdrawal = await _withdrawal_awaiting_face(withdrawal_id)
        if customer_id is not None and customer_id != withdrawal.customer_id:
            raise ValidationFailed(
                "customer_id is not the customer of this withdrawal", code="customer_mismatch"
            )
        customer_id = withdrawal.customer_id
    assert customer_id is not None
    customer = await get_customer(customer_id)
    counted = await _count_plain_check(customer.id, actor) if withdrawal is None else ()
    if withdrawal is not None and customer.face_locked:
        raise Forbidden(
            "face checks are locked for this customer after too many failed selfies; "
            'unlock with PATCH /api/v1/customers/{id} {"face_locked": false}',
            code="face_locked",
        )
    try:
        result = await compare_with_enrolled(settings(), _faces(), customer, photo)
    except BankError:
        # A photo the model could not use (or no model) reveals nothing: not a check.
        await quotas.give_back(*counted)
        raise
    check = await record_check(
        settings(),
        customer.id,
        result,
        purpose="withdrawal" if withdrawal else "staff_check",
        actor=actor,
        counts=withdrawal is not None,
        withdrawal_id=withdrawal_id,
    )
    body: dict[str, Any] = {
        "verified": result.verified,
        "distance": round(float(result.distance or 0.0), 6) if withdrawal else None,
        "threshold": result.threshold,
        "customer_id": customer.id,
        "face_locked": check.locked,
    }
    if withdrawal is not None:
        if check.locked_now:
            await withdrawals.selfie_failed(
                settings(),
                withdrawal.id,
                reason="too many selfies did not match; face checks are locked",
                actor=actor,
            )
            updated = await withdrawals.get_withdrawal(withdrawal.id)
        else:
            updated = await withdrawals.face_checked_by_staff(
                settings(),
                withdrawal.id,
                verified=result.verified,
                distance=float(result.distance or 0.0),
                actor=actor,
            )
        body["withdrawal_id"] = withdrawal.id
        body["withdrawal_status"] = updated.status.value
    return body


async def _count_plain_check(customer_id: int, actor: str) -> tuple[tuple[Quota, object], ...]:
    """A plain check, counted per customer and per API key before the face is looked at
    (what was counted is returned): a face check answered without limit is a way to tune
    a spoof; 429 past the hour's."""
    configured = settings()
    counted: tuple[tuple[Quota, object], ...] = (
        (Quota("face_check", configured.face_checks_per_customer_per_hour), customer_id),
        (Quota("face_check_key", configured.face_checks_per_key_per_hour), actor),
    )
    if await quotas.take_all(*counted):
        return counted
    raise TooManyRequests(
        "too many plain face checks for this customer or this key in the last hour; "
        "try again in an hour (a withdrawal's face check is not limited this way)",
        code="too_many_face_checks",
    )


async def _withdrawal_awaiting_face(withdrawal_id: int) -> Withdrawal:
    """The withdrawal, if its face check is the next step (checked before the slow part)."""
    withdrawal = await withdrawals.get_withdrawal(withdrawal_id)
    if withdrawal.status == WithdrawalStatus.AWAITING_CODE:
        raise Conflict("the code must be verified before the face", code="code_not_verified")
    if withdrawal.status != WithdrawalStatus.AWAITING_SELFIE:
        raise Conflict(
            f"this withdrawal is {withdrawal.status.value}; its face check is over",
            code="already_done",
        )
    return withdrawal
