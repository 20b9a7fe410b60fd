"""An account's balance: balance transactions for charges (less Stripe's processing fee and the
platform's application fee, available after the account's payout delay), refunds and disputes,
and payouts that pay out what is available (the control API triggers them; Stripe runs them on
a schedule).

`GET /v1/balance_transactions?payout=po_...` lists what a payout paid out, as Stripe does for
automatic payouts."""

from __future__ import annotations

from typing import Any

from .state import APPLICATION_ID, Ctx, Emulator
from .store import Record

DAY = 86400
DEFAULT_DELAY_DAYS = 2


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
    stripe_fee: int = 0,
    available_on: int | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A balance transaction; `fee` is the platform's application fee, `stripe_fee` Stripe's
    processing fee, and the money is available from `available_on` (now when not given)."""
    now = emu.store.now()
    available_on = now if available_on is None else available_on
    details = []
    if stripe_fee:
        details.append(
            {
                "amount": stripe_fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        )
    if fee:
        details.append(
            {
                "amount": fee,
                "application": APPLICATION_ID,
                "currency": currency,
                "description": "Application fee",
                "type": "application_fee",
            }
        )
    txn = {
        "id": emu.store.new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "created": now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee + stripe_fee,
        "fee_details": details,
        "net": amount - fee - stripe_fee,
        "reporting_category": category,
        "source": source,
        "status": "available" if available_on <= now else "pending",
        "type": kind,
    }
    emu.store.add(txn, account, payout=None)
    return txn


def processing_fee(emu: Emulator, account: str | None, amount: int, card_country: str) -> int:
    """Stripe's fee on a card charge, from the fee table by the account's country: a domestic
    or an international rate plus the fixed part, rounded half up. Nothing on the account's
    balance when the platform pays Stripe's fees (controller[fees][payer]=application)."""
    record = emu.store.find(account) if account else None
    country = record.obj.get("country") if record else None
    if record is not None and record.obj["controller"]["fees"]["payer"] != "account":
        return 0
    rule = emu.fee_rule(country)
    domestic = card_country == (country or "US")
    bps = rule["percent_bps"] if domestic else rule.get("international_bps", rule["percent_bps"])
    return (amount * bps + 5000) // 10000 + rule.get("fixed", 0)


def available_from(emu: Emulator, account: str | None) -> int:
    """When a charge made now can be paid out: after the account's payout delay in days."""
    record = emu.store.find(account) if account else None
    schedule = record.obj["settings"]["payouts"]["schedule"] if record else {}
    return emu.store.now() + int(schedule.get("delay_days", DEFAULT_DELAY_DAYS)) * DAY


def release_due(emu: Emulator) -> None:
    """Pending funds whose day has come become available (Stripe does this on its own)."""
    now = emu.store.now()
    for record in emu.store.records("balance_transaction", any_scope=True):
        txn = record.obj
        if txn["status"] == "pending" and txn["available_on"] <= now:
            txn["status"] = "available"


def pay_out(emu: Emulator, account: str, params: dict[str, Any]) -> dict[str, Any]:
    """Pay out everything available and not yet paid out: a payout, and the transactions it
    carries marked with it. `status` (paid, in_transit, pending, failed) and `arrival_days`."""
    release_due(emu)
    records: list[Record] = [
        r for r in emu.store.records("balance_transaction", account) if r.extra["payout"] is None
    ]
    records = [r for r in records if r.obj["type"] != "payout" and r.obj["status"] == "available"]
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
