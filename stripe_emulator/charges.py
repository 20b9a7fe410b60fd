"""Charge objects: one per payment attempt on a PaymentIntent."""

from __future__ import annotations

from typing import Any

from .cards import Decline
from .state import APPLICATION_ID, Emulator
from .store import Record, snapshot


def new_charge(
    emu: Emulator,
    record: Record,
    pm_record: Record,
    *,
    authenticated: bool = False,
) -> dict[str, Any]:
    """A pending charge for the intent's amount; `finish` decides how it ends."""
    pi, pm = record.obj, pm_record.obj
    card = pm["card"]
    charge = {
        "id": emu.store.new_id("ch"),
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        # A direct charge made by the platform on a connected account names its application.
        "application": APPLICATION_ID if record.account is not None else None,
        "application_fee": None,
        "application_fee_amount": pi["application_fee_amount"],
        "balance_transaction": None,
        "billing_details": snapshot(pm["billing_details"]),
        "calculated_statement_descriptor": "PEEPOPAY",
        "captured": False,
        "created": emu.store.now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": pi["on_behalf_of"],
        "outcome": None,
        "paid": False,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": None,
                "brand": card["brand"],
                "checks": card["checks"],
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "last4": card["last4"],
                "network": card["brand"],
                "three_d_secure": (
                    {
                        "authentication_flow": "challenge",
                        "result": "authenticated",
                        "version": "2.2.0",
                    }
                    if authenticated
                    else None
                ),
                "wallet": snapshot(card["wallet"]),
            },
            "type": "card",
        },
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": pi["shipping"],
        "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
        "status": "pending",
        "transfer_data": None,
        "transfer_group": pi["transfer_group"],
    }
    emu.store.add(charge, record.account)
    return charge


def finish(charge: dict[str, Any], decline: Decline | None) -> None:
    """Settle a pending charge: captured in full, or failed with the decline's reason."""
    charge["outcome"] = outcome(decline)
    if decline is None:
        amount = charge["amount"]
        charge.update(status="succeeded", paid=True, captured=True, amount_captured=amount)
        charge["payment_method_details"]["card"]["amount_authorized"] = amount
    else:
        charge.update(status="failed", failure_code=decline.code, failure_message=decline.message)


def outcome(decline: Decline | None) -> dict[str, Any]:
    if decline is None:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": decline.decline_code,
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }
