"""Card PaymentMethods: creation from card details or test ids, attach and detach."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

from .cards import (
    PAYMENT_METHOD_ALIASES,
    WALLET_ALIASES,
    CardProfile,
    card_for,
    validate_card,
)
from .errors import card_error, invalid_request
from .formdata import apply_metadata, get_dict, get_int, get_str
from .state import Ctx, Emulator
from .store import Record


def create(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> Record:
    """`POST /v1/payment_methods` with type=card and raw card details."""
    if get_str(params, "payment_method") is not None:
        raise invalid_request(
            "The emulator cannot clone PaymentMethods; create the card on the account instead.",
            param="payment_method",
        )
    return from_data(emu, ctx.account, params, label="")


def from_data(emu: Emulator, account: str | None, data: Mapping[str, Any], *, label: str) -> Record:
    """A new card PaymentMethod from `type` + `card[...]` (also `payment_method_data[...]`)."""

    def name(*keys: str) -> str:
        head, *rest = [label, *keys] if label else list(keys)
        return head + "".join(f"[{key}]" for key in rest)

    get_str(data, "type", required=True, choices=["card"], label=name("type"))
    card = get_dict(data, "card")
    raw_number = get_str(card, "number", required=True, label=name("card", "number"))
    number = re.sub(r"[\s-]", "", raw_number or "")
    exp_month = get_int(card, "exp_month", required=True, label=name("card", "exp_month")) or 0
    exp_year = get_int(card, "exp_year", required=True, label=name("card", "exp_year")) or 0
    if exp_year < 100:
        exp_year += 2000
    today = time.gmtime(emu.store.now())
    validate_card(number, exp_month, exp_year, get_str(card, "cvc"), (today.tm_year, today.tm_mon))
    record = new_card(emu, account, card_for(number), exp_month, exp_year)
    record.obj["billing_details"] = _billing_details(get_dict(data, "billing_details"))
    record.obj["metadata"] = apply_metadata({}, data)
    return record


def new_card(
    emu: Emulator,
    account: str | None,
    profile: CardProfile,
    exp_month: int,
    exp_year: int,
    wallet: str | None = None,
) -> Record:
    fingerprint = hashlib.sha256(profile.number.encode()).hexdigest()[:16]
    pm = {
        "id": emu.store.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _billing_details({}),
        "card": {
            "brand": profile.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": profile.country,
            "display_brand": profile.brand,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": fingerprint,
            "funding": profile.funding,
            "generated_from": None,
            "last4": profile.number[-4:],
            "networks": {"available": [profile.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": _wallet(wallet, profile.number),
        },
        "created": emu.store.now(),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    # set_up: saved for off-session use after a payment that passed authentication.
    return emu.store.add(pm, account, number=profile.number, set_up=False)


def resolve(
    emu: Emulator, account: str | None, pm_id: str, *, param: str = "payment_method"
) -> Record:
    """A PaymentMethod in this scope; a test id such as pm_card_visa makes a fresh card."""
    year = time.gmtime(emu.store.now()).tm_year
    number = PAYMENT_METHOD_ALIASES.get(pm_id)
    if number is not None:
        return new_card(emu, account, card_for(number), 12, year + 3)
    if pm_id in WALLET_ALIASES:
        number, wallet = WALLET_ALIASES[pm_id]
        return new_card(emu, account, card_for(number), 12, year + 3, wallet)
    return emu.store.record(pm_id, account, "payment_method", param=param)


def profile_of(record: Record) -> CardProfile:
    return card_for(record.extra["number"])


def attach(emu: Emulator, ctx: Ctx, record: Record, customer_id: str) -> dict[str, Any]:
    emu.store.get(customer_id, ctx.account, "customer", param="customer")
    pm = record.obj
    if pm["customer"] == customer_id:
        return pm
    if pm["customer"] is not None:
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    decline = profile_of(record).decline
    if decline is not None and decline.fails_attach:
        raise card_error(decline.message, decline.code, decline_code=decline.decline_code)
    pm["customer"] = customer_id
    emu.emit("payment_method.attached", pm, account=ctx.account, ctx=ctx)
    return pm


def detach(emu: Emulator, ctx: Ctx, record: Record) -> dict[str, Any]:
    pm = record.obj
    if pm["customer"] is None:
        raise invalid_request(
            f"The payment method {pm['id']} is not attached to a customer so detachment is "
            "impossible.",
            param="payment_method",
        )
    previous = {"customer": pm["customer"]}
    pm["customer"] = None
    record.extra["set_up"] = False
    emu.emit(
        "payment_method.detached", pm, account=ctx.account, ctx=ctx, previous_attributes=previous
    )
    return pm


def _wallet(wallet: str | None, number: str) -> dict[str, Any] | None:
    if wallet is None:
        return None
    return {"type": wallet, wallet: {}, "dynamic_last4": number[-4:]}


def _billing_details(data: Mapping[str, Any]) -> dict[str, Any]:
    address = get_dict(data, "address")
    fields = ("city", "country", "line1", "line2", "postal_code", "state")
    return {
        "address": {key: address.get(key) for key in fields},
        "email": data.get("email"),
        "name": data.get("name"),
        "phone": data.get("phone"),
        "tax_id": None,
    }
