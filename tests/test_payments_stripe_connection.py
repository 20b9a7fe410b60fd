"""A connected account Stripe no longer answers for (access revoked, account deleted, or the
demo emulator forgot it): the tradie is asked to reconnect, and the widget stops offering
bookings before a customer types anything. And the product's pinned Stripe API version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from peepopay.extensions import db
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    connect,
    settle,
)


def tradie_row(app: Flask, tradie_id: int) -> Any:
    from peepopay.models import Tradie

    with app.app_context():
        row = db.session.get(Tradie, tradie_id)
        assert row is not None
        db.session.expunge(row)
        db.session.remove()
        return row


def audit_actions(app: Flask, tradie_id: int) -> list[str]:
    from peepopay.models import AuditLog

    with app.app_context():
        actions = list(
            db.session.scalars(
                sa.select(AuditLog.action)
                .where(AuditLog.tradie_id == tradie_id)
                .order_by(AuditLog.id)
            )
        )
        db.session.remove()
        return actions


def book(app: Flask, slug: str) -> Any:
    """A customer books through the widget API: the first time Stripe is asked."""
    client = app.test_client()
    config = client.get(f"/api/widget/{slug}/config").get_json()
    service_id = config["services"][0]["id"]
    day = (datetime.now(UTC) + timedelta(days=4)).date().isoformat()
    slots = client.get(
        f"/api/widget/{slug}/availability", query_string={"date": day, "serviceId": service_id}
    ).get_json()["slots"]
    start = next(s["start"] for s in slots if s["available"])
    return client.post(
        f"/api/widget/{slug}/book",
        json={
            "serviceId": service_id,
            "start": start,
            "customer": {
                "name": "Rae Client",
                "email": "rae@example.com",
                "phone": "021 555 0199",
                "address": "1 Lambton Quay, Wellington",
            },
        },
    )


def test_an_account_stripe_refuses_asks_for_a_reconnect_and_closes_the_widget(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int
) -> None:
    connect(app, tradie_id, stripe_live)
    slug = tradie_row(app, tradie_id).slug
    assert app.test_client().get(f"/api/widget/{slug}/config").get_json()["takingBookings"]
    assert "Connected" in dash.get("/dashboard/payments").get_data(as_text=True)

    # Stripe no longer knows the account (as the demo emulator after a restart without state).
    stripe_live.control("reset")
    refused = book(app, slug)
    assert refused.status_code == 409  # the hold is rolled back ...

    row = tradie_row(app, tradie_id)  # ... but what Stripe said is kept
    assert row.stripe_needs_reconnect and row.stripe_account_id is None
    assert not row.payments_ready
    assert "stripe.disconnected" in audit_actions(app, tradie_id)

    # The widget says so on its first view and its config, before anyone types anything.
    config = app.test_client().get(f"/api/widget/{slug}/config").get_json()
    assert config["takingBookings"] is False
    first = app.test_client().get(f"/book/{slug}").get_data(as_text=True)
    assert "can't take bookings online right now" in first
    assert 'name="service"' not in first

    # The tradie is asked to reconnect, on the overview and on the payments page.
    payments_page = dash.get("/dashboard/payments").get_data(as_text=True)
    assert "Reconnect Stripe" in payments_page and "Connected</span>" not in payments_page
    assert "Reconnect Stripe" in dash.get("/dashboard").get_data(as_text=True)

    # Reconnecting makes a new account; once onboarded, bookings are offered again.
    connect(app, tradie_id, stripe_live)
    row = tradie_row(app, tradie_id)
    assert not row.stripe_needs_reconnect and row.payments_ready
    assert app.test_client().get(f"/api/widget/{slug}/config").get_json()["takingBookings"]
    assert 'name="service"' in app.test_client().get(f"/book/{slug}").get_data(as_text=True)


def test_deauthorization_arrives_on_the_connect_endpoint_and_asks_for_a_reconnect(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int
) -> None:
    account = connect(app, tradie_id, stripe_live)
    stripe_live.control(f"accounts/{account}/deauthorize")
    settle(stripe_live)

    [event] = stripe_live.control("events?type=account.application.deauthorized", method="GET")[
        "data"
    ]
    [delivery] = event["deliveries"]
    assert delivery["url"].endswith("/webhooks/stripe/connect")
    assert delivery["state"] == "succeeded"
    row = tradie_row(app, tradie_id)
    assert row.stripe_needs_reconnect and row.stripe_account_id is None
    assert "Reconnect Stripe" in dash.get("/dashboard/payments").get_data(as_text=True)


def test_the_stripe_client_sends_the_pinned_api_version(
    app: Flask, stripe_live: Any, tradie_id: int
) -> None:
    from peepopay.payments import gateway
    from stripe_emulator.state import SUPPORTED_API_VERSIONS

    account = connect(app, tradie_id, stripe_live)
    with app.app_context():
        retrieved = gateway.retrieve_account(account)
    assert retrieved.last_response.headers["Stripe-Version"] == gateway.STRIPE_API_VERSION
    assert gateway.STRIPE_API_VERSION in SUPPORTED_API_VERSIONS


def test_the_readme_subscribes_deauthorization_on_the_connect_endpoint() -> None:
    from peepopay.config import ROOT

    readme = (ROOT / "README.md").read_text()
    live = readme[readme.index("**Real mode**") :]
    platform = live[live.index("/webhooks/stripe`") : live.index("/webhooks/stripe/connect`")]
    connect_events = live[live.index("/webhooks/stripe/connect`") : live.index("\n\n")]
    assert "account.application.deauthorized" not in platform
    assert "account.application.deauthorized" in connect_events
