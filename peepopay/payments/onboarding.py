"""Connecting a tradie's Stripe account: onboarding links, account state, disconnection."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.clock import utcnow
from peepopay.db_setup import DbSession
from peepopay.notifications.links import external_url
from peepopay.payments import domains, gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.ledger import as_dict

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- onboarding


def apply_account(tradie: Tradie, account: Any) -> bool:
    """Copy Stripe's account flags to the tradie; True when taking deposits changed."""
    data = as_dict(account)
    before = tradie.charges_enabled
    tradie.charges_enabled = bool(data.get("charges_enabled"))
    tradie.payouts_enabled = bool(data.get("payouts_enabled"))
    tradie.details_submitted = bool(data.get("details_submitted"))
    return before != tradie.charges_enabled


def onboarding_link(session: DbSession, tradie: Tradie, now: datetime) -> str:
    """Create the tradie's connected account on first use; a fresh Account Link to Stripe."""
    if tradie.stripe_account_id is not None:
        try:
            return _account_link(tradie)
        except PaymentError as error:
            if not error.account_gone and error.code != "resource_missing":
                raise
            disconnect(session, tradie, now, actor="stripe")
            session.flush()
    if tradie.stripe_account_id is None:
        generation = int(tradie.updated_at.timestamp()) if tradie.updated_at else 0
        account = gateway.create_account(
            email=tradie.contact_email or tradie.email,
            country=tradie.country,
            business_name=tradie.business_name,
            tradie_id=tradie.id,
            key=f"tradie-{tradie.id}-account-{generation}",
        )
        tradie.stripe_account_id = str(account.id)
        tradie.stripe_reconnect_needed_at = None
        apply_account(tradie, account)
        audit.record(
            session,
            tradie_id=tradie.id,
            actor=f"tradie:{tradie.id}",
            action="stripe.account_created",
            entity=tradie,
            summary={"account": tradie.stripe_account_id},
        )
        session.flush()
    return _account_link(tradie)


def _account_link(tradie: Tradie) -> str:
    assert tradie.stripe_account_id is not None
    return gateway.create_account_link(
        tradie.stripe_account_id,
        refresh_url=external_url("payments.onboarding_refresh"),
        return_url=external_url("payments.onboarding_return"),
    )


def connect_demo(session: DbSession, tradie: Tradie, now: datetime) -> str:
    """Demo mode: make sure the tradie has a connected, onboarded account in the emulator
    (whose memory is empty after each restart). Returns the account id."""
    refresh_account(session, tradie, now)  # forgets an account the emulator no longer has
    if tradie.stripe_account_id and tradie.charges_enabled:
        return tradie.stripe_account_id
    onboarding_link(session, tradie, now)
    assert tradie.stripe_account_id is not None
    gateway.demo_onboard(tradie.stripe_account_id)
    refresh_account(session, tradie, now)
    return tradie.stripe_account_id


def refresh_account(session: DbSession, tradie: Tradie, now: datetime) -> None:
    """Ask Stripe for the account's current state; a revoked account is disconnected."""
    if tradie.stripe_account_id is None:
        return
    try:
        account = gateway.retrieve_account(tradie.stripe_account_id)
    except PaymentError as error:
        if error.account_gone:
            needs_reconnect(session, tradie, now)
            return
        raise
    if apply_account(tradie, account):
        if tradie.charges_enabled:
            # Wallets need the tradie's domains registered on the account, now it can take them.
            domains.plan(session, tradie, now)
        audit.record(
            session,
            tradie_id=tradie.id,
            actor="stripe",
            action="stripe.account_updated",
            entity=tradie,
            summary={"charges_enabled": tradie.charges_enabled},
        )


def needs_reconnect(session: DbSession, tradie: Tradie, now: datetime) -> None:
    """Stripe no longer lets us act for the tradie's account (access revoked, account gone):
    forget it and ask the tradie to reconnect; the widget stops offering bookings meanwhile."""
    if tradie.stripe_account_id is not None:
        disconnect(session, tradie, now, actor="stripe")
    tradie.stripe_reconnect_needed_at = tradie.stripe_reconnect_needed_at or now


def mark_accounts_gone(session: DbSession, accounts: set[str], now: datetime) -> None:
    """Every tradie whose connected account Stripe refused needs to reconnect."""
    tradies = session.scalars(sa.select(Tradie).where(Tradie.stripe_account_id.in_(accounts)))
    for tradie in tradies:
        needs_reconnect(session, tradie, now)


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_mark_accounts_gone)


def _mark_accounts_gone(_exc: BaseException | None) -> None:
    """Whatever became of the request or job (a refused hold rolls back), a connected account
    Stripe refused is recorded, in a transaction of its own after the work's one has ended."""
    gone = gateway.accounts_gone()
    if not gone:
        return
    from peepopay.extensions import db

    try:
        db.session.rollback()
        mark_accounts_gone(db.session, gone, utcnow())
        db.session.commit()
    except SQLAlchemyError:
        log.exception("could not record connected accounts Stripe refused: %s", sorted(gone))
        db.session.rollback()


def disconnect(session: DbSession, tradie: Tradie, now: datetime, *, actor: str) -> None:
    """Forget the connected account: deposits stop until the tradie connects again."""
    previous = tradie.stripe_account_id
    tradie.stripe_account_id = None
    tradie.charges_enabled = tradie.payouts_enabled = tradie.details_submitted = False
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor,
        action="stripe.disconnected",
        entity=tradie,
        summary={"account": previous},
    )
