"""Duties the worker's sweep loop runs periodically."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from peepopay.db_setup import DbSession

log = logging.getLogger(__name__)

RECONCILE_EVERY = timedelta(minutes=1)
# When this process last reconciled deposits (the sweep runs every 10 s; Stripe is asked at
# most once a minute per worker).
_last_reconcile: datetime | None = None


def periodic_duties(session: DbSession, now: datetime) -> None:
    """Expire stale holds, reconcile deposits whose webhook never came, sync due calendars and
    payment method domains."""
    from peepopay.bookings.services import expire_holds

    expire_holds(session, now)
    session.commit()
    reconcile_deposits(session, now)
    sync_calendars(session, now)
    register_domains(session, now)


def sync_calendars(session: DbSession, now: datetime) -> None:
    """A sync job for each calendar due (every CALENDAR_REFRESH_MINUTES, later after failures);
    a failure here is logged so the rest of the sweep still runs."""
    from peepopay.calendars.tasks import enqueue_due

    try:
        enqueue_due(session, now)
    except Exception:
        log.exception("calendar sync scheduling failed")
        session.rollback()


def register_domains(session: DbSession, now: datetime) -> None:
    """Payment method domains a Stripe outage or a lost job left unregistered."""
    from peepopay.payments import domains

    try:
        domains.sync_due(session, now)
    except Exception:
        log.exception("payment method domain sync failed")
        session.rollback()


def reconcile_deposits(session: DbSession, now: datetime) -> None:
    """Deposits whose webhook never came, once a minute; a failure here is logged so the rest
    of the sweep (the outbox) still runs."""
    global _last_reconcile
    last = _last_reconcile
    if last is not None and timedelta(0) <= now - last < RECONCILE_EVERY:
        return
    _last_reconcile = now
    from peepopay.bookings.payment_outcomes import reconcile_pending_deposits

    try:
        reconcile_pending_deposits(session, now)
    except Exception:
        log.exception("deposit reconciliation failed")
        session.rollback()
