"""Checkout Sessions in payment mode: creation, the PaymentIntent behind the hosted page, expiry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for

from . import payments
from .cards import AUTOMATIC_PAYMENT_METHOD_TYPES
from .errors import invalid_request, missing_param
from .formdata import (
    apply_metadata,
    get_currency,
    get_dict,
    get_email,
    get_int,
    get_list,
    get_str,
)
from .state import Ctx, Emulator
from .store import Record

MIN_LIFETIME, MAX_LIFETIME = 30 * 60, 24 * 3600
UI_MODES = ["elements", "embedded_page", "form", "hosted_page"]


def install(emu: Emulator) -> None:
    emu.subscribe("payment_intent.succeeded", _complete_on_payment)


def create_session(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> Record:
    mode = get_str(params, "mode", required=True, choices=["payment", "setup", "subscription"])
    if mode != "payment":
        raise invalid_request("The Stripe emulator supports mode=payment only.", param="mode")
    # The API version the SDK pins names Checkout's own page `hosted_page` (once `hosted`).
    ui_mode = get_str(params, "ui_mode", choices=UI_MODES) or "hosted_page"
    if ui_mode != "hosted_page":
        raise invalid_request(
            "The Stripe emulator supports ui_mode=hosted_page only.", param="ui_mode"
        )
    items = _line_items(get_list(params, "line_items") or [])
    currency = items[0]["currency"]
    total = sum(item["amount"] for item in items)
    customer = get_str(params, "customer")
    if customer is not None:
        emu.store.get(customer, ctx.account, "customer", param="customer")
        if "customer_email" in params:
            raise invalid_request(
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
    # Without payment_method_types, Checkout shows the account's enabled payment methods.
    given_types = get_list(params, "payment_method_types")
    types = given_types if given_types is not None else AUTOMATIC_PAYMENT_METHOD_TYPES
    pi_params = _payment_intent_params(params, total, currency, given_types)
    payments.check_amounts(ctx, pi_params, total, currency)
    now = emu.store.now()
    expires_at = get_int(params, "expires_at") or now + MAX_LIFETIME
    if not now + MIN_LIFETIME <= expires_at <= now + MAX_LIFETIME:
        raise invalid_request(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours after Checkout "
            "Session creation.",
            param="expires_at",
        )
    session_id = emu.store.new_id("cs_test", 58)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": get_str(params, "cancel_url"),
        "client_reference_id": get_str(params, "client_reference_id"),
        "created": now,
        "currency": currency,
        "customer": customer,
        "customer_creation": None if customer else "if_required",
        "customer_details": None,
        "customer_email": get_email(params, "customer_email"),
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": apply_metadata({}, params),
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_types": [str(t) for t in types],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": get_str(params, "success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": ui_mode,
        "url": emu.public_url(url_for("stripe_hosted.checkout_page", session_id=session_id)),
    }
    return emu.store.add(session, ctx.account, line_items=items, payment_intent_params=pi_params)


def refresh(emu: Emulator, record: Record) -> None:
    """Expire an open session whose time is up (Stripe does this in the background)."""
    if record.obj["status"] == "open" and emu.store.now() >= record.obj["expires_at"]:
        expire(emu, Ctx(account=record.account), record)


def expire(emu: Emulator, ctx: Ctx, record: Record) -> None:
    session = record.obj
    if session["status"] != "open":
        raise invalid_request(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This session '
            f"has a status of {session['status']}."
        )
    session["status"] = "expired"
    pi_id = session["payment_intent"]
    if pi_id is not None:
        pi = emu.store.record(pi_id, record.account, "payment_intent")
        if pi.obj["status"] in payments.CONFIRMABLE:
            payments.cancel_intent(emu, ctx, pi, {})
    emu.emit("checkout.session.expired", session, account=record.account, ctx=ctx)


def payment_intent_for(emu: Emulator, record: Record, email: str | None) -> Record:
    """The session's PaymentIntent, made on first payment attempt with payment_intent_data."""
    session = record.obj
    if session["payment_intent"] is not None:
        return emu.store.record(session["payment_intent"], record.account, "payment_intent")
    params = dict(record.extra["payment_intent_params"])
    if email and not session["customer"]:
        params["receipt_email"] = email
    pi = payments.create_intent(emu, Ctx(account=record.account), params)
    pi.extra["checkout_session"] = session["id"]
    session["payment_intent"] = pi.id
    return pi


def _complete_on_payment(emu: Emulator, event: dict[str, Any]) -> None:
    pi = event["data"]["object"]
    pi_record = emu.store.find(pi["id"])
    session_id = pi_record.extra.get("checkout_session") if pi_record else None
    record = emu.store.find(session_id) if session_id else None
    if record is None or record.obj["status"] != "open":
        return
    session = record.obj
    email = session["customer_email"] or pi["receipt_email"]
    if email is None and session["customer"]:
        email = emu.store.get(session["customer"], record.account, "customer")["email"]
    session.update(status="complete", payment_status="paid")
    session["customer_details"] = {"address": None, "email": email, "name": None, "phone": None}
    emu.emit("checkout.session.completed", session, account=record.account)


def _payment_intent_params(
    params: Mapping[str, Any], total: int, currency: str, types: list[Any] | None
) -> dict[str, Any]:
    """payment_intent_data as PaymentIntent create parameters, checked now, used on payment."""
    data = get_dict(params, "payment_intent_data")
    allowed = {
        "application_fee_amount",
        "description",
        "metadata",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "transfer_group",
    }
    for key in data:
        if key not in allowed:
            raise invalid_request(
                f"The emulator does not support payment_intent_data[{key}].",
                param=f"payment_intent_data[{key}]",
            )
    get_str(data, "setup_future_usage", choices=["on_session", "off_session"])
    apply_metadata({}, data)
    result = {**data, "amount": str(total), "currency": currency}
    if types is not None:
        result["allowed_payment_method_types"] = [str(t) for t in types]
    else:
        result["automatic_payment_methods"] = {"enabled": "true"}
    if params.get("customer"):
        result["customer"] = params["customer"]
    return result


def _line_items(raw: list[Any]) -> list[dict[str, Any]]:
    if not raw:
        raise missing_param("line_items")
    items = []
    for index, item in enumerate(raw):
        label = f"line_items[{index}]"
        if not isinstance(item, dict) or "price_data" not in item:
            raise invalid_request(
                f"The emulator needs {label}[price_data]; saved prices are not supported.",
                param=f"{label}[price_data]",
            )
        price = get_dict(item, "price_data")
        name = get_str(
            get_dict(price, "product_data"),
            "name",
            required=True,
            label=f"{label}[price_data][product_data][name]",
        )
        unit = get_int(
            price,
            "unit_amount",
            required=True,
            minimum=0,
            label=f"{label}[price_data][unit_amount]",
        )
        quantity = get_int(item, "quantity", required=True, minimum=1, label=f"{label}[quantity]")
        currency = (
            get_currency(price, "currency", required=True, label=f"{label}[price_data][currency]")
            or ""
        )
        assert unit is not None and quantity is not None
        items.append(
            {
                "name": name,
                "quantity": quantity,
                "unit_amount": unit,
                "currency": currency,
                "amount": unit * quantity,
            }
        )
    if len({item["currency"] for item in items}) > 1:
        raise invalid_request("All line_items must use the same currency.", param="line_items")
    return items
