"""No-shows: after a job's start the tradie marks it; the deposit is kept, the customer told,
and the tradie's no-show fee (never above price minus deposit) charged to the saved card once,
with the payment link when the bank wants the customer."""

from __future__ import annotations

import http.client
import threading
from datetime import timedelta
from importlib.metadata import version
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.bookings import payment_outcomes
from peepopay.bookings.models import Booking, Status
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Tradie
from peepopay.payments.models import PURPOSE_NO_SHOW_FEE, PaymentKind, PaymentStatus
from tests.fixtures.clients import DashboardClient
from tests.notify_support import deliver_outbox
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_3DS_ALWAYS,
    Held,
    app_config,
    authenticate,
    booking,
    connect,
    hold,
    outbox,
    pay,
    payments,
    settle,
    stripe_object,
)

CLICKS = 20


def set_fee(app: Flask, tradie_id: int, fee_minor: int) -> None:
    with app.app_context():
        db.session.get(Tradie, tradie_id).no_show_fee_minor = fee_minor
        db.session.commit()


def started(app: Flask, booking_id: int, ago: timedelta = timedelta(minutes=30)) -> None:
    """Test setup: the job's start is `ago` in the past (it was booked ahead, as ever)."""
    start = utcnow() - ago
    with app.app_context():
        db.session.execute(
            sa.update(Booking)
            .where(Booking.id == booking_id)
            .values(starts_at=start, ends_at=start + timedelta(hours=1))
        )
        db.session.commit()


@pytest.fixture
def connected(app: Flask, stripe_live: Any, tradie_id: int) -> int:
    connect(app, tradie_id, stripe_live)
    with app.app_context():
        db.session.get(Tradie, tradie_id).phone = "+6495550000"
        db.session.commit()
    return tradie_id


@pytest.fixture
def paid(app: Flask, stripe_live: Any, connected: int) -> Held:
    """A confirmed $200 job whose $50 deposit was paid with 4242 (card saved); it has started."""
    held = hold(app, connected)
    pay(stripe_live, held)
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    started(app, held.booking_id)
    return held


def url(held: Held) -> str:
    return f"/dashboard/bookings/{held.booking_id}/no-show"


def fees(app: Flask, booking_id: int) -> list[Any]:
    return [p for p in payments(app, booking_id) if p.reason == PURPOSE_NO_SHOW_FEE]


# ------------------------------------------------------------------ the cap


def _tradie(fee_minor: int, ready: bool = True) -> Tradie:
    return Tradie(
        no_show_fee_minor=fee_minor,
        stripe_account_id="acct_x" if ready else None,
        charges_enabled=ready,
    )


@pytest.mark.parametrize(
    ("setting", "price", "deposit", "expected"),
    [
        (8000, 20000, 5000, 8000),  # under the cap: as set
        (15000, 20000, 5000, 15000),  # exactly the cap
        (50000, 20000, 5000, 15000),  # over it: price minus deposit, never more
        (8000, 5000, 5000, 0),  # the deposit was the whole price: nothing more
        (8000, None, 5000, 0),  # priced on the day: no cap to charge under
        (0, 20000, 5000, 0),  # no fee set
        (40, 20000, 5000, 0),  # below the smallest card charge
    ],
)
def test_the_fee_never_exceeds_price_minus_deposit(setting, price, deposit, expected):
    job = Booking(price_minor=price, deposit_minor=deposit, currency="NZD")
    assert payment_outcomes.no_show_fee(job, _tradie(setting)) == expected
    assert payment_outcomes.no_show_fee(job, _tradie(setting)) <= max((price or 0) - deposit, 0)


def test_no_fee_without_stripe():
    job = Booking(price_minor=20000, deposit_minor=5000, currency="NZD")
    assert payment_outcomes.no_show_fee(job, _tradie(8000, ready=False)) == 0


# ------------------------------------------------------------------ marking a no-show


def test_no_show_keeps_the_deposit_charges_the_fee_and_tells_the_customer(
    app: Flask, stripe_live: Any, smtp: Any, dash: DashboardClient, connected: int, paid: Held
) -> None:
    set_fee(app, connected, 8000)
    page = dash.get(f"/dashboard/bookings/{paid.booking_id}").get_data(as_text=True)
    assert "Mark as no-show" in page and "$80.00 no-show fee" in page

    response = dash.post(url(paid), htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and 'id="booking-detail"' in fragment
    assert "Marked as a no-show" in fragment and "$80.00 was charged" in fragment
    assert "Mark as no-show" not in fragment
    assert booking(app, paid.booking_id).status == Status.NO_SHOW

    deposit, fee = payments(app, paid.booking_id)
    assert (deposit.kind, deposit.status) == (PaymentKind.DEPOSIT, PaymentStatus.SUCCEEDED)
    assert (fee.kind, fee.reason, fee.amount_minor) == (
        PaymentKind.BALANCE,
        PURPOSE_NO_SHOW_FEE,
        8000,
    )
    assert fee.status == PaymentStatus.SUCCEEDED and fee.application_fee_minor == 200
    pi = stripe_object(stripe_live, fee.stripe_payment_intent_id)["object"]
    assert pi["amount"] == 8000 and pi["metadata"]["kind"] == PaymentKind.BALANCE
    assert pi["customer"] == deposit.stripe_customer_id
    assert pi["payment_method"] == deposit.stripe_payment_method_id
    assert pi["description"].startswith("No-show fee: Leak repair")
    settle(stripe_live)

    # The ledger: the deposit kept, the fee received, nothing refunded.
    panel = dash.get(f"/dashboard/bookings/{paid.booking_id}/payments").get_data(as_text=True)
    assert "No-show fee" in panel
    assert (
        "Received <strong>$130.00</strong>" in panel and "Refunded <strong>$0.00</strong>" in panel
    )
    assert outbox(app, paid.booking_id).count(("no_show", "email")) == 1
    assert outbox(app, paid.booking_id).count(("no_show", "sms")) == 1

    deliver_outbox(app)
    [mail] = [m for m in smtp.to("aroha@example.com") if m["Subject"].startswith("We missed you")]
    text = mail.get_body(("plain",)).get_content()
    assert "deposit of $50.00 is kept" in text and "no-show fee of $80.00" in text

    # The customer's page names the fee for what it is.
    customer_page = dash.client.get(f"/b/{booking(app, paid.booking_id).public_token}")
    assert "No-show fee" in customer_page.get_data(as_text=True)


def test_no_show_as_a_full_page_post_redirects(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    response = dash.post(url(paid))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/dashboard/bookings/{paid.booking_id}")
    page = dash.get(response.headers["Location"]).get_data(as_text=True)
    assert "Marked as a no-show" in page
    assert booking(app, paid.booking_id).status == Status.NO_SHOW
    # No fee set: the deposit alone is kept, and the customer hears so.
    assert fees(app, paid.booking_id) == []
    assert ("no_show", "email") in outbox(app, paid.booking_id)


def test_no_show_needs_the_csrf_token(app: Flask, signed_in: Any, paid: Held) -> None:
    assert signed_in.post(url(paid)).status_code == 400
    assert booking(app, paid.booking_id).status == Status.CONFIRMED


@pytest.mark.parametrize("htmx", [True, False])
def test_not_before_the_start(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int, htmx: bool
) -> None:
    set_fee(app, connected, 8000)
    held = hold(app, connected)
    pay(stripe_live, held)
    settle(stripe_live)
    page = dash.get(f"/dashboard/bookings/{held.booking_id}").get_data(as_text=True)
    assert "Mark as no-show" not in page
    response = dash.post(url(held), htmx=htmx)
    if htmx:
        assert response.status_code == 409
        assert "has not started yet" in response.get_data(as_text=True)
    else:
        assert response.status_code == 303
        assert "has not started yet" in dash.get(response.headers["Location"]).get_data(
            as_text=True
        )
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    assert fees(app, held.booking_id) == []
    assert ("no_show", "email") not in outbox(app, held.booking_id)


def test_the_link_when_the_bank_wants_the_customer(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    set_fee(app, connected, 8000)
    held = hold(app, connected)
    pay(stripe_live, held, CARD_3DS_ALWAYS)
    authenticate(stripe_live, held)
    settle(stripe_live)
    started(app, held.booking_id)

    response = dash.post(url(held), htmx=True)
    assert response.status_code == 200
    assert "sent the customer a payment link" in response.get_data(as_text=True)
    assert booking(app, held.booking_id).status == Status.NO_SHOW
    [fee] = fees(app, held.booking_id)
    assert fee.status == PaymentStatus.AWAITING and fee.amount_minor == 8000
    assert fee.failure_code == "authentication_required"
    messages = outbox(app, held.booking_id)
    assert ("balance_link", "email") in messages and ("balance_link", "sms") in messages
    assert ("no_show", "email") in messages
    checkout = stripe_object(stripe_live, fee.stripe_checkout_session_id)["object"]
    assert checkout["amount_total"] == 8000
    link = dash.client.get(f"/pay/{booking(app, held.booking_id).public_token}")
    assert link.status_code == 303 and link.headers["Location"] == checkout["url"]
    panel = dash.get(f"/dashboard/bookings/{held.booking_id}/payments").get_data(as_text=True)
    assert "No-show fee awaiting payment" in panel


# ------------------------------------------------------------------ twenty clicks, one charge


def _click(address: tuple[str, int], headers: dict[str, str], body: str, barrier: Any) -> int:
    conn = http.client.HTTPConnection(*address, timeout=120)
    try:
        conn.connect()
        barrier.wait()
        conn.request("POST", headers.pop("path"), body, headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_twenty_clicks_at_once_charge_the_fee_once(
    app: Flask,
    stripe_live: Any,
    live_server: Any,
    dash: DashboardClient,
    connected: int,
    paid: Held,
) -> None:
    set_fee(app, connected, 8000)
    token = dash.token
    cookie = dash.client.get_cookie("__Host-session")
    assert cookie is not None
    split = urlsplit(live_server.url)
    address = (split.hostname, split.port)
    body = urlencode({"csrf_token": token})
    barrier = threading.Barrier(CLICKS)
    results: list[int] = [0] * CLICKS

    def click(i: int) -> None:
        headers = {
            "path": url(paid),
            "Cookie": f"__Host-session={cookie.value}",
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
            # Flask-Login's strong session protection ties the session to the browser.
            "User-Agent": f"Werkzeug/{version('werkzeug')}",
        }
        results[i] = _click(address, headers, body, barrier)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(CLICKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)

    assert sorted(results) == [200] + [409] * (CLICKS - 1), results
    assert booking(app, paid.booking_id).status == Status.NO_SHOW
    [fee] = fees(app, paid.booking_id)
    assert fee.status == PaymentStatus.SUCCEEDED and fee.amount_minor == 8000
    sdk = stripe_live.client("sk_test_peepopay_tests")
    intents = sdk.v1.payment_intents.list(options={"stripe_account": paid.account}).data
    assert sorted(pi.amount for pi in intents) == [5000, 8000]  # the deposit and one fee
    settle(stripe_live)
    assert outbox(app, paid.booking_id).count(("no_show", "email")) == 1


# ------------------------------------------------------------------ the no-show rate


def test_analytics_shows_the_no_show_rate(app: Flask, dash: DashboardClient, add_booking) -> None:
    now = utcnow()
    for days, status in [(3, "completed"), (5, "completed"), (6, "completed"), (8, "no_show")]:
        add_booking(starts_at=now - timedelta(days=days), status=status)
    add_booking(starts_at=now - timedelta(days=2), status="cancelled")  # neither
    add_booking(starts_at=now - timedelta(weeks=20), status="no_show")  # before the period
    for htmx in (False, True):
        html = dash.get("/dashboard/analytics", htmx=htmx).get_data(as_text=True)
        assert ("<html" in html) is not htmx
        assert "No-show rate" in html
        assert "25.0%" in html  # 1 of 4 finished jobs
        assert "1 no-show of 4 finished jobs" in html
