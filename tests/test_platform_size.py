"""What the dashboard's cost at platform size rests on (bench.pages measures the cost itself):
migration 0014's indexes on both databases, and the queries rewritten to read only what a page
shows: the payments per month (the newest twelve months that have payments, empty months
skipped), the upcoming bookings list bounded by start, the customers list counted apart."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.extensions import db


@pytest.mark.both_databases
def test_migration_0014_indexes(app: Flask, db_url: str) -> None:
    with app.app_context(), warnings.catch_warnings():
        # SQLite's reflection skips the expression index on lower(customer_email), with a word.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        inspector = sa.inspect(db.engine)
        bookings = {i["name"]: i["column_names"] for i in inspector.get_indexes("bookings")}
        payments = {i["name"]: i["column_names"] for i in inspector.get_indexes("payments")}
        if db_url.startswith("postgresql"):
            trigram = db.session.execute(
                sa.text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'bookings' "
                    "AND indexdef LIKE '%gin_trgm_ops%'"
                )
            ).scalars()
            assert sorted(trigram) == [
                "ix_bookings_email_trgm",
                "ix_bookings_name_trgm",
                "ix_bookings_phone_trgm",
            ]
    assert bookings["ix_bookings_tradie_status_starts_at"] == ["tradie_id", "status", "starts_at"]
    assert bookings["ix_bookings_tradie_created_at"] == ["tradie_id", "created_at"]
    assert payments["ix_payments_tradie_created_at"] == ["tradie_id", "created_at"]
    assert "ix_payments_tradie_id" not in payments  # its prefix serves every lookup by tradie


def _month_start(year: int, month: int) -> datetime:
    # Noon UTC on the 2nd: inside the same month in Auckland.
    return datetime(year, month, 2, 12, tzinfo=UTC)


@pytest.mark.both_databases
def test_payments_per_month_skip_empty_months_and_stop_at_twelve(
    app: Flask,
    tradie_id: int,
    add_booking: Callable[..., int],
    add_payment: Callable[..., int],
) -> None:
    """Fourteen months with payments, a three-month gap among them: the newest twelve that have
    any, newest first, each summed by kind; a refund counts against its month."""
    from peepopay.accounts.models import Tradie
    from peepopay.payments.reports import monthly_totals

    booking = add_booking()
    months = [(2025, m) for m in range(1, 13)] + [(2026, 4), (2026, 5)]  # no Jan–Mar 2026
    for n, (year, month) in enumerate(months):
        at = _month_start(year, month)
        add_payment(booking, amount_minor=1000 + n, application_fee_minor=25, created_at=at)
        add_payment(booking, kind="balance", amount_minor=3000, created_at=at + timedelta(hours=1))
    add_payment(booking, kind="refund", amount_minor=500, created_at=_month_start(2026, 5))
    add_payment(booking, amount_minor=99, status="failed", created_at=_month_start(2026, 5))
    add_payment(
        booking, amount_minor=700, method="cash", created_at=_month_start(2025, 6), kind="balance"
    )
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        totals = monthly_totals(db.session, tradie)
        assert [(t.month.year, t.month.month) for t in totals] == list(reversed(months))[:12]
        newest = totals[0]
        assert (newest.deposits_minor, newest.balances_minor, newest.refunds_minor) == (
            1013,
            3000,
            500,
        )
        assert newest.fees_minor == 25
        june = next(t for t in totals if (t.month.year, t.month.month) == (2025, 6))
        assert june.offline_minor == 700 and june.offline_methods == ("cash",)
        # Two months: the window from the newest payment back holds all of them.
        assert [(t.month.year, t.month.month) for t in monthly_totals(db.session, tradie, 2)] == [
            (2026, 5),
            (2026, 4),
        ]


@pytest.mark.both_databases
def test_upcoming_list_keeps_a_booking_under_way(
    app: Flask, tradie_id: int, add_booking: Callable[..., int]
) -> None:
    """The upcoming list's start bound (no job is longer than a day) keeps a job that started
    hours ago and has not ended, and leaves out one that ended."""
    from peepopay.bookings import listing

    now = datetime(2030, 3, 5, 12, tzinfo=UTC)
    under_way = add_booking(
        starts_at=now - timedelta(hours=20), ends_at=now + timedelta(hours=1), status="confirmed"
    )
    ended = add_booking(
        starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1), status="completed"
    )
    coming = add_booking(
        starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=3, hours=1)
    )
    with app.app_context():
        page = listing.page_of(db.session, tradie_id, listing.Filters(), now)
        assert [b.id for b in page.items] == [under_way, coming]
        assert page.total == 2 and ended not in [b.id for b in page.items]
