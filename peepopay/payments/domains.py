"""Payment method domains: Apple Pay and Google Pay show in the widget only on domains
registered with Stripe on the tradie's connected account, so each tradie's allowed embedding
origins and PeepoPay's own domain are registered there, and re-registered when they change.

The rows are the wish and the database keeps it: a change writes them in the same transaction
(`plan`), a job after the commit makes Stripe match (`sync`), and the worker's sweep retries
whatever a Stripe outage or a lost job left pending, so nothing is lost.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession
from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.models import DomainStatus, PaymentMethodDomain

log = logging.getLogger(__name__)

PENDING_KEY = "payment_method_domains"
# How long a failed attempt waits before the sweep tries again (doubling, at most a day).
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(days=1)


def registrable(host: str | None) -> bool:
    """A public domain name Stripe can check: not an IP address, localhost or a bare name."""
    if not host or "." not in host or host.endswith((".localhost", ".local")):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def own_domain() -> str | None:
    host = urlsplit(current_app.config["BASE_URL"]).hostname
    return host.lower() if registrable(host) else None


def wanted(tradie: Tradie) -> list[str]:
    """The tradie's embedding domains, then PeepoPay's own (where the widget itself runs)."""
    hosts = [urlsplit(origin).hostname for origin in tradie.origins]
    names = [host.lower() for host in hosts if host and registrable(host)]
    if own := own_domain():
        names.append(own)
    return list(dict.fromkeys(names))


def rows_of(session: DbSession, tradie_id: int) -> list[PaymentMethodDomain]:
    return list(
        session.scalars(
            sa.select(PaymentMethodDomain)
            .where(PaymentMethodDomain.tradie_id == tradie_id)
            .order_by(PaymentMethodDomain.domain_name)
        )
    )


def plan(session: DbSession, tradie: Tradie, now: datetime) -> bool:
    """Write what Stripe should have for the tradie (in the caller's transaction): new domains
    pending, dropped ones to be disabled. Schedules a sync after the commit. True if anything
    is left to do."""
    names = set(wanted(tradie))
    for row in rows_of(session, tradie.id):
        if row.domain_name in names:
            names.discard(row.domain_name)
            if row.status == DomainStatus.REMOVING:
                row.status, row.attempts, row.updated_at = DomainStatus.PENDING, 0, now
        elif row.stripe_id is None:
            session.delete(row)
        elif row.status != DomainStatus.REMOVING:
            row.status, row.attempts, row.error, row.updated_at = (
                DomainStatus.REMOVING,
                0,
                None,
                now,
            )
    for name in sorted(names):
        session.add(
            PaymentMethodDomain(
                tradie_id=tradie.id,
                domain_name=name,
                status=DomainStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    todo = any(row.status in _TODO for row in rows_of(session, tradie.id))
    if todo:
        session.info.setdefault(PENDING_KEY, set()).add(tradie.id)
    return todo


_TODO = (DomainStatus.PENDING, DomainStatus.REMOVING)


def sync(session: DbSession, tradie_id: int, now: datetime) -> Counter[str]:
    """Make Stripe match the tradie's rows; each row commits on its own. A Stripe outage
    leaves the row pending with a later retry time; Stripe refusing the domain marks it failed
    with Stripe's reason. Returns how many rows had each outcome."""
    outcomes: Counter[str] = Counter()
    tradie = session.get(Tradie, tradie_id)
    if tradie is None or not tradie.stripe_account_id:
        return outcomes  # registered once the account is connected
    account = tradie.stripe_account_id
    for row in rows_of(session, tradie_id):
        if row.status not in _TODO:
            continue
        try:
            outcome = _sync_row(session, account, row, now)
        except PaymentError as error:
            row.attempts += 1
            row.error = error.message[:500]
            row.updated_at = now
            outcome = "retry"
            log.warning("payment method domain %s: %s", row.domain_name, error.message)
        session.commit()
        outcomes[outcome] += 1
    return outcomes


def _sync_row(session: DbSession, account: str, row: PaymentMethodDomain, now: datetime) -> str:
    if row.status == DomainStatus.REMOVING:
        if row.stripe_id:
            gateway.disable_payment_method_domain(account, row.stripe_id)
        session.delete(row)
        return "removed"
    domain = gateway.register_payment_method_domain(
        account, row.domain_name, key=f"pmd-{row.tradie_id}-{row.domain_name}-{row.id}"
    )
    row.stripe_id = domain.id
    row.updated_at = now
    apple = domain.apple_pay
    if apple.status == "active":
        row.status, row.error = DomainStatus.ACTIVE, None
        return "active"
    details = apple.status_details
    row.status = DomainStatus.FAILED
    row.error = (details.error_message if details else "Stripe could not verify the domain.")[:500]
    return "failed"


def due(session: DbSession, now: datetime) -> list[int]:
    """Tradies with domains to register or remove whose retry time has come (the sweep)."""
    rows = session.execute(
        sa.select(
            PaymentMethodDomain.tradie_id,
            PaymentMethodDomain.attempts,
            PaymentMethodDomain.updated_at,
        )
        .where(PaymentMethodDomain.status.in_(_TODO))
        .limit(500)
    )
    ready = set()
    for tradie_id, attempts, updated_at in rows:
        wait = min(RETRY_BASE * (2 ** min(attempts, 20)), RETRY_MAX) if attempts else timedelta(0)
        if updated_at + wait <= now:
            ready.add(tradie_id)
    return sorted(ready)


def sync_due(session: DbSession, now: datetime) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for tradie_id in due(session, now):
        outcomes.update(sync(session, tradie_id, now))
    return outcomes


def sync_job(tradie_id: int) -> str:
    """RQ job: register a tradie's domains now (the sweep retries what this leaves)."""
    from peepopay.clock import utcnow
    from peepopay.extensions import db

    try:
        return str(dict(sync(db.session, tradie_id, utcnow())))
    finally:
        db.session.remove()


@sa.event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: DbSession) -> None:
    tradie_ids = session.info.pop(PENDING_KEY, None)
    if not tradie_ids:
        return
    from peepopay.queue import enqueue_once

    for tradie_id in sorted(tradie_ids):
        enqueue_once(sync_job, tradie_id, job_id=f"payment-method-domains-{tradie_id}")


@sa.event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: DbSession) -> None:
    session.info.pop(PENDING_KEY, None)
