"""Money views for the dashboard: monthly totals, the latest payments and the platform fee."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
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


def _counted() -> sa.ColumnElement[bool]:
    """The payments the money views count: charges that succeeded, refunds that hold."""
    return sa.or_(
        sa.and_(Payment.kind.in_(CHARGE_KINDS), Payment.status == PaymentStatus.SUCCEEDED),
        sa.and_(
            Payment.kind == PaymentKind.REFUND,
            Payment.status.in_(PaymentStatus.REFUND_HOLDING),
        ),
    )


def _month_starts(newest: date, count: int, zone: ZoneInfo) -> list[tuple[date, datetime]]:
    """The first days of `count` local months from `newest` back, each with its UTC start."""
    months = []
    year, month = newest.year, newest.month
    for _ in range(count):
        first = date(year, month, 1)
        start = datetime.combine(first, time(0), zone).astimezone(UTC)
        months.append((first, start))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def monthly_totals(session: DbSession, tradie: Tradie, months: int = 12) -> list[MonthTotals]:
    """Deposits, balances, money paid another way, refunds and platform fees per month (the
    tradie's local months), newest first, from the payment records: the newest `months`
    months that have any. The database sums the months from the newest payment's back (one
    range of the tradie's (tradie_id, created_at) index, one row per month, kind and method);
    only a tradie with empty months among them reads older records, newest first, until the
    months are complete. The cost follows the months shown, not the whole history."""
    zone = ZoneInfo(tradie.timezone)
    mine = sa.and_(Payment.tradie_id == tradie.id, _counted())
    newest = session.scalar(sa.select(sa.func.max(Payment.created_at)).where(mine))
    totals: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    methods: dict[tuple[date, str], set[str]] = defaultdict(set)
    if newest is None:
        return []

    def add(
        month: date, currency: str, kind: str, method: str | None, amount: int, fee: int
    ) -> None:
        bucket = totals[(month, currency)]
        if method is not None:
            bucket["offline_minor"] += amount
            methods[(month, currency)].add(PaymentMethod.LABELS.get(method, method))
        elif kind == PaymentKind.DEPOSIT:
            bucket["deposits_minor"] += amount
            bucket["fees_minor"] += fee
        elif kind == PaymentKind.BALANCE:
            bucket["balances_minor"] += amount
            bucket["fees_minor"] += fee
        else:
            bucket["refunds_minor"] += amount
            bucket["fees_minor"] -= fee

    window = _month_starts(newest.astimezone(zone).date(), months, zone)
    oldest = window[-1][1]
    which = sa.case(
        *((Payment.created_at >= start, n) for n, (_first, start) in enumerate(window)),
        else_=len(window),
    ).label("month")
    grouped = session.execute(
        sa.select(
            which,
            Payment.currency,
            Payment.kind,
            Payment.method,
            sa.func.sum(Payment.amount_minor),
            sa.func.sum(Payment.application_fee_minor),
        )
        .where(mine, Payment.created_at >= oldest)
        .group_by(which, Payment.currency, Payment.kind, Payment.method)
    )
    for n, currency, kind, method, amount, fee in grouped:
        add(window[n][0], currency, kind, method, int(amount or 0), int(fee or 0))
    if len(totals) < months:  # empty months in the window: older records, newest first
        older = session.execute(
            sa.select(
                Payment.created_at,
                Payment.currency,
                Payment.kind,
                Payment.method,
                Payment.amount_minor,
                Payment.application_fee_minor,
            )
            .where(mine, Payment.created_at < oldest)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .execution_options(yield_per=500)
        )
        current: date | None = None
        for created_at, currency, kind, method, amount, fee in older:
            local = created_at.astimezone(zone)
            month = date(local.year, local.month, 1)
            if month != current:
                if len(totals) >= months:  # every later record is in an older month
                    break
                current = month
            add(month, currency, kind, method, amount, fee)
        older.close()
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
