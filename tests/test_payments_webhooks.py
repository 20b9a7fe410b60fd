"""Stripe's webhooks: signatures, duplicates, any order, and the Connect account lifecycle."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from peepopay.bookings.models import Status
from peepopay.config import TestingConfig
from peepopay.extensions import db
from peepopay.payments.models import PaymentStatus
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_DECLINED,
    app_config,
    booking,
    event_payload,
    hold,
    outbox,
    pay,
    payments,
    payments_tradie,
    settle,
    signed,
)

PLATFORM = TestingConfig.STRIPE_WEBHOOK_SECRET or ""
CONNECT = TestingConfig.STRIPE_CONNECT_WEBHOOK_SECRET or ""


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    return payments_tradie(app, stripe_live)


def post(client: FlaskClient, path: str, payload: str, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(path, data=payload, headers=headers)


def stored_events(app: Flask) -> list[str]:
    from peepopay.models import StripeEvent

    with app.app_context():
        ids = list(db.session.scalars(sa.select(StripeEvent.id)))
        db.session.remove()
        return ids


@pytest.mark.parametrize(
    ("path", "secret"),
    [("/webhooks/stripe", PLATFORM), ("/webhooks/stripe/connect", CONNECT)],
)
def test_signatures_are_checked_on_each_endpoint(
    app: Flask, client: FlaskClient, path: str, secret: str
) -> None:
    from peepopay.ops import metrics

    def counted(type_: str, result: str) -> float:
        return metrics.webhook_events.labels(type=type_, result=result)._value.get()

    payload = event_payload("customer.created", {"id": "cus_1", "object": "customer"})
    other = CONNECT if secret == PLATFORM else PLATFORM
    rejected_before = counted("unverified", "bad_signature")
    ignored_before = counted("customer.created", "ignored")

    assert post(client, path, payload, None).status_code == 400
    assert post(client, path, payload, "t=1,v1=nonsense").status_code == 400
    assert post(client, path, payload, signed(payload, other)).status_code == 400  # wrong secret
    forged = signed(payload, secret).replace("v1=", "v1=0")
    assert post(client, path, payload, forged).status_code == 400
    stale = signed(payload, secret, timestamp=int(time.time()) - 301)
    assert post(client, path, payload, stale).status_code == 400
    tampered = payload.replace("cus_1", "cus_2")
    assert post(client, path, tampered, signed(payload, secret)).status_code == 400
    assert stored_events(app) == []

    fine = post(client, path, payload, signed(payload, secret))
    assert fine.status_code == 200 and fine.get_json()["result"] == "ignored"
    again = post(client, path, payload, signed(payload, secret))
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert len(stored_events(app)) == 1
    assert counted("unverified", "bad_signature") == rejected_before + 6
    assert counted("customer.created", "ignored") == ignored_before + 1


@pytest.mark.both_databases
def test_each_event_five_times_in_any_order_changes_state_once(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.models import AuditLog

    stripe_live.control("config", {"deliver_times": 5, "shuffle": True, "hold_events": True})
    held = hold(app, tradie)
    pay(stripe_live, held, CARD_DECLINED)
    pay(stripe_live, held)
    stripe_live.control("release")
    settle(stripe_live)

    assert booking(app, held.booking_id).status == Status.CONFIRMED
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    messages = outbox(app, held.booking_id)
    assert messages.count(("confirmed", "email")) == 1
    assert messages.count(("new_booking", "email")) == 1
    assert messages.count(("payment_failed", "email")) <= 1  # only if it came first
    with app.app_context():
        confirmations = db.session.scalar(
            sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "booking.confirmed")
        )
        db.session.remove()
    assert confirmations == 1
    deliveries = stripe_live.control("events?type=payment_intent.succeeded", method="GET")["data"]
    assert len(deliveries[0]["deliveries"]) == 5
    assert all(d["state"] == "succeeded" for d in deliveries[0]["deliveries"])


@pytest.mark.both_databases
def test_refund_events_five_times_record_one_refund(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.clock import utcnow
    from peepopay.models import Booking, Tradie
    from peepopay.payments import refunds

    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    stripe_live.control("config", {"deliver_times": 5, "shuffle": True, "hold_events": True})
    with app.app_context():
        row = db.session.get(Booking, held.booking_id)
        owner = db.session.get(Tradie, tradie)
        assert row is not None and owner is not None
        refunds.refund(db.session, row, owner, 1500, "Shorter job", utcnow())
        db.session.commit()
        db.session.remove()
    stripe_live.control("release")
    settle(stripe_live)
    deposit, refund = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    assert refund.kind == "refund" and refund.amount_minor == 1500
    assert refund.status == PaymentStatus.SUCCEEDED
    assert outbox(app, held.booking_id).count(("refund_processed", "email")) == 1


def test_refund_made_in_stripes_dashboard_is_recorded(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    client = stripe_live.client("sk_test_dashboard")
    client.v1.refunds.create(
        {"payment_intent": held.pi, "amount": 2000}, options={"stripe_account": held.account}
    )
    settle(stripe_live)
    deposit, refund = payments(app, held.booking_id)
    assert refund.stripe_payment_intent_id == deposit.stripe_payment_intent_id
    assert (refund.kind, refund.amount_minor, refund.status) == ("refund", 2000, "succeeded")
    # Refunded without the platform fee (the dashboard's default): our fee stays.
    assert refund.reason == "Refunded in Stripe" and refund.application_fee_minor == 0
    assert ("refund_processed", "email") in outbox(app, held.booking_id)

    client.v1.refunds.create(
        {"payment_intent": held.pi, "amount": 1000, "refund_application_fee": True},
        options={"stripe_account": held.account},
    )
    settle(stripe_live)
    second = payments(app, held.booking_id)[2]
    assert second.amount_minor == 1000
    assert second.application_fee_minor == 75  # 125 * 3000/5000 returned in all, none before


def test_account_updated_switches_deposits_on(
    app: Flask, stripe_live: Any, signed_in: FlaskClient, tradie_id: int
) -> None:
    import requests

    from peepopay.models import Tradie

    page = signed_in.get("/dashboard/payments")
    assert "Connect Stripe" in page.get_data(as_text=True)
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    started = signed_in.post("/dashboard/payments/connect", data={"csrf_token": token})
    assert started.status_code == 303
    link = started.headers["Location"]
    assert link.startswith(f"{stripe_live.url}/hosted/onboarding/")
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None and tradie.stripe_account_id
        assert not tradie.charges_enabled
        account = tradie.stripe_account_id
        db.session.remove()
    controller = stripe_live.control(f"objects/{account}", method="GET")["object"]["controller"]
    assert controller["stripe_dashboard"] == {"type": "full"}
    assert controller["fees"] == {"payer": "account"}
    assert controller["losses"] == {"payments": "stripe"}

    # The tradie completes Stripe's onboarding; Stripe sends them back and says so by webhook.
    finished = requests.post(link, allow_redirects=False, timeout=10)
    assert finished.headers["Location"] == "http://peepopay.test/dashboard/payments/return"
    settle(stripe_live)
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        assert tradie.charges_enabled and tradie.payouts_enabled and tradie.details_submitted
        db.session.remove()
    back = signed_in.get("/dashboard/payments/return")
    assert back.status_code == 303
    assert "Connected" in signed_in.get("/dashboard/payments").get_data(as_text=True)


def test_deauthorized_account_is_disconnected(app: Flask, stripe_live: Any, tradie: int) -> None:
    from peepopay.models import Tradie

    with app.app_context():
        tradie_row = db.session.get(Tradie, tradie)
        assert tradie_row is not None
        account = tradie_row.stripe_account_id
        db.session.remove()
    stripe_live.control(f"accounts/{account}/deauthorize")
    settle(stripe_live)
    with app.app_context():
        tradie_row = db.session.get(Tradie, tradie)
        assert tradie_row is not None
        assert tradie_row.stripe_account_id is None and not tradie_row.charges_enabled
        db.session.remove()


def test_dispute_flags_the_booking_and_tells_the_tradie(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    (deposit,) = payments(app, held.booking_id)
    stripe_live.control(f"charges/{deposit.stripe_charge_id}/dispute")
    settle(stripe_live)
    assert booking(app, held.booking_id).disputed
    assert ("dispute_opened", "email") in outbox(app, held.booking_id)


def test_events_for_another_account_are_ignored(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pi = {
        "id": held.pi,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 5000,
        "currency": "nzd",
        "metadata": {"booking_id": str(held.booking_id), "kind": "deposit"},
    }
    payload = event_payload("payment_intent.succeeded", pi, account="acct_someone_else")
    answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
    assert answer.status_code == 200 and answer.get_json()["result"] == "ignored"
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    assert json.loads(payload)["id"] in stored_events(app)


@pytest.mark.both_databases
@pytest.mark.parametrize("failure", ["stripe_away", "crash"])
def test_an_event_that_failed_is_applied_when_stripe_sends_it_again(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int, monkeypatch: Any, failure: str
) -> None:
    """The first delivery fails inside its handler; nothing of it may stay committed, so the
    retry with the same id is applied, not answered "duplicate"."""
    from peepopay.bookings import payment_outcomes
    from peepopay.payments.gateway import PaymentError

    held = hold(app, tradie)
    account = held.account
    pi = {
        "id": held.pi,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 5000,
        "currency": "nzd",
        "metadata": {"booking_id": str(held.booking_id), "kind": "deposit"},
    }
    payload = event_payload("payment_intent.succeeded", pi, account=account)
    real = payment_outcomes.deposit_succeeded

    def fails(*args: Any, **kwargs: Any) -> str:
        real(*args, **kwargs)  # its writes happen, then the handler fails
        if failure == "stripe_away":
            raise PaymentError(503, "Stripe is not answering.")
        raise RuntimeError("handler bug")

    monkeypatch.setattr(payment_outcomes, "deposit_succeeded", fails)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 as production does
    first = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
    assert first.status_code == (503 if failure == "stripe_away" else 500)
    assert json.loads(payload)["id"] not in stored_events(app)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT

    monkeypatch.setattr(payment_outcomes, "deposit_succeeded", real)
    again = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
    assert again.status_code == 200 and again.get_json()["result"] == "confirmed"
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    assert json.loads(payload)["id"] in stored_events(app)


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "event",
    [
        [],
        ["evt_1"],
        "evt_1",
        7,
        None,
        {"type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}},
        {"id": "", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}},
        {"id": ["evt_1"], "type": "payment_intent.succeeded", "data": {"object": {}}},
        {"id": "evt_no_data", "type": "payment_intent.succeeded"},
        {"id": "evt_data_list", "type": "payment_intent.succeeded", "data": []},
        {"id": "evt_no_object", "type": "payment_intent.succeeded", "data": {}},
        {"id": "evt_object_str", "type": "payment_intent.succeeded", "data": {"object": "pi"}},
        {"id": "evt_type_list", "type": ["x"], "data": {"object": {"id": "pi_1"}}},
    ],
)
@pytest.mark.parametrize(
    ("path", "secret"),
    [("/webhooks/stripe", PLATFORM), ("/webhooks/stripe/connect", CONNECT)],
)
def test_a_signed_but_malformed_event_is_refused_and_stores_nothing(
    app: Flask, client: FlaskClient, event: Any, path: str, secret: str
) -> None:
    payload = json.dumps(event)
    answer = post(client, path, payload, signed(payload, secret))
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "event" in answer.get_json()["error"]
    assert stored_events(app) == []


# --------------------------------------------------------------------------- event shapes

DELETE = object()  # a case's value that removes the field


def _real_objects(held: Any, stripe_live: Any) -> dict[str, dict[str, Any]]:
    """An object of each kind as Stripe would send it for the held booking: the real
    PaymentIntent from the emulator, and a refund, charge, dispute, account and payout that
    point at it."""
    pi = stripe_object_of(stripe_live, held.pi)
    meta = {"booking_id": str(held.booking_id), "kind": "deposit"}
    pi["metadata"] = {**(pi.get("metadata") or {}), **meta}
    common = {"currency": "nzd", "created": int(time.time()), "livemode": False}
    return {
        "payment_intent": pi,
        "refund": {
            **common,
            "id": "re_forged1",
            "object": "refund",
            "amount": 1000,
            "payment_intent": held.pi,
            "charge": "ch_forged1",
            "status": "succeeded",
            "metadata": {"booking_id": str(held.booking_id)},
        },
        "charge": {
            **common,
            "id": "ch_forged1",
            "object": "charge",
            "amount": pi["amount"],
            "amount_refunded": 1000,
            "payment_intent": held.pi,
            "status": "succeeded",
            "metadata": dict(meta),
        },
        "dispute": {
            **common,
            "id": "dp_forged1",
            "object": "dispute",
            "amount": pi["amount"],
            "charge": "ch_forged1",
            "payment_intent": held.pi,
            "status": "needs_response",
            "reason": "fraudulent",
            "evidence_details": {"due_by": int(time.time()) + 86400, "has_evidence": False},
            "balance_transactions": [
                {"id": "txn_forged1", "object": "balance_transaction", "amount": -pi["amount"]}
            ],
            "metadata": {},
        },
        "account": {
            "id": held.account,
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "metadata": {},
        },
        "payout": {
            **common,
            "id": "po_forged1",
            "object": "payout",
            "amount": 5000,
            "arrival_date": int(time.time()),
            "status": "paid",
            "metadata": {},
        },
    }


# (event type, kind of object, field, value): each a body Stripe never sends.
MALFORMED: list[tuple[str, str, str, Any]] = [
    ("payment_intent.succeeded", "payment_intent", "metadata", "booking_id=1"),
    ("payment_intent.succeeded", "payment_intent", "metadata", ["booking_id", "1"]),
    ("payment_intent.succeeded", "payment_intent", "metadata", 7),
    ("payment_intent.succeeded", "payment_intent", "metadata.booking_id", 5),
    ("payment_intent.succeeded", "payment_intent", "metadata.kind", {"deposit": True}),
    ("payment_intent.succeeded", "payment_intent", "amount", "x"),
    ("payment_intent.succeeded", "payment_intent", "amount", 1e30),
    ("payment_intent.succeeded", "payment_intent", "amount", 10**30),
    ("payment_intent.succeeded", "payment_intent", "amount", 100_000_000),
    ("payment_intent.succeeded", "payment_intent", "amount", -5000),
    ("payment_intent.succeeded", "payment_intent", "amount", 50.5),
    ("payment_intent.succeeded", "payment_intent", "amount", True),
    ("payment_intent.succeeded", "payment_intent", "amount", None),
    ("payment_intent.succeeded", "payment_intent", "amount", DELETE),
    ("payment_intent.succeeded", "payment_intent", "currency", 554),
    ("payment_intent.succeeded", "payment_intent", "currency", "dollars"),
    ("payment_intent.succeeded", "payment_intent", "application_fee_amount", 1e30),
    ("payment_intent.succeeded", "payment_intent", "application_fee_amount", "x"),
    ("payment_intent.succeeded", "payment_intent", "latest_charge", 5),
    ("payment_intent.succeeded", "payment_intent", "latest_charge", {"id": 5}),
    ("payment_intent.succeeded", "payment_intent", "latest_charge", "re_not_a_charge"),
    ("payment_intent.succeeded", "payment_intent", "customer", ["cus_1"]),
    ("payment_intent.succeeded", "payment_intent", "status", ["succeeded"]),
    ("payment_intent.succeeded", "payment_intent", "created", 1e20),
    ("payment_intent.succeeded", "payment_intent", "id", 5),
    ("payment_intent.succeeded", "payment_intent", "id", None),
    ("payment_intent.succeeded", "payment_intent", "id", "dp_not_an_intent"),
    ("payment_intent.succeeded", "payment_intent", "object", "dispute"),
    ("payment_intent.payment_failed", "payment_intent", "last_payment_error", "declined"),
    ("payment_intent.payment_failed", "payment_intent", "last_payment_error", {"message": 5}),
    ("payment_intent.payment_failed", "payment_intent", "metadata", "x"),
    ("payment_intent.canceled", "payment_intent", "id", 5),
    ("refund.created", "refund", "metadata", "booking_id=1"),
    ("refund.created", "refund", "metadata", [1, 2]),
    ("refund.created", "refund", "amount", "x"),
    ("refund.created", "refund", "amount", 1e30),
    ("refund.created", "refund", "amount", -1000),
    ("refund.created", "refund", "payment_intent", 5),
    ("refund.created", "refund", "id", None),
    ("refund.created", "refund", "id", "dp_forged1"),
    ("refund.created", "refund", "object", "dispute"),
    ("refund.updated", "refund", "status", 3),
    ("charge.refund.updated", "refund", "amount", 1e30),
    ("charge.refunded", "charge", "id", "re_not_a_charge"),
    ("charge.refunded", "charge", "amount", 1e30),
    ("charge.refunded", "charge", "metadata", ["booking_id"]),
    ("charge.refunded", "charge", "payment_intent", 7),
    ("charge.dispute.created", "dispute", "evidence_details.due_by", 1e20),
    ("charge.dispute.created", "dispute", "evidence_details.due_by", "tomorrow"),
    ("charge.dispute.created", "dispute", "evidence_details.due_by", -1),
    ("charge.dispute.created", "dispute", "evidence_details", "soon"),
    ("charge.dispute.created", "dispute", "amount", "x"),
    ("charge.dispute.created", "dispute", "amount", 1e30),
    ("charge.dispute.created", "dispute", "charge", None),
    ("charge.dispute.created", "dispute", "id", "re_forged1"),
    ("charge.dispute.funds_withdrawn", "dispute", "balance_transactions", "all of it"),
    ("charge.dispute.funds_withdrawn", "dispute", "balance_transactions.0.amount", -1e30),
    ("charge.dispute.funds_withdrawn", "dispute", "balance_transactions.0.amount", "x"),
    ("charge.dispute.closed", "dispute", "status", {"won": True}),
    ("account.updated", "account", "id", 5),
    ("account.updated", "account", "id", "ca_not_an_account"),
    ("account.updated", "account", "charges_enabled", "yes"),
    ("payout.paid", "payout", "id", "pi_not_a_payout"),
    ("payout.paid", "payout", "amount", "x"),
    ("payout.paid", "payout", "arrival_date", 1e20),
]


def _broken(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `obj` with the field at the dotted `path` (a number indexes a list)
    set to `value`, or removed for DELETE."""
    copy: dict[str, Any] = json.loads(json.dumps(obj))
    *parents, last = path.split(".")
    target: Any = copy
    for name in parents:
        target = target[int(name)] if isinstance(target, list) else target[name]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is DELETE:
        target.pop(last, None)
    else:
        target[last] = value
    return copy


def ledger_rows(app: Flask) -> dict[str, int]:
    """How many rows each table that Stripe's events write to holds."""
    from peepopay.models import AuditLog, Dispute, OutboxMessage, Payment, StripeEvent

    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (StripeEvent, Payment, Dispute, OutboxMessage, AuditLog)
        }
        db.session.remove()
        return counts


def forged_payloads(held: Any, stripe_live: Any) -> list[str]:
    """Every malformed case as a signed body would carry it."""
    objects = _real_objects(held, stripe_live)
    return [
        event_payload(event_type, _broken(objects[kind], path, value), held.account)
        for event_type, kind, path, value in MALFORMED
    ]


@pytest.fixture
def held(app: Flask, stripe_live: Any, tradie: int) -> Any:
    held = hold(app, tradie)
    settle(stripe_live)
    return held


@pytest.mark.parametrize(("event_type", "kind", "path", "value"), MALFORMED)
def test_a_signed_event_whose_object_has_the_wrong_shape_is_refused_and_stores_nothing(
    app: Flask,
    client: FlaskClient,
    stripe_live: Any,
    held: Any,
    event_type: str,
    kind: str,
    path: str,
    value: Any,
) -> None:
    obj = _broken(_real_objects(held, stripe_live)[kind], path, value)
    payload = event_payload(event_type, obj, held.account)
    before = ledger_rows(app)

    answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))

    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "event" in answer.get_json()["error"]
    assert ledger_rows(app) == before
    assert json.loads(payload)["id"] not in stored_events(app)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT


def test_the_unbroken_objects_of_the_shape_cases_are_applied(
    app: Flask, client: FlaskClient, stripe_live: Any, held: Any
) -> None:
    """The cases above differ from an accepted event by their one broken field."""
    objects = _real_objects(held, stripe_live)
    for event_type, kind in {(case[0], case[1]) for case in MALFORMED}:
        payload = event_payload(event_type, objects[kind], held.account)
        answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
        assert answer.status_code in (200, 503), (event_type, answer.get_data(as_text=True))


@pytest.fixture
def paid(app: Flask, stripe_live: Any, tradie: int) -> Any:
    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    return held


@pytest.mark.parametrize("pi_id", [5, None, "", "pi_"])
def test_a_payment_intent_without_a_real_id_adds_no_second_deposit(
    app: Flask, client: FlaskClient, stripe_live: Any, paid: Any, pi_id: Any
) -> None:
    pi = stripe_object_of(stripe_live, paid.pi)
    pi["id"] = pi_id
    pi["metadata"] = {"booking_id": str(paid.booking_id), "kind": "deposit"}
    payload = event_payload("payment_intent.succeeded", pi, paid.account)

    answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))

    assert answer.status_code == 400, answer.get_data(as_text=True)
    (deposit,) = payments(app, paid.booking_id)
    assert deposit.stripe_payment_intent_id == paid.pi
    assert json.loads(payload)["id"] not in stored_events(app)


def test_a_refund_event_carrying_a_dispute_records_no_refund(
    app: Flask, client: FlaskClient, stripe_live: Any, paid: Any
) -> None:
    (deposit,) = payments(app, paid.booking_id)
    dispute = {
        "id": "dp_forged_as_refund",
        "object": "dispute",
        "amount": deposit.amount_minor,
        "currency": "nzd",
        "charge": deposit.stripe_charge_id,
        "payment_intent": paid.pi,
        "reason": "fraudulent",
        "status": "needs_response",
        "metadata": {"booking_id": str(paid.booking_id)},
    }
    payload = event_payload("refund.created", dispute, paid.account)

    answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))

    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert [p.kind for p in payments(app, paid.booking_id)] == ["deposit"]
    assert json.loads(payload)["id"] not in stored_events(app)


def stripe_books(stripe_live: Any, account: str, booking_id: int) -> dict[str, Any]:
    """The booking's money as Stripe holds it: each succeeded charge and each refund that
    holds, by object id, in minor units."""
    sdk = stripe_live.client("sk_test_peepopay_tests")
    options = {"stripe_account": account}
    intents = [
        pi
        for pi in sdk.v1.payment_intents.list({"limit": 100}, options=options).data
        if pi.to_dict()["metadata"].get("booking_id") == str(booking_id)
        and pi.status == "succeeded"
    ]
    ids = {pi.id for pi in intents}
    refunds = [
        refund
        for refund in sdk.v1.refunds.list({"limit": 100}, options=options).data
        if refund.payment_intent in ids and refund.status in ("succeeded", "pending")
    ]
    return {
        "charges": sorted((pi.id, pi.amount_received) for pi in intents),
        "refunds": sorted((refund.id, refund.amount) for refund in refunds),
        "received_minor": sum(pi.amount_received for pi in intents),
        "refunded_minor": sum(refund.amount for refund in refunds),
    }


def our_books(app: Flask, booking_id: int) -> dict[str, Any]:
    """The same figures from our payment records and the booking's ledger."""
    from peepopay.payments import ledger
    from peepopay.payments.models import PaymentKind

    rows = payments(app, booking_id)
    with app.app_context():
        book = ledger.ledger(db.session, booking_id)
        db.session.remove()
    return {
        "charges": sorted(
            (p.stripe_payment_intent_id, p.amount_minor)
            for p in rows
            if p.kind != PaymentKind.REFUND and p.status == PaymentStatus.SUCCEEDED
        ),
        "refunds": sorted(
            (p.stripe_refund_id, p.amount_minor)
            for p in rows
            if p.kind == PaymentKind.REFUND and p.status in PaymentStatus.REFUND_HOLDING
        ),
        "received_minor": book.received_minor,
        "refunded_minor": book.refunded_minor,
    }


def test_after_forged_events_the_ledger_still_equals_stripe_to_the_cent(
    app: Flask, client: FlaskClient, stripe_live: Any, paid: Any, tradie: int
) -> None:
    from peepopay.clock import utcnow
    from peepopay.models import Booking, Tradie
    from peepopay.payments import refunds

    with app.app_context():
        row = db.session.get(Booking, paid.booking_id)
        owner = db.session.get(Tradie, tradie)
        assert row is not None and owner is not None
        refunds.refund(db.session, row, owner, 1500, "Shorter job", utcnow())
        db.session.commit()
        db.session.remove()
    settle(stripe_live)
    assert our_books(app, paid.booking_id) == stripe_books(
        stripe_live, paid.account, paid.booking_id
    )
    before = ledger_rows(app)

    (deposit,) = [p for p in payments(app, paid.booking_id) if p.kind == "deposit"]
    pi = stripe_object_of(stripe_live, paid.pi)
    forged = forged_payloads(paid, stripe_live)
    for pi_id in (5, None):
        forged.append(event_payload("payment_intent.succeeded", {**pi, "id": pi_id}, paid.account))
    dispute_as_refund = {
        "id": "dp_forged_as_refund",
        "object": "dispute",
        "amount": deposit.amount_minor,
        "charge": deposit.stripe_charge_id,
        "payment_intent": paid.pi,
        "status": "needs_response",
    }
    forged.append(event_payload("refund.created", dispute_as_refund, paid.account))
    for payload in forged:
        answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
        assert answer.status_code == 400, (payload, answer.get_data(as_text=True))

    assert ledger_rows(app) == before
    books = our_books(app, paid.booking_id)
    assert books == stripe_books(stripe_live, paid.account, paid.booking_id)
    assert (books["received_minor"] - books["refunded_minor"]) == deposit.amount_minor - 1500


def stripe_object_of(stripe_live: Any, obj_id: str) -> dict[str, Any]:
    from tests.payments_support import stripe_object

    obj: dict[str, Any] = stripe_object(stripe_live, obj_id)["object"]
    return obj
