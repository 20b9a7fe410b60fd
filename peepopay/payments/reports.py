"""Money views for the dashboard: monthly totals, the latest payments and the platform fee."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.money import BPS
from peepopay.payments.ledger import CHARGE_KINDS, fee_bps
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus

# --------------------------------------------------------------------------- money views


@dataclass(frozen=True)
class MonthTotals:
    month: date
    currency: str
    deposits_minor: int = 0
    balances_minor: int = 0
    refunds_minor: int = 0
    fees_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.deposits_minor + self.balances_minor - self.refunds_minor


def monthly_totals(session: DbSession, tradie: Tradie, months: int = 12) -> list[MonthTotals]:
    """Deposits, balances, refunds and platform fees per month (the tradie's local months),
    newest first, from the payment records."""
    zone = ZoneInfo(tradie.timezone)
    rows: Iterable[Payment] = session.scalars(
        sa.select(Payment)
        .where(Payment.tradie_id == tradie.id)
        .where(
            sa.or_(
                sa.and_(Payment.kind.in_(CHARGE_KINDS), Payment.status == PaymentStatus.SUCCEEDED),
                sa.and_(
                    Payment.kind == PaymentKind.REFUND,
                    Payment.status.in_(PaymentStatus.REFUND_HOLDING),
                ),
            )
        )
    )
    totals: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        local = row.created_at.astimezone(zone)
        bucket = totals[(date(local.year, local.month, 1), row.currency)]
        if row.kind == PaymentKind.DEPOSIT:
            bucket["deposits_minor"] += row.amount_minor
            bucket["fees_minor"] += row.application_fee_minor
        elif row.kind == PaymentKind.BALANCE:
            bucket["balances_minor"] += row.amount_minor
            bucket["fees_minor"] += row.application_fee_minor
        else:
            bucket["refunds_minor"] += row.amount_minor
            bucket["fees_minor"] -= row.application_fee_minor
    ordered = sorted(totals.items(), key=lambda item: item[0], reverse=True)[:months]
    return [MonthTotals(month, currency, **values) for (month, currency), values in ordered]


def fee_percent() -> str:
    """The platform fee as people read it: 250 -> "2.5"."""
    whole, rest = divmod(fee_bps(), BPS // 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".")


def recent_payments(
    session: DbSession, tradie_id: int, limit: int = 25
) -> Sequence[sa.Row[Payment, Booking]]:
    """The tradie's latest payment records, newest first, each with its booking."""
    return session.execute(
        sa.select(Payment, Booking)
        .join(Booking, Booking.id == Payment.booking_id)
        .where(Payment.tradie_id == tradie_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    ).all()
