"""The tradie's side: onboarding pages, charging the balance, refunds, the payments page."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Status
from peepopay.extensions import db
from peepopay.payments.models import PaymentStatus
from tests.fixtures.clients import DashboardClient
from tests.fixtures.factories import make_tradie
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_3DS,
    CARD_3DS_ALWAYS,
    Held,
    app_config,
    authenticate,
    booking,
    connect,
    hold,
    job_started,
    outbox,
    pay,
    payments,
    settle,
    stripe_object,
)


@pytest.fixture
def connected(app: Flask, stripe_live: Any, tradie_id: int) -> int:
    connect(app, tradie_id, stripe_live)
    return tradie_id


@pytest.fixture
def paid(app: Flask, stripe_live: Any, connected: int) -> Held:
    """A confirmed booking whose $50 deposit (of a $200 job) was paid with 4242."""
    held = hold(app, connected)
    pay(stripe_live, held)
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    return held


def test_payments_pages_need_a_signed_in_tradie(client: FlaskClient) -> None:
    for url in ("/dashboard/payments", "/dashboard/bookings/1/payments"):
        response = client.get(url)
        assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
    assert client.post("/dashboard/bookings/1/refund").status_code in (302, 303, 400)


def test_onboarding_links_and_expired_link_refresh(
    app: Flask, stripe_live: Any, dash: DashboardClient
) -> None:
    response = dash.get("/dashboard/payments")
    page = response.get_data(as_text=True)
    assert "Connect Stripe" in page and "Demo payments — no real money" in page
    # The browser follows the form's redirect to onboarding only if form-action allows it.
    csp = response.headers["Content-Security-Policy"]
    assert f"form-action 'self' {stripe_live.url};" in csp and "frame-ancestors 'none'" in csp
    first = dash.post("/dashboard/payments/connect")
    assert first.status_code == 303
    assert "/hosted/onboarding/" in first.headers["Location"]
    setup = dash.get("/dashboard/payments").get_data(as_text=True)
    assert "Setup not finished" in setup

    # Stripe sends the tradie to refresh_url when a link has expired; we mint a new one.
    stripe_live.control("clock", {"advance_seconds": 600})
    expired = requests.get(first.headers["Location"], allow_redirects=False, timeout=10)
    assert expired.headers["Location"] == "http://peepopay.test/dashboard/payments/refresh"
    again = dash.get("/dashboard/payments/refresh")
    assert again.status_code == 303 and "/hosted/onboarding/" in again.headers["Location"]
    assert again.headers["Location"] != first.headers["Location"]
    # Still one account for the tradie.
    accounts = stripe_live.client("sk_test_x").v1.accounts.list()
    assert len(accounts.data) == 1


def test_charge_balance_off_session(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    job_started(app, paid.booking_id)
    url = f"/dashboard/bookings/{paid.booking_id}/balance"
    response = dash.post(url, {"final_amount": "230.00"}, htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert 'id="booking-payments"' in fragment and "<html" not in fragment
    assert "charged to the saved card" in fragment
    deposit, balance = payments(app, paid.booking_id)
    assert balance.kind == "balance" and balance.amount_minor == 18000  # 230 - 50
    assert balance.status == PaymentStatus.SUCCEEDED and balance.application_fee_minor == 450
    pi = stripe_object(stripe_live, balance.stripe_payment_intent_id)
    assert pi["account"] == paid.account
    assert pi["object"]["customer"] == deposit.stripe_customer_id
    assert pi["object"]["payment_method"] == deposit.stripe_payment_method_id
    assert pi["object"]["metadata"]["kind"] == "balance"
    row = booking(app, paid.booking_id)
    assert row.status == Status.COMPLETED and row.final_amount_minor == 23000
    settle(stripe_live)
    assert outbox(app, paid.booking_id).count(("balance_paid", "email")) == 1
    # Charged once: the form is gone and a second post is refused.
    again = dash.post(url, {"final_amount": "230.00"})
    assert again.status_code == 422
    assert "already been charged" in again.get_data(as_text=True)


def test_a_card_authenticated_for_the_deposit_pays_the_balance_off_session(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    # 4000 0025 0000 3155, as Stripe documents it: the deposit set it up for off-session use
    # after 3-D Secure, so the balance needs no second authentication and no payment link.
    held = hold(app, connected)
    pay(stripe_live, held, CARD_3DS)
    authenticate(stripe_live, held)
    settle(stripe_live)
    job_started(app, held.booking_id)

    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    _deposit, balance = payments(app, held.booking_id)
    assert (balance.status, balance.failure_code) == (PaymentStatus.SUCCEEDED, None)
    assert not balance.stripe_checkout_session_id
    assert ("balance_link", "email") not in outbox(app, held.booking_id)
    assert booking(app, held.booking_id).status == Status.COMPLETED


def test_balance_needing_authentication_sends_a_payment_link(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = hold(app, connected)
    pay(stripe_live, held, CARD_3DS_ALWAYS)
    authenticate(stripe_live, held)
    settle(stripe_live)

    response = dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/dashboard/bookings/{held.booking_id}")
    _deposit, balance = payments(app, held.booking_id)
    assert balance.status == PaymentStatus.AWAITING
    assert balance.failure_code == "authentication_required"
    assert balance.stripe_checkout_session_id
    messages = outbox(app, held.booking_id)
    assert ("balance_link", "email") in messages and ("balance_link", "sms") in messages
    page = dash.get(f"/dashboard/bookings/{held.booking_id}/payments").get_data(as_text=True)
    assert "Balance awaiting payment" in page
    assert booking(app, held.booking_id).status == Status.CONFIRMED

    # The customer follows the link, pays on Stripe's Checkout page, and comes back.
    token = booking(app, held.booking_id).public_token
    link = dash.client.get(f"/pay/{token}")
    assert link.status_code == 303
    checkout = link.headers["Location"]
    session = stripe_object(stripe_live, balance.stripe_checkout_session_id)["object"]
    assert checkout == session["url"]
    assert session["metadata"]["kind"] == "balance"
    with requests.Session() as browser:
        done = browser.post(
            checkout,
            data={"number": "4242 4242 4242 4242", "exp": "12 / 34", "cvc": "123"},
            allow_redirects=False,
            timeout=10,
        )
    assert done.status_code == 303
    back = done.headers["Location"]
    assert back.startswith(f"http://peepopay.test/pay/{token}/done?session_id=cs_")
    settle(stripe_live)
    _deposit, balance = payments(app, held.booking_id)
    assert balance.status == PaymentStatus.SUCCEEDED
    checkout_pi = stripe_object(stripe_live, balance.stripe_payment_intent_id)["object"]
    assert checkout_pi["application_fee_amount"] == 375
    # Paid ahead of the job: still to be done, so still confirmed, not completed.
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    thanks = dash.client.get(back.removeprefix("http://peepopay.test"))
    assert "the balance is paid" in thanks.get_data(as_text=True)
    assert outbox(app, held.booking_id).count(("balance_paid", "email")) == 1


def test_return_from_checkout_applies_the_payment_before_the_webhook(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = hold(app, connected)
    pay(stripe_live, held, CARD_3DS_ALWAYS)
    authenticate(stripe_live, held)
    settle(stripe_live)
    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    _deposit, balance = payments(app, held.booking_id)
    assert balance.status == PaymentStatus.AWAITING
    stripe_live.control("config", {"hold_events": True})
    token = booking(app, held.booking_id).public_token
    checkout = dash.client.get(f"/pay/{token}").headers["Location"]
    done = requests.post(
        checkout,
        data={"number": "4242424242424242", "exp": "12/34", "cvc": "123"},
        allow_redirects=False,
        timeout=10,
    )
    thanks = dash.client.get(done.headers["Location"].removeprefix("http://peepopay.test"))
    assert "the balance is paid" in thanks.get_data(as_text=True)
    assert booking(app, held.booking_id).status == Status.CONFIRMED  # the job is still ahead


def test_full_and_partial_refunds_and_no_over_refund(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    url = f"/dashboard/bookings/{paid.booking_id}/refund"
    partial = dash.post(url, {"refund_amount": "12.50", "refund_reason": "Finished early"}, True)
    assert partial.status_code == 200
    assert "Refund sent" in partial.get_data(as_text=True)
    _deposit, refund = payments(app, paid.booking_id)
    assert (refund.amount_minor, refund.status, refund.reason) == (
        1250,
        "succeeded",
        "Finished early",
    )
    stripe_refund = stripe_object(stripe_live, refund.stripe_refund_id)
    assert stripe_refund["account"] == paid.account
    assert stripe_refund["object"]["amount"] == 1250
    assert refund.application_fee_minor == 31  # 125 * 1250 / 5000, rounded half up

    over = dash.post(url, {"refund_amount": "40.00", "refund_reason": "Too much"})
    assert over.status_code == 422
    page = over.get_data(as_text=True)
    assert "Refund amount" in page and "more than can be refunded" in page
    assert len(payments(app, paid.booking_id)) == 2

    rest = dash.post(url, {"refund_amount": "37.50", "refund_reason": "Cancelled the rest"})
    assert rest.status_code == 303
    rows = payments(app, paid.booking_id)
    assert [r.amount_minor for r in rows] == [5000, 1250, 3750]
    assert sum(r.application_fee_minor for r in rows[1:]) == 125  # the whole fee went back
    fee_id = stripe_object(stripe_live, rows[0].stripe_charge_id)["object"]["application_fee"]
    assert stripe_object(stripe_live, fee_id)["object"]["amount_refunded"] == 125
    settle(stripe_live)
    assert outbox(app, paid.booking_id).count(("refund_processed", "email")) == 2
    detail = dash.get(f"/dashboard/bookings/{paid.booking_id}/payments").get_data(as_text=True)
    assert "Net <strong>$0.00</strong>" in detail and 'id="refund-form"' not in detail


def test_stripe_refuses_an_over_refund_too(app: Flask, stripe_live: Any, paid: Held) -> None:
    from peepopay.payments import gateway

    with app.app_context():
        with pytest.raises(gateway.PaymentError) as refused:
            gateway.create_refund(
                paid.account,
                payment_intent=paid.pi,
                amount_minor=5001,
                key="over-refund",
                metadata={},
            )
        db.session.remove()
    assert refused.value.status == 500  # our own check should have stopped it: a bug, logged


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"refund_amount": "", "refund_reason": "x"}, "Refund amount is required."),
        ({"refund_amount": "abc", "refund_reason": "x"}, "Enter an amount like 120 or 120.50."),
        ({"refund_amount": "10", "refund_reason": ""}, "Reason is required."),
        ({"refund_amount": "0", "refund_reason": "x"}, "Amount must be more than zero."),
    ],
)
def test_refund_form_errors_name_the_field(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held, data: Any, message: str
) -> None:
    url = f"/dashboard/bookings/{paid.booking_id}/refund"
    for htmx in (True, False):
        response = dash.post(url, data, htmx)
        text = response.get_data(as_text=True)
        assert response.status_code == 422
        assert message in text
        assert ("<html" in text) is not htmx
    assert len(payments(app, paid.booking_id)) == 1


def test_balance_form_errors(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    url = f"/dashboard/bookings/{paid.booking_id}/balance"
    low = dash.post(url, {"final_amount": "20"}, htmx=True)
    assert low.status_code == 422
    assert "less than the deposit" in low.get_data(as_text=True)
    tiny = dash.post(url, {"final_amount": "50.10"}, htmx=True)
    assert tiny.status_code == 422 and "too small" in tiny.get_data(as_text=True)
    assert len(payments(app, paid.booking_id)) == 1
    job_started(app, paid.booking_id)
    exact = dash.post(url, {"final_amount": "50"})
    assert exact.status_code == 303
    assert booking(app, paid.booking_id).status == Status.COMPLETED


def test_another_tradies_booking_is_not_found(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    other = make_tradie(app, email="other@example.com", slug="other")
    connect(app, other, stripe_live)
    held = hold(app, other, hour=11)
    for url in (
        f"/dashboard/bookings/{held.booking_id}/payments",
        f"/dashboard/bookings/{held.booking_id}/refund",
        f"/dashboard/bookings/{held.booking_id}/balance",
    ):
        if url.endswith("payments"):
            assert dash.get(url).status_code == 404
        else:
            assert dash.post(url, {"refund_amount": "1", "final_amount": "1"}).status_code == 404


def test_payments_page_totals_by_month(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    dash.post(f"/dashboard/bookings/{paid.booking_id}/balance", {"final_amount": "200"})
    dash.post(
        f"/dashboard/bookings/{paid.booking_id}/refund",
        {"refund_amount": "20", "refund_reason": "Goodwill"},
    )
    for htmx in (False, True):
        response = dash.get("/dashboard/payments", htmx=htmx)
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and ("<html" in text) is not htmx
        row = re.search(r'<table class="table" id="monthly-totals">.*?</table>', text, re.S)
        assert row is not None
        cells = re.findall(r"<td>([^<]*)</td>", row.group(0))
        # deposits, balances, paid another way, refunds, net, fees (2.5 % of 50 and 150, less
        # 2.5 % of 20 back)
        assert cells == ["$50.00", "$150.00", "$0.00", "$20.00", "$180.00", "$4.50"]
        assert "Connected" in text


def test_tradie_cancellation_refunds_the_deposit_in_full(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    response = dash.post(f"/dashboard/bookings/{paid.booking_id}/cancel", {"reason": "Van broke"})
    assert response.status_code == 303
    assert booking(app, paid.booking_id).status == Status.CANCELLED
    deposit, refund = payments(app, paid.booking_id)
    assert (refund.kind, refund.amount_minor, refund.status) == ("refund", 5000, "succeeded")
    assert refund.reason == "Van broke" and refund.application_fee_minor == 125
    assert stripe_object(stripe_live, refund.stripe_refund_id)["object"]["amount"] == 5000
    settle(stripe_live)
    messages = outbox(app, paid.booking_id)
    assert ("cancelled", "email") in messages
    assert ("refund_processed", "email") not in messages  # the cancellation email says it
    assert deposit.status == PaymentStatus.SUCCEEDED


def test_demo_connect_command_survives_an_emulator_restart(
    app: Flask, stripe_live: Any, tradie_id: int
) -> None:
    from peepopay.models import Tradie

    runner = app.test_cli_runner()
    with app.app_context():
        slug = db.session.get(Tradie, tradie_id).slug  # type: ignore[union-attr]
        db.session.remove()
    first = runner.invoke(args=["payments", "demo-connect", "--slug", slug])
    assert "takes demo deposits" in first.output, first.output
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None and tradie.charges_enabled
        account = tradie.stripe_account_id
        db.session.remove()
    again = runner.invoke(args=["payments", "demo-connect", "--slug", slug])
    assert account in again.output  # nothing new while the emulator remembers it

    stripe_live.control("reset")  # the emulator restarted: it forgot every account
    held_out = runner.invoke(args=["payments", "demo-connect", "--slug", slug])
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None and tradie.charges_enabled
        assert tradie.stripe_account_id not in (None, account)
        assert tradie.stripe_account_id in held_out.output
        db.session.remove()


def test_deposit_on_a_forgotten_account_disconnects_politely(
    app: Flask, client: FlaskClient, stripe_live: Any, connected: int
) -> None:
    from peepopay.bookings import services as bookings
    from peepopay.bookings.tokens import booking_token
    from peepopay.clock import utcnow
    from peepopay.models import Tradie
    from tests.booking_helpers import CUSTOMER, at, local_day, service_id

    with app.app_context():
        tradie = db.session.get(Tradie, connected)
        assert tradie is not None
        row = bookings.create_held_booking(
            db.session,
            tradie=tradie,
            service_id=service_id(app, connected),
            start_utc=at(local_day(3), 10),
            customer=bookings.Customer(**CUSTOMER),
            now=utcnow(),
        )
        db.session.commit()
        url = f"/book/{tradie.slug}/pay/{booking_token(row.id)}"
        db.session.remove()
    stripe_live.control("reset")  # the account is gone (revoked, or the emulator restarted)
    page = client.get(url)
    assert page.status_code == 200
    assert "isn't taking card deposits online yet" in page.get_data(as_text=True)
    with app.app_context():
        tradie = db.session.get(Tradie, connected)
        assert tradie is not None and tradie.stripe_account_id is None
        assert not tradie.charges_enabled
        db.session.remove()


def test_connect_again_after_the_account_was_lost(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int
) -> None:
    from peepopay.models import Tradie

    first = dash.post("/dashboard/payments/connect")
    assert first.status_code == 303
    with app.app_context():
        old = db.session.get(Tradie, tradie_id).stripe_account_id  # type: ignore[union-attr]
        db.session.remove()
    stripe_live.control("reset")  # the emulator restarted before onboarding was finished
    again = dash.post("/dashboard/payments/connect")
    assert again.status_code == 303 and "/hosted/onboarding/" in again.headers["Location"]
    with app.app_context():
        new = db.session.get(Tradie, tradie_id).stripe_account_id  # type: ignore[union-attr]
        db.session.remove()
    assert new and new != old


def test_an_expired_payment_link_opens_a_fresh_checkout(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = hold(app, connected)
    pay(stripe_live, held, CARD_3DS_ALWAYS)
    authenticate(stripe_live, held)
    settle(stripe_live)
    charged = dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    assert charged.status_code == 303
    token = booking(app, held.booking_id).public_token
    first = dash.client.get(f"/pay/{token}").headers["Location"]
    assert dash.client.get(f"/pay/{token}").headers["Location"] == first  # still open: reused
    stripe_live.control("clock", {"advance_seconds": 25 * 3600})  # Checkout Sessions last 24 h
    fresh = dash.client.get(f"/pay/{token}").headers["Location"]
    assert fresh != first and "/hosted/checkout/cs_" in fresh
    _deposit, balance = payments(app, held.booking_id)
    assert balance.stripe_checkout_session_id in fresh
    assert balance.status == PaymentStatus.AWAITING


def test_pay_link_for_nothing_to_pay(app: Flask, client: FlaskClient, paid: Held) -> None:
    token = booking(app, paid.booking_id).public_token
    page = client.get(f"/pay/{token}")
    assert page.status_code == 200
    assert "nothing to pay" in page.get_data(as_text=True)
    assert client.get("/pay/not-a-token").status_code == 404


def test_back_from_stripe_goes_on_with_the_first_run_while_steps_are_left(
    app: Flask, dash: DashboardClient, connected: int
) -> None:
    """Stripe's onboarding sends the tradie back: to the first-run checklist while it has
    steps left (the tradie connected Stripe from it), to the payments page once it is done."""
    back = dash.get("/dashboard/payments/return")
    assert back.status_code == 303 and back.headers["Location"] == "/dashboard/welcome"
    with app.app_context():
        tradie = db.session.get(Tradie, connected)
        assert tradie is not None and tradie.payments_ready
        tradie.phone_verified_at = tradie.snippet_copied_at = tradie.created_at
        db.session.commit()
    back = dash.get("/dashboard/payments/return")
    assert back.headers["Location"] == "/dashboard/payments"
    assert "Stripe is connected" in dash.get("/dashboard/payments").get_data(as_text=True)
