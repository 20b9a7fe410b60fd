"""Payment method domains: each tradie's embedding origins and PeepoPay's own domain are
registered on the connected account through the official SDK, re-registered when the origins
change, retried after a Stripe outage, and shown in settings; the emulator's card form then
offers wallets on a registered domain only, and a wallet payment confirms the booking."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from peepopay.bookings.models import Status
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.payments import domains, gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.models import DomainStatus, PaymentMethodDomain
from peepopay.queue import get_queue
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    booking,
    connect,
    elements_url,
    hold,
    payments,
    settle,
)

SITE = "https://www.kiwi-plumbing.co.nz"
BROKEN = "https://book.kiwi.invalid"


@pytest.fixture
def account(app: Flask, stripe_live: Any, tradie_id: int) -> str:
    return connect(app, tradie_id, stripe_live)


def rows(app: Flask, tradie_id: int) -> dict[str, tuple[str, str | None]]:
    with app.app_context():
        found = {
            row.domain_name: (row.status, row.error)
            for row in domains.rows_of(db.session, tradie_id)
        }
        db.session.remove()
        return found


def run_sync(app: Flask, tradie_id: int) -> None:
    """What the worker's job does after the commit."""
    with app.app_context():
        domains.sync(db.session, tradie_id, utcnow())
        db.session.remove()


def stripe_domains(stripe_live: Any, account: str) -> dict[str, dict[str, Any]]:
    sdk = stripe_live.client("sk_test_peepopay_tests")
    listed = sdk.v1.payment_method_domains.list(options={"stripe_account": account})
    return {d.domain_name: d.to_dict() for d in listed.data}


def save_origins(dash: DashboardClient, *origins: str) -> None:
    response = dash.post("/dashboard/settings/embedding", {"allowed_origins": "\n".join(origins)})
    assert response.status_code == 303


def test_domains_are_registered_and_follow_the_allowed_origins(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int, account: str
) -> None:
    # Connecting registers PeepoPay's own domain.
    assert rows(app, tradie_id) == {"peepopay.test": (DomainStatus.PENDING, None)}
    save_origins(dash, SITE, BROKEN, "http://localhost:3000")
    assert rows(app, tradie_id) == {
        name: (DomainStatus.PENDING, None)
        for name in ("peepopay.test", "www.kiwi-plumbing.co.nz", "book.kiwi.invalid")
    }
    # The change commits with a job to register them; the job runs after the commit.
    with app.app_context():
        queued = get_queue()
        assert queued is not None and f"payment-method-domains-{tradie_id}" in queued.job_ids
    run_sync(app, tradie_id)
    state = rows(app, tradie_id)
    assert state["www.kiwi-plumbing.co.nz"] == (DomainStatus.ACTIVE, None)
    assert state["peepopay.test"] == (DomainStatus.ACTIVE, None)
    assert state["book.kiwi.invalid"][0] == DomainStatus.FAILED
    assert "did not resolve" in (state["book.kiwi.invalid"][1] or "")
    at_stripe = stripe_domains(stripe_live, account)
    assert set(at_stripe) == {"peepopay.test", "www.kiwi-plumbing.co.nz", "book.kiwi.invalid"}
    assert at_stripe["www.kiwi-plumbing.co.nz"]["enabled"] is True
    assert at_stripe["www.kiwi-plumbing.co.nz"]["apple_pay"]["status"] == "active"

    page = dash.get("/dashboard/settings").get_data(as_text=True)
    assert "Apple Pay and Google Pay" in page
    assert 'www.kiwi-plumbing.co.nz</code>\n      <span class="badge confirmed">Registered' in page
    assert "Not accepted" in page

    # The tradie moves to another site: the old domain is disabled, the new one registered.
    save_origins(dash, "https://kiwi.example.com")
    run_sync(app, tradie_id)
    assert rows(app, tradie_id) == {
        "peepopay.test": (DomainStatus.ACTIVE, None),
        "kiwi.example.com": (DomainStatus.ACTIVE, None),
    }
    at_stripe = stripe_domains(stripe_live, account)
    assert at_stripe["www.kiwi-plumbing.co.nz"]["enabled"] is False
    assert at_stripe["kiwi.example.com"]["enabled"] is True
    # And back again: Stripe's existing domain is enabled once more, not duplicated.
    save_origins(dash, SITE)
    run_sync(app, tradie_id)
    at_stripe = stripe_domains(stripe_live, account)
    assert at_stripe["www.kiwi-plumbing.co.nz"]["enabled"] is True
    assert len([n for n in at_stripe if n == "www.kiwi-plumbing.co.nz"]) == 1


def test_a_stripe_outage_leaves_domains_pending_for_the_sweep(
    app: Flask,
    stripe_live: Any,
    dash: DashboardClient,
    tradie_id: int,
    account: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = gateway.register_payment_method_domain

    def down(*args: Any, **kwargs: Any) -> Any:
        raise PaymentError(503, gateway.UNAVAILABLE)

    monkeypatch.setattr(gateway, "register_payment_method_domain", down)
    save_origins(dash, SITE)
    run_sync(app, tradie_id)
    state = rows(app, tradie_id)
    assert state[SITE.removeprefix("https://")][0] == DomainStatus.PENDING
    page = dash.get("/dashboard/settings").get_data(as_text=True)
    assert "Stripe was unreachable; we keep trying." in page
    with app.app_context():
        # Not retried at once: the attempt's back-off first.
        assert domains.due(db.session, utcnow()) == []
        db.session.execute(
            sa.update(PaymentMethodDomain).values(
                updated_at=PaymentMethodDomain.updated_at - sa.text("INTERVAL '5 minutes'")
                if db.engine.dialect.name == "postgresql"
                else sa.func.datetime(PaymentMethodDomain.updated_at, "-5 minutes")
            )
        )
        db.session.commit()
        db.session.remove()
    monkeypatch.setattr(gateway, "register_payment_method_domain", real)
    from peepopay.tasks import register_domains

    with app.app_context():
        register_domains(db.session, utcnow())
        db.session.remove()
    assert set(rows(app, tradie_id).values()) == {(DomainStatus.ACTIVE, None)}
    assert "www.kiwi-plumbing.co.nz" in stripe_domains(stripe_live, account)


def test_wallets_show_on_registered_domains_and_confirm_through_the_webhook(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int, account: str
) -> None:
    save_origins(dash, SITE)
    run_sync(app, tradie_id)
    held = hold(app, tradie_id)
    unregistered = requests.get(
        elements_url(stripe_live, held)
        + "&parent_origin="
        + quote("https://elsewhere.example.org"),
        timeout=10,
    ).text
    assert "Pay with Apple Pay" not in unregistered
    form = elements_url(stripe_live, held) + "&parent_origin=" + quote(SITE)
    page = requests.get(form, timeout=10).text
    assert "Pay with Apple Pay (test)" in page and "Pay with Google Pay (test)" in page
    paid = requests.post(
        form, data={"client_secret": held.client_secret, "wallet": "google_pay"}, timeout=30
    )
    assert "Payment complete" in paid.text
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    [deposit] = payments(app, held.booking_id)
    assert (deposit.wallet, deposit.card_brand, deposit.card_last4) == (
        "google_pay",
        "mastercard",
        "4444",
    )


def test_only_public_domains_are_registered(app: Flask) -> None:
    assert domains.registrable("www.example.co.nz")
    for host in ("localhost", "127.0.0.1", "::1", "printer.local", "intranet", None):
        assert not domains.registrable(host)
