"""PaymentIntents and their charges: create, update, confirm, 3-D Secure, cancel, settle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for

from . import balance, charges, payment_methods, refunds
from .cards import AUTHENTICATION_REQUIRED, AUTOMATIC_PAYMENT_METHOD_TYPES, DECLINED, Decline
from .errors import StripeError, card_error, invalid_request, unexpected_state
from .formdata import (
    apply_metadata,
    get_bool,
    get_currency,
    get_dict,
    get_email,
    get_int,
    get_list,
    get_str,
)
from .money import money
from .state import APPLICATION_ID, Ctx, Emulator
from .store import Record, random_token, snapshot

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
# Smallest chargeable amounts Stripe enforces, in minor units (50 for any other currency).
MINIMUM_AMOUNTS = {"gbp": 30, "hkd": 400, "jpy": 50, "mxn": 1000, "dkk": 250, "nok": 300}
# Fields Stripe lets you change after a PaymentIntent has left the editable statuses.
ALWAYS_EDITABLE = {"metadata", "description", "receipt_email", "shipping", "expand"}
# What create(confirm=true) still has to hand to confirm once the shared fields are set.
RETURN_URL_NEEDED = (
    "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. "
    "Because some of these payment methods might redirect your customer off of your page, you "
    "must provide a `return_url`. If you don't want to accept redirect-based payment methods, "
    "set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
    "Payment Intents."
)
CONFIRM_ONLY = ("off_session", "error_on_requires_action", "return_url", "payment_method_data")


def create_intent(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> Record:
    amount = get_int(params, "amount", required=True, minimum=1) or 0
    currency = _currency(params)
    check_amounts(ctx, params, amount, currency)
    confirm = bool(get_bool(params, "confirm"))
    if not confirm and params.get("off_session") not in (None, "", "false"):
        raise invalid_request(
            "You can only pass `off_session` when `confirm` is true.", param="off_session"
        )
    types = get_list(params, "allowed_payment_method_types")
    # Older API versions call it payment_method_types; stripe-python 16 sends the new name.
    types = types if types is not None else get_list(params, "payment_method_types")
    if "automatic_payment_methods" in params and types is not None:
        raise invalid_request(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "allowed_payment_method_types.",
            param="allowed_payment_method_types",
        )
    pi_id = emu.store.new_id("pi")
    pi: dict[str, Any] = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "allowed_payment_method_types": types,
        "application": APPLICATION_ID if ctx.account is not None else None,
        "application_fee_amount": get_int(params, "application_fee_amount"),
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{random_token(25)}",
        "confirmation_method": "automatic",
        "created": emu.store.now(),
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_options": {"card": _card_options({})},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    if types is not None:
        pi["payment_method_types"] = [str(t) for t in types]
    else:
        # Neither given: Stripe's current API versions turn automatic payment methods on.
        automatic = get_dict(params, "automatic_payment_methods")
        enabled = get_bool(automatic, "enabled") is not False
        pi["automatic_payment_methods"] = {
            "allow_redirects": get_str(
                automatic,
                "allow_redirects",
                choices=["always", "never"],
                label="automatic_payment_methods[allow_redirects]",
            )
            or "always",
            "enabled": enabled,
        }
        if enabled:
            pi["payment_method_types"] = list(AUTOMATIC_PAYMENT_METHOD_TYPES)
    if confirm:
        _check_return_url(pi, params, None)
    record = emu.store.add(pi, ctx.account, return_url=None)
    _apply_fields(emu, ctx, record, params)
    _set_payment_method(emu, ctx, record, params)
    emu.emit("payment_intent.created", pi, account=ctx.account, ctx=ctx)
    if confirm:
        confirm_intent(emu, ctx, record, {k: params[k] for k in CONFIRM_ONLY if k in params})
    return record


def update_intent(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    pi = record.obj
    locked = [key for key in params if key not in ALWAYS_EDITABLE]
    if locked and pi["status"] not in CONFIRMABLE:
        raise unexpected_state(
            f"This PaymentIntent's {locked[0]} could not be updated because it has a status of "
            f"{pi['status']}. You may only update the {locked[0]} of a PaymentIntent with one "
            "of the following statuses: " + ", ".join(CONFIRMABLE) + ".",
            param=locked[0],
        )
    amount = get_int(params, "amount", minimum=1) or pi["amount"]
    currency = _currency(params) if "currency" in params else pi["currency"]
    check_amounts(ctx, params, amount, currency)
    pi["amount"], pi["currency"] = amount, currency
    if "application_fee_amount" in params:
        pi["application_fee_amount"] = get_int(params, "application_fee_amount")
    # Stripe has no payment_intent.updated event.
    _apply_fields(emu, ctx, record, params)
    _set_payment_method(emu, ctx, record, params)


def confirm_intent(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    """Try the payment; declines raise a 402 StripeError after the state change is stored."""
    pi = record.obj
    if pi["status"] == "succeeded":
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it has already succeeded after "
            "being previously confirmed."
        )
    if pi["status"] not in CONFIRMABLE:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "confirmed: " + ", ".join(CONFIRMABLE) + "."
        )
    _check_return_url(pi, params, record.extra["return_url"])
    _apply_fields(emu, ctx, record, params)
    pm_record = _payment_method_for_confirm(emu, ctx, record, params)
    _check_customer_owns(record.obj, pm_record.obj)
    if get_str(params, "return_url"):
        record.extra["return_url"] = params["return_url"]
    off_session = params.get("off_session") not in (None, "", "false")
    strict = bool(get_bool(params, "error_on_requires_action"))
    pi["payment_method"] = pm_record.id
    pi["last_payment_error"] = pi["next_action"] = None
    _attempt(emu, ctx, record, pm_record, off_session=off_session, no_action=strict)


def _check_return_url(pi: dict[str, Any], params: Mapping[str, Any], known: str | None) -> None:
    """Automatic payment methods that may redirect the customer need somewhere to come back to,
    even for a card: Stripe refuses to confirm without `return_url`."""
    automatic = pi.get("automatic_payment_methods") or {}
    if not automatic.get("enabled") or automatic.get("allow_redirects") == "never":
        return
    if known or get_str(params, "return_url"):
        return
    raise invalid_request(RETURN_URL_NEEDED, param="return_url")


def complete_authentication(emu: Emulator, ctx: Ctx, record: Record, success: bool) -> None:
    """The customer's answer on the hosted 3-D Secure page."""
    pi = record.obj
    if pi["status"] != "requires_action":
        return
    pm_record = emu.store.record(pi["payment_method"], record.account, "payment_method")
    if success:
        _attempt(emu, ctx, record, pm_record, off_session=False, authenticated=True)
        return
    pi.update(status="requires_payment_method", payment_method=None, next_action=None)
    pi["last_payment_error"] = StripeError(
        400,
        "invalid_request_error",
        "The provided PaymentMethod has failed authentication. You can provide "
        "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent "
        "again.",
        code="payment_intent_authentication_failure",
        payment_method=snapshot(pm_record.obj),
    ).body()["error"]
    emu.emit("payment_intent.payment_failed", pi, account=record.account, ctx=ctx)


def settle_processing(emu: Emulator, ctx: Ctx, record: Record, success: bool) -> None:
    """Finish a `processing` PaymentIntent (the control API's succeed/fail)."""
    pi = record.obj
    if pi["status"] != "processing":
        raise unexpected_state(f"This PaymentIntent is {pi['status']}, not processing.")
    pm_record = emu.store.record(pi["payment_method"], record.account, "payment_method")
    charge = emu.store.get(pi["latest_charge"], record.account, "charge")
    if success:
        _succeed(emu, ctx, record, pm_record, charge)
    else:
        _decline(emu, ctx, record, pm_record, DECLINED, charge)


def cancel_intent(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    pi = record.obj
    if pi["status"] not in CONFIRMABLE:
        raise unexpected_state(
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "canceled: " + ", ".join(CONFIRMABLE) + "."
        )
    reason = get_str(
        params,
        "cancellation_reason",
        choices=["duplicate", "fraudulent", "requested_by_customer", "abandoned"],
    )
    pi.update(
        status="canceled", canceled_at=emu.store.now(), cancellation_reason=reason, next_action=None
    )
    emu.emit("payment_intent.canceled", pi, account=record.account, ctx=ctx)


def _attempt(
    emu: Emulator,
    ctx: Ctx,
    record: Record,
    pm_record: Record,
    *,
    off_session: bool,
    authenticated: bool = False,
    no_action: bool = False,
) -> None:
    profile = payment_methods.profile_of(pm_record)
    requested = record.obj["payment_method_options"]["card"]["request_three_d_secure"]
    needs_authentication = not authenticated and (
        profile.authentication == "always"
        or (
            profile.authentication == "unless_setup"
            and not (off_session and pm_record.extra["set_up"])
        )
        or (requested in ("any", "challenge") and not off_session)
    )
    if needs_authentication and (off_session or no_action):
        raise _decline(emu, ctx, record, pm_record, AUTHENTICATION_REQUIRED)
    if needs_authentication:
        _require_action(emu, ctx, record)
    elif profile.decline is not None:
        raise _decline(emu, ctx, record, pm_record, profile.decline)
    elif profile.processing:
        charge = charges.new_charge(emu, record, pm_record)
        record.obj.update(status="processing", latest_charge=charge["id"])
        emu.emit("charge.pending", charge, account=record.account, ctx=ctx)
        emu.emit("payment_intent.processing", record.obj, account=record.account, ctx=ctx)
    else:
        _succeed(emu, ctx, record, pm_record, None, authenticated=authenticated)


def _require_action(emu: Emulator, ctx: Ctx, record: Record) -> None:
    pi = record.obj
    path = url_for(
        "stripe_hosted.three_d_secure", pi_id=pi["id"], client_secret=pi["client_secret"]
    )
    pi["status"] = "requires_action"
    pi["next_action"] = {
        "type": "redirect_to_url",
        "redirect_to_url": {"return_url": record.extra["return_url"], "url": emu.public_url(path)},
    }
    emu.emit("payment_intent.requires_action", pi, account=record.account, ctx=ctx)


def _succeed(
    emu: Emulator,
    ctx: Ctx,
    record: Record,
    pm_record: Record,
    charge: dict[str, Any] | None,
    *,
    authenticated: bool = False,
) -> None:
    pi, pm, account = record.obj, pm_record.obj, record.account
    charge = charge or charges.new_charge(emu, record, pm_record, authenticated=authenticated)
    charges.finish(charge, None)
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        next_action=None,
        last_payment_error=None,
    )
    if pi["setup_future_usage"] and pi["customer"]:
        # Set up for later off-session charges only when that is what the payment asked for.
        pm_record.extra["set_up"] = pi["setup_future_usage"] == "off_session"
        if pm["customer"] is None:
            pm["customer"] = pi["customer"]
            emu.emit("payment_method.attached", pm, account=account, ctx=ctx)
    if pi["application_fee_amount"] and account is not None:
        charge["application_fee"] = refunds.create_application_fee(emu, charge, account)
    charge["balance_transaction"] = balance.add_transaction(
        emu,
        account,
        amount=charge["amount"],
        currency=charge["currency"],
        kind="charge",
        source=charge["id"],
        category="charge",
        fee=pi["application_fee_amount"] or 0,
        stripe_fee=balance.processing_fee(emu, account, charge["amount"], pm["card"]["country"]),
        available_on=balance.available_from(emu, account),
        description=pi["description"],
    )["id"]
    emu.emit("charge.succeeded", charge, account=account, ctx=ctx)
    emu.emit("payment_intent.succeeded", pi, account=account, ctx=ctx)
    if payment_methods.profile_of(pm_record).dispute:
        refunds.open_dispute(emu, Ctx(account=account), charge, {})


def _decline(
    emu: Emulator,
    ctx: Ctx,
    record: Record,
    pm_record: Record,
    decline: Decline,
    charge: dict[str, Any] | None = None,
) -> StripeError:
    """Record a failed charge and return the card error the caller raises."""
    pi, account = record.obj, record.account
    charge = charge or charges.new_charge(emu, record, pm_record)
    charges.finish(charge, decline)
    error = card_error(
        decline.message,
        decline.code,
        decline_code=decline.decline_code,
        charge=charge["id"],
        payment_method=snapshot(pm_record.obj),
    )
    pi.update(
        status="requires_payment_method",
        payment_method=None,
        latest_charge=charge["id"],
        next_action=None,
        last_payment_error=error.body()["error"],
    )
    emu.emit("charge.failed", charge, account=account, ctx=ctx)
    emu.emit("payment_intent.payment_failed", pi, account=account, ctx=ctx)
    error.extra["payment_intent"] = snapshot(pi)
    return error


def _payment_method_for_confirm(
    emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]
) -> Record:
    data = get_dict(params, "payment_method_data")
    if data:
        return payment_methods.from_data(emu, ctx.account, data, label="payment_method_data")
    pm_id = get_str(params, "payment_method") or record.obj["payment_method"]
    if pm_id is None:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "You can either update the PaymentIntent with a payment method and then confirm "
            "it again, or confirm it again directly with a payment method.",
            param="payment_method",
        )
    return payment_methods.resolve(emu, ctx.account, pm_id)


def _apply_fields(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    """Fields shared by create, update and confirm."""
    pi = record.obj
    customer = get_str(params, "customer")
    if customer is not None:
        emu.store.get(customer, ctx.account, "customer", param="customer")
        pi["customer"] = customer
    if "receipt_email" in params:
        pi["receipt_email"] = get_email(params, "receipt_email")
    for key in ("description", "statement_descriptor", "transfer_group"):
        if key in params:
            pi[key] = get_str(params, key)
    for key in ("statement_descriptor_suffix", "on_behalf_of"):
        if key in params:
            pi[key] = get_str(params, key)
    if "shipping" in params:
        pi["shipping"] = get_dict(params, "shipping") or None
    if "setup_future_usage" in params:
        pi["setup_future_usage"] = get_str(
            params, "setup_future_usage", choices=["on_session", "off_session"]
        )
    if "payment_method_options" in params:
        card = get_dict(get_dict(params, "payment_method_options"), "card")
        pi["payment_method_options"] = {"card": _card_options(card)}
    pi["metadata"] = apply_metadata(pi["metadata"], params)


def _set_payment_method(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    """A payment method given without confirming leaves the intent requires_confirmation."""
    pm_id = get_str(params, "payment_method")
    if pm_id is None:
        return
    pm = payment_methods.resolve(emu, ctx.account, pm_id).obj
    pi = record.obj
    _check_customer_owns(pi, pm)
    pi["payment_method"] = pm["id"]
    if pi["status"] in ("requires_payment_method", "requires_action"):
        pi.update(status="requires_confirmation", next_action=None)


def _check_customer_owns(pi: dict[str, Any], pm: dict[str, Any]) -> None:
    owner = pm["customer"]
    if owner is not None and owner != pi["customer"]:
        raise invalid_request(
            f"The provided PaymentMethod belongs to customer {owner}; pass that customer on "
            "the PaymentIntent to use it.",
            param="payment_method",
        )


def _card_options(card: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "installments": None,
        "mandate_options": None,
        "network": None,
        "request_three_d_secure": get_str(
            card,
            "request_three_d_secure",
            choices=["any", "automatic", "challenge"],
            label="payment_method_options[card][request_three_d_secure]",
        )
        or "automatic",
    }


def _currency(params: Mapping[str, Any]) -> str:
    return get_currency(params, "currency", required=True) or ""


def check_amounts(ctx: Ctx, params: Mapping[str, Any], amount: int, currency: str) -> None:
    minimum = MINIMUM_AMOUNTS.get(currency, 50)
    if amount < minimum:
        raise invalid_request(
            f"Amount must be at least {money(minimum, currency)} {currency}",
            param="amount",
            code="amount_too_small",
        )
    fee = get_int(params, "application_fee_amount", minimum=0)
    if fee is None:
        return
    if ctx.account is None and not get_dict(params, "transfer_data"):
        raise invalid_request(
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
            "direct payment (using an OAuth key or Stripe-Account header) or destination "
            "payment (using `transfer_data[destination]`).",
            param="application_fee_amount",
        )
    if fee > amount:
        raise invalid_request(
            "The application fee amount cannot be greater than the amount.",
            param="application_fee_amount",
        )
