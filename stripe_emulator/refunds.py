"""Money after a charge: refunds, the platform's application fees, and disputes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import balance
from .errors import invalid_request
from .formdata import apply_metadata, get_bool, get_dict, get_int, get_str
from .money import money
from .state import Ctx, Emulator
from .store import Record, snapshot


def create_refund(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> Record:
    charge = _refundable_charge(emu, ctx, params)
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = get_int(params, "amount", minimum=1) or remaining
    if amount > remaining:
        limit = "charge amount" if remaining == charge["amount"] else "unrefunded amount on charge"
        currency = charge["currency"]
        raise invalid_request(
            f"Refund amount ({money(amount, currency)}) is greater than {limit} "
            f"({money(remaining, currency)})",
            param="amount",
        )
    reason = get_str(params, "reason", choices=["duplicate", "fraudulent", "requested_by_customer"])
    refund_fee = bool(get_bool(params, "refund_application_fee"))
    get_bool(params, "reverse_transfer")  # accepted; direct charges have no transfer to reverse
    refund = {
        "id": emu.store.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": emu.store.now(),
        "currency": charge["currency"],
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": apply_metadata({}, params),
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    refund["balance_transaction"] = balance.add_transaction(
        emu,
        ctx.account,
        amount=-amount,
        currency=charge["currency"],
        kind="refund",
        source=refund["id"],
        category="refund",
    )["id"]
    record = emu.store.add(refund, ctx.account)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    if refund_fee and charge["application_fee"]:
        _refund_fee(emu, charge)
    emu.emit("refund.created", refund, account=ctx.account, ctx=ctx)
    emu.emit("charge.refunded", charge, account=ctx.account, ctx=ctx)
    return record


def update_refund(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    previous = {"metadata": dict(record.obj["metadata"])}
    record.obj["metadata"] = apply_metadata(record.obj["metadata"], params)
    emu.emit(
        "refund.updated", record.obj, account=ctx.account, ctx=ctx, previous_attributes=previous
    )


def _refundable_charge(emu: Emulator, ctx: Ctx, params: Mapping[str, Any]) -> dict[str, Any]:
    pi_id, charge_id = get_str(params, "payment_intent"), get_str(params, "charge")
    if pi_id is None and charge_id is None:
        raise invalid_request(
            "One of the following params should be provided for this request: payment_intent "
            "or charge."
        )
    if pi_id is not None:
        pi = emu.store.get(pi_id, ctx.account, "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded":
            raise invalid_request(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge_id = charge_id or pi["latest_charge"]
    assert charge_id is not None
    charge = emu.store.get(charge_id, ctx.account, "charge", param="charge")
    if pi_id is not None and charge["payment_intent"] != pi_id:
        raise invalid_request(
            f"The charge {charge_id} does not belong to PaymentIntent {pi_id}.", param="charge"
        )
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge_id} has not succeeded, so it cannot be refunded.", param="charge"
        )
    return charge


def create_application_fee(emu: Emulator, charge: dict[str, Any], account: str) -> str:
    """The platform's fee on a direct charge, kept on the platform like Stripe does."""
    fee_id = emu.store.new_id("fee")
    fee = {
        "id": fee_id,
        "object": "application_fee",
        "account": account,
        "amount": charge["application_fee_amount"],
        "amount_refunded": 0,
        "application": "ca_peepopay_emulator",
        "balance_transaction": None,
        "charge": charge["id"],
        "created": emu.store.now(),
        "currency": charge["currency"],
        "livemode": False,
        "originating_transaction": None,
        "refunded": False,
    }
    emu.store.add(fee, None)
    emu.emit("application_fee.created", fee, account=None)
    return fee_id


def _refund_fee(emu: Emulator, charge: dict[str, Any]) -> None:
    """Refund the fee in proportion to the charge's refunded share, rounding half up."""
    record = emu.store.find(charge["application_fee"])
    assert record is not None
    fee = record.obj
    share = (2 * fee["amount"] * charge["amount_refunded"] + charge["amount_captured"]) // (
        2 * charge["amount_captured"]
    )
    if share <= fee["amount_refunded"]:
        return
    fee["amount_refunded"] = share
    fee["refunded"] = share == fee["amount"]
    emu.emit("application_fee.refunded", fee, account=None)


def open_dispute(
    emu: Emulator, ctx: Ctx, charge: dict[str, Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """A customer's bank disputes the charge (the control API, or card 4000000000000259)."""
    if charge["status"] != "succeeded":
        raise invalid_request(f"Charge {charge['id']} has not succeeded.", param="charge")
    amount = get_int(params, "amount", minimum=1) or charge["amount_captured"]
    card = charge["payment_method_details"]["card"]
    dispute = {
        "id": emu.store.new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": emu.store.now(),
        "currency": charge["currency"],
        "evidence": {},
        "evidence_details": {
            "due_by": emu.store.now() + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {"brand": card["brand"], "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": get_str(params, "reason") or "fraudulent",
        "status": "needs_response",
    }
    emu.store.add(dispute, ctx.account)
    charge["disputed"] = True
    emu.emit("charge.dispute.created", dispute, account=ctx.account, ctx=ctx)
    # Stripe takes the disputed amount from the balance at once.
    _move_funds(emu, ctx, dispute, -amount, "dispute", "charge.dispute.funds_withdrawn")
    return dispute


DISPUTE_OPEN = ("warning_needs_response", "needs_response", "warning_under_review", "under_review")


def update_dispute(emu: Emulator, ctx: Ctx, record: Record, params: Mapping[str, Any]) -> None:
    """Evidence from the merchant; `submit` sends it to the bank (status under_review)."""
    dispute = record.obj
    if dispute["status"] not in DISPUTE_OPEN:
        raise invalid_request(
            f"This dispute is already closed ({dispute['status']}); it can't be updated."
        )
    evidence = get_dict(params, "evidence")
    dispute["evidence"] = {**dispute["evidence"], **{k: str(v) for k, v in evidence.items()}}
    dispute["evidence_details"]["has_evidence"] = bool(dispute["evidence"])
    dispute["metadata"] = apply_metadata(dispute["metadata"], params)
    if get_bool(params, "submit") is not False:
        dispute["status"] = "under_review"
        dispute["evidence_details"]["submission_count"] += 1
    emu.emit("charge.dispute.updated", dispute, account=ctx.account, ctx=ctx)


def close_dispute(emu: Emulator, ctx: Ctx, record: Record, outcome: str) -> None:
    """The bank decides (won: the money comes back) or the merchant accepts it (lost)."""
    dispute = record.obj
    if dispute["status"] not in DISPUTE_OPEN:
        raise invalid_request(f"This dispute is already closed ({dispute['status']}).")
    dispute["status"] = outcome
    emu.emit("charge.dispute.closed", dispute, account=ctx.account, ctx=ctx)
    if outcome == "won":
        _move_funds(
            emu,
            ctx,
            dispute,
            dispute["amount"],
            "dispute_reversal",
            "charge.dispute.funds_reinstated",
        )


def _move_funds(
    emu: Emulator, ctx: Ctx, dispute: dict[str, Any], amount: int, category: str, event: str
) -> None:
    txn = balance.add_transaction(
        emu,
        ctx.account,
        amount=amount,
        currency=dispute["currency"],
        kind="adjustment",
        source=dispute["id"],
        category=category,
        description=f"Chargeback {'withdrawal' if amount < 0 else 'reversal'}: {dispute['charge']}",
    )
    dispute["balance_transactions"].append(snapshot(txn))
    emu.emit(event, dispute, account=ctx.account, ctx=ctx)
