"""An account's balance: balance transactions for charges, refunds and disputes, and payouts
that pay out what is available (the control API triggers them; Stripe runs them on a schedule).

`GET /v1/balance_transactions?payout=po_...` lists what a payout paid out, as Stripe does for
automatic payouts."""

from __future__ import annotations

from typing import Any

from .state import Ctx, Emulator
from .store import Record

DAY = 86400


def add_transaction(
    emu: Emulator,
    account: str | None,
    *,
    amount: int,
    currency: str,
    kind: str,
    source: str | None,
    category: str,
    fee: int = 0,
    description: str | None = None,
) -> dict[str, Any]:
    now = emu.store.now()
    txn = {
        "id": emu.store.new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now,
        "created": now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [{"amount": fee, "application": None, "currency": currency, "type": "application_fee"}]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "available",
        "type": kind,
    }
    emu.store.add(txn, account, payout=None)
    return txn


def pay_out(emu: Emulator, account: str, params: dict[str, Any]) -> dict[str, Any]:
    """Pay out everything available and not yet paid out: a payout, and the transactions it
    carries marked with it. `status` (paid, in_transit, pending, failed) and `arrival_days`."""
    records: list[Record] = [
        r for r in emu.store.records("balance_transaction", account) if r.extra["payout"] is None
    ]
    records = [r for r in records if r.obj["type"] != "payout"]
    currency = records[0].obj["currency"] if records else _currency(emu, account)
    amount = sum(r.obj["net"] for r in records)
    now = emu.store.now()
    status = str(params.get("status") or "paid")
    # A paid payout has arrived; one on its way arrives in a couple of days.
    days = params.get("arrival_days")
    days = int(days) if days is not None else (0 if status == "paid" else 2)
    payout_id = emu.store.new_id("po")
    payout = {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "arrival_date": now + days * DAY,
        "automatic": True,
        "balance_transaction": None,
        "created": now,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": "ba_emulator",
        "failure_balance_transaction": None,
        "failure_code": "account_closed" if status == "failed" else None,
        "failure_message": "The bank account has been closed." if status == "failed" else None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "reconciliation_status": "completed" if status == "paid" else "in_progress",
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "type": "bank_account",
    }
    for record in records:
        record.extra["payout"] = payout_id
    txn = add_transaction(
        emu,
        account,
        amount=-amount,
        currency=currency,
        kind="payout",
        source=payout_id,
        category="payout",
    )
    emu.store.record(txn["id"], account, "balance_transaction").extra["payout"] = payout_id
    payout["balance_transaction"] = txn["id"]
    emu.store.add(payout, account)
    ctx = Ctx(account=account)
    emu.emit("payout.created", payout, account=account, ctx=ctx)
    if status in ("paid", "failed"):
        emu.emit(f"payout.{status}", payout, account=account, ctx=ctx)
    return payout


def in_payout(record: Record, payout_id: str) -> bool:
    return record.extra.get("payout") == payout_id


def _currency(emu: Emulator, account: str) -> str:
    found = emu.store.find(account)
    return str(found.obj.get("default_currency") or "usd") if found else "usd"
