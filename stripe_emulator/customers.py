"""Customers, scoped to the platform or to one connected account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import payment_methods
from .errors import invalid_request
from .formdata import apply_metadata, get_dict, get_email, get_str
from .state import Ctx, Emulator
from .store import Record, random_token, snapshot

EDITABLE = ("description", "email", "name", "phone")


def create_customer(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> Record:
    customer: dict[str, Any] = {
        "id": emu.store.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": emu.store.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": random_token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    record = emu.store.add(customer, ctx.account)
    _apply(emu, ctx, record, params)
    pm_id = get_str(params, "payment_method")
    if pm_id is not None:
        pm = payment_methods.resolve(emu, ctx.account, pm_id)
        payment_methods.attach(emu, ctx, pm, record.id)
    emu.emit("customer.created", customer, account=ctx.account, ctx=ctx)
    return record


def update_customer(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    before = snapshot(record.obj)
    _apply(emu, ctx, record, params)
    previous = {key: value for key, value in before.items() if record.obj.get(key) != value}
    emu.emit(
        "customer.updated", record.obj, account=ctx.account, ctx=ctx, previous_attributes=previous
    )


def delete_customer(emu: Emulator, ctx: Ctx, record: Record) -> dict[str, Any]:
    emu.store.delete(record.id)
    for pm in emu.store.records("payment_method", ctx.account):
        if pm.obj["customer"] == record.id:
            pm.obj["customer"] = None
    emu.emit("customer.deleted", record.obj, account=ctx.account, ctx=ctx)
    return {"id": record.id, "object": "customer", "deleted": True}


def _apply(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    customer = record.obj
    for key in EDITABLE:
        if key in params:
            customer[key] = get_email(params, key) if key == "email" else get_str(params, key)
    for key in ("address", "shipping"):
        if key in params:
            customer[key] = get_dict(params, key) or None
    customer["metadata"] = apply_metadata(customer["metadata"], params)
    settings = get_dict(params, "invoice_settings")
    if "default_payment_method" in settings:
        pm_id = get_str(settings, "default_payment_method")
        if pm_id is not None:
            pm = emu.store.get(
                pm_id,
                ctx.account,
                "payment_method",
                param="invoice_settings[default_payment_method]",
            )
            if pm["customer"] != record.id:
                raise invalid_request(
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id
