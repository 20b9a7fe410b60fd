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
from peepopay.payments.models import (
    Dispute,
    Payment,
    PaymentKind,
    PaymentMethod,
    PaymentStatus,
    offline_label,
)

# --------------------------------------------------------------------------- money views


@dataclass(frozen=True)
class MonthTotals:
    month: date
    currency: str
    deposits_minor: int = 0
    balances_minor: int = 0
    refunds_minor: int = 0
    fees_minor: int = 0
    # Received another way (cash, bank transfer), kept apart from the card deposits and balances.
    offline_minor: int = 0
    offline_methods: tuple[str, ...] = ()
    # Taken back by disputes in the month, and given back in the month when one was won.
    withdrawn_minor: int = 0
    reinstated_minor: int = 0

    @property
    def net_minor(self) -> int:
        received = self.deposits_minor + self.balances_minor + self.offline_minor
        return received - self.refunds_minor - self.withdrawn_minor + self.reinstated_minor


def monthly_totals(session: DbSession, tradie: Tradie, months: int = 12) -> list[MonthTotals]:
    """Deposits, balances, money paid another way, refunds and platform fees per month (the
    tradie's local months), newest first, from the payment records."""
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
    methods: dict[tuple[date, str], set[str]] = defaultdict(set)
    for row in rows:
        local = row.created_at.astimezone(zone)
        bucket = totals[(date(local.year, local.month, 1), row.currency)]
        if row.method is not None:
            bucket["offline_minor"] += row.amount_minor
            methods[(date(local.year, local.month, 1), row.currency)].add(
                PaymentMethod.LABELS.get(row.method, row.method)
            )
        elif row.kind == PaymentKind.DEPOSIT:
            bucket["deposits_minor"] += row.amount_minor
            bucket["fees_minor"] += row.application_fee_minor
        elif row.kind == PaymentKind.BALANCE:
            bucket["balances_minor"] += row.amount_minor
            bucket["fees_minor"] += row.application_fee_minor
        else:
            bucket["refunds_minor"] += row.amount_minor
            bucket["fees_minor"] -= row.application_fee_minor
    disputes: Iterable[Dispute] = session.scalars(
        sa.select(Dispute).where(
            Dispute.tradie_id == tradie.id,
            sa.or_(Dispute.withdrawn_minor > 0, Dispute.reinstated_minor > 0),
        )
    )
    for dispute in disputes:
        for field, when in (
            ("withdrawn_minor", dispute.withdrawn_at),
            ("reinstated_minor", dispute.reinstated_at),
        ):
            if when is not None and getattr(dispute, field):
                local = when.astimezone(zone)
                bucket = totals[(date(local.year, local.month, 1), dispute.currency)]
                bucket[field] += getattr(dispute, field)
    ordered = sorted(totals.items(), key=lambda item: item[0], reverse=True)[:months]
    return [
        MonthTotals(
            month, currency, **values, offline_methods=tuple(sorted(methods[(month, currency)]))
        )
        for (month, currency), values in ordered
    ]


def received_minor() -> sa.Case[int]:
    """Per payment row: what it brought in (a succeeded deposit or balance), else 0."""
    return sa.case(
        (
            sa.and_(Payment.kind.in_(CHARGE_KINDS), Payment.status == PaymentStatus.SUCCEEDED),
            Payment.amount_minor,
        ),
        else_=0,
    )


def refunded_minor() -> sa.Case[int]:
    """Per payment row: what it gave back (a refund made or under way), else 0."""
    return sa.case(
        (
            sa.and_(
                Payment.kind == PaymentKind.REFUND,
                Payment.status.in_(PaymentStatus.REFUND_HOLDING),
            ),
            Payment.amount_minor,
        ),
        else_=0,
    )


def paid_columns() -> tuple[sa.ScalarSelect[int], sa.ScalarSelect[str | None]]:
    """Two correlated columns for a query of bookings (the CSV): what the booking's payments
    brought in net of refunds, and the method of any deposit paid another way."""
    net = (
        sa.select(sa.func.coalesce(sa.func.sum(received_minor() - refunded_minor()), 0))
        .where(Payment.booking_id == Booking.id)
        .scalar_subquery()
    )
    method = (
        sa.select(sa.func.max(Payment.method))
        .where(Payment.booking_id == Booking.id, Payment.status == PaymentStatus.SUCCEEDED)
        .scalar_subquery()
    )
    return net, method


def paid_how(net_minor: int, method: str | None) -> str:
    """How the CSV names the way a booking was paid."""
    if method:
        return offline_label(method)
    return "Card" if net_minor else ""


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
