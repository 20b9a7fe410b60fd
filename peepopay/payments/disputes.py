"""Disputes through their life: opened, updated, closed, funds withdrawn and reinstated.

Stripe may deliver these events in any order, twice, or late. Each event's dispute object is
folded into one row per dispute so the result is the same whatever the order: a later stage
(under review, closed) never gives way to an earlier one, and the money withdrawn and
reinstated only ever grows to what Stripe's balance transactions say.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from peepopay import audit
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.notifications import messages
from peepopay.payments import gateway
from peepopay.payments.ledger import stripe_id, tradie_of
from peepopay.payments.models import Dispute, DisputeStatus

WITHDRAWN = "charge.dispute.funds_withdrawn"
REINSTATED = "charge.dispute.funds_reinstated"
CLOSED = "charge.dispute.closed"


def _moved(obj: dict[str, Any]) -> tuple[int, int]:
    """Money taken and given back by the dispute's balance transactions (fees aside)."""
    taken = given = 0
    for txn in obj.get("balance_transactions") or []:
        if not isinstance(txn, dict):
            continue
        amount = int(txn.get("amount") or 0)
        if amount < 0:
            taken += -amount
        else:
            given += amount
    return taken, given


def _instant(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def apply(
    session: DbSession, booking: Booking, obj: dict[str, Any], event_type: str, now: datetime
) -> str:
    """Fold one dispute event into the booking's dispute (with the booking locked)."""
    dispute_id = str(obj["id"])
    row = session.scalar(sa.select(Dispute).where(Dispute.stripe_dispute_id == dispute_id))
    status = str(obj.get("status") or "needs_response")
    new = row is None
    if row is None:
        row = Dispute(
            booking_id=booking.id,
            tradie_id=booking.tradie_id,
            stripe_dispute_id=dispute_id,
            stripe_charge_id=stripe_id(obj.get("charge")),
            amount_minor=int(obj.get("amount") or 0),
            currency=str(obj.get("currency") or booking.currency).upper(),
            status=status,
            reason=str(obj.get("reason") or "general")[:40],
            withdrawn_minor=0,
            reinstated_minor=0,
            created_at=now,
        )
        session.add(row)
    before = (row.status, row.withdrawn_minor, row.reinstated_minor)
    later = DisputeStatus.rank(status) > DisputeStatus.rank(row.status)
    same = DisputeStatus.rank(status) == DisputeStatus.rank(row.status)
    if new or later or (same and (event_type == CLOSED or not row.closed)):
        row.status = status
        row.amount_minor = int(obj.get("amount") or row.amount_minor)
        row.reason = str(obj.get("reason") or row.reason)[:40]
    details = obj.get("evidence_details") or {}
    if details.get("due_by"):
        row.evidence_due_at = _instant(details["due_by"])
    taken, given = _moved(obj)
    if event_type == WITHDRAWN:
        taken = max(taken, row.amount_minor)
    if event_type == REINSTATED:
        given = max(given, row.amount_minor)
    if taken > row.withdrawn_minor:
        row.withdrawn_minor, row.withdrawn_at = taken, row.withdrawn_at or now
    if given > row.reinstated_minor:
        row.reinstated_minor, row.reinstated_at = given, row.reinstated_at or now
    session.flush()
    if new:
        booking.disputed = True
        audit.record(
            session,
            tradie_id=booking.tradie_id,
            actor="stripe",
            action="payment.disputed",
            entity=booking,
            summary={"dispute": dispute_id, "amount_minor": row.amount_minor, "reason": row.reason},
        )
        if not row.closed:
            account = _account_of(session, booking)
            url = gateway.dispute_dashboard_url(account, dispute_id)
            messages.dispute_opened(session, booking, row, url, now)
    if (row.status, row.withdrawn_minor, row.reinstated_minor) == before and not new:
        return "unchanged"
    if row.closed and before[0] not in DisputeStatus.CLOSED:
        audit.record(
            session,
            tradie_id=booking.tradie_id,
            actor="stripe",
            action=f"payment.dispute_{row.status}",
            entity=booking,
            summary={"dispute": dispute_id},
        )
    return "dispute_recorded"


def _account_of(session: DbSession, booking: Booking) -> str:
    return tradie_of(session, booking).stripe_account_id or ""


def disputes_of(session: DbSession, booking_id: int) -> list[Dispute]:
    return list(
        session.scalars(
            sa.select(Dispute).where(Dispute.booking_id == booking_id).order_by(Dispute.id)
        )
    )
