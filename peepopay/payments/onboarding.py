"""Connecting a tradie's Stripe account: onboarding links, account state, disconnection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession
from peepopay.notifications.links import external_url
from peepopay.payments import domains, gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.ledger import as_dict

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
            if error.code not in ("account_invalid", "resource_missing"):
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
        if error.code in gateway.ACCOUNT_GONE:
            disconnect(session, tradie, now, actor="stripe")
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
