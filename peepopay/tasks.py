"""Duties run periodically by the worker's sweep loop; each area adds its own here."""

from __future__ import annotations

from datetime import datetime

from peepopay.db_setup import DbSession


def periodic_duties(session: DbSession, now: datetime) -> None:
    """Expire stale holds and other time-driven state changes (filled in by later areas)."""
    from peepopay.booking.services import expire_holds

    expire_holds(session, now)
    session.commit()
