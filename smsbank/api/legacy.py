"""Customer lookups by name or phone at the original app's URLs (`/get_customer_*`,
`/get_phone_number_by_name`), kept for branch staff serving a customer in person.

Same key as the rest of the staff API. They share the customers, withdrawals and
ledger of the new API; nothing here has rules of its own.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_response, security_scheme, tag_blueprint, validate_querystring

from smsbank.api.auth import protect
from smsbank.api.customers import parse_phone_field
from smsbank.api.schemas import (
    CustomerIdOut,
    CustomerOut,
    ErrorResponse,
    NameQuery,
    PhoneNumberOut,
    PhoneQuery,
)
from smsbank.customers import customer_json, find_one_by_name
from smsbank.errors import NotFound
from smsbank.models import Customer

blueprint = protect(Blueprint("legacy", __name__))
tag_blueprint(blueprint, ["original staff endpoints"])


@blueprint.get("/get_customer_id_by_name")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(NameQuery)
@document_response(CustomerIdOut, 200)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
async def get_customer_id_by_name(query_args: NameQuery) -> dict[str, Any]:
    """The id of the one customer with this name (409 with candidates if several)."""
    customer = await find_one_by_name(query_args.name)
    return {"customer_id": customer.id}


@blueprint.get("/get_phone_number_by_name")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(NameQuery)
@document_response(PhoneNumberOut, 200)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
async def get_phone_number_by_name(query_args: NameQuery) -> dict[str, Any]:
    """The phone number of the one customer with this name (409 if several)."""
    customer = await find_one_by_name(query_args.name)
    return {"phone_number": customer.phone}


@blueprint.get("/get_customer_details_by_phone")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(PhoneQuery)
@document_response(CustomerOut, 200)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
async def get_customer_details_by_phone(query_args: PhoneQuery) -> dict[str, Any]:
    """The customer with this phone number, written in any common format."""
    phone = parse_phone_field(query_args.phone)
    customer = await Customer.get_or_none(phone=phone)
    if customer is None:
        raise NotFound("no customer has that phone number", code="customer_not_found")
    return customer_json(customer)
