"""Payment flows: onboarding, the deposit, the balance, refunds, and the effects of Stripe's
events. Every Stripe call goes through `gateway`; every function takes a session and `now`.

Concurrency: a flow that changes a booking's money first locks the booking row
(`lock_booking`), and so does every webhook handler, so a webhook that races the request
that caused it waits for that request's commit and then sees its rows.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from peepopay import audit
from peepopay.auth.models import Tradie
from peepopay.booking.models import Booking, Status
from peepopay.booking.policy import can_move, customer_refund_minor
from peepopay.db_setup import DbSession
from peepopay.money import BPS, application_fee
from peepopay.notifications import messages
from peepopay.notifications.links import external_url
from peepopay.ops import metrics
from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus

log = logging.getLogger(__name__)

# The smallest card charge Stripe accepts, in minor units, by currency (50 elsewhere).
MINIMUM_CHARGE = {"GBP": 30, "HKD": 400, "JPY": 50, "MXN": 1000, "DKK": 250, "NOK": 300}
CHARGE_KINDS = (PaymentKind.DEPOSIT, PaymentKind.BALANCE)
# Why a refund was made; kept in the Stripe refund's metadata so webhooks know who tells whom.
PURPOSE_DASHBOARD = "dashboard"  # the tradie's refund form: the customer gets a receipt
PURPOSE_CANCELLATION = "cancellation"  # the cancellation message covers it
PURPOSE_LATE = "late_deposit"  # the late-deposit apology covers it
PURPOSE_STRIPE = "stripe"  # made in Stripe's dashboard, learned from a webhook


class PaymentProblem(Exception):
    """A request the payment rules refuse; `field` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class DepositsUnavailable(PaymentProblem):
    """The tradie cannot take card deposits yet (Stripe not connected or not enabled)."""

    def __init__(self) -> None:
        super().__init__(
            "payment",
            "Online deposits aren't available for this business yet. "
            "Please contact them directly to book.",
        )


@dataclass(frozen=True)
class DepositStart:
    """What the browser needs to take the deposit on the tradie's Stripe account."""

    client_secret: str
    account_id: str
    publishable_key: str
    payment_intent_id: str


# --------------------------------------------------------------------------- helpers


def minimum_charge(currency: str) -> int:
    return MINIMUM_CHARGE.get(currency.upper(), 50)


def fee_bps() -> int:
    return int(current_app.config["PLATFORM_FEE_BPS"])


def lock_booking(session: DbSession, booking_id: int) -> Booking | None:
    """The booking, re-read after taking its row lock (PostgreSQL) or the write lock (SQLite)."""
    session.execute(
        sa.update(Booking)
        .where(Booking.id == booking_id)
        .values(updated_at=Booking.updated_at)
        .execution_options(synchronize_session=False)
    )
    return session.execute(
        sa.select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def tradie_of(session: DbSession, booking: Booking) -> Tradie:
    tradie = session.get(Tradie, booking.tradie_id)
    assert tradie is not None
    return tradie


def payments_of(session: DbSession, booking_id: int) -> list[Payment]:
    return list(
        session.scalars(
            sa.select(Payment)
            .where(Payment.booking_id == booking_id)
            .order_by(Payment.created_at, Payment.id)
        )
    )


def deposit_payment(session: DbSession, booking_id: int) -> Payment | None:
    return session.scalar(
        sa.select(Payment)
        .where(Payment.booking_id == booking_id, Payment.kind == PaymentKind.DEPOSIT)
        .order_by(Payment.id.desc())
        .limit(1)
    )


def stripe_id(value: Any) -> str | None:
    """An id from a field that may be expanded into an object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value.get("id")) if isinstance(value, dict) else str(value.id)


def as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_dict()


@dataclass
class Ledger:
    """A booking's money from its payment records: what came in, what went back."""

    payments: list[Payment]
    received_minor: int = 0
    refunded_minor: int = 0  # refunds Stripe accepted or is still processing
    fees_minor: int = 0
    refundable_by_payment: dict[int, int] = field(default_factory=dict)

    @property
    def net_minor(self) -> int:
        return self.received_minor - self.refunded_minor

    @property
    def refundable_minor(self) -> int:
        return sum(self.refundable_by_payment.values())

    @property
    def deposit(self) -> Payment | None:
        return next((p for p in self.payments if p.kind == PaymentKind.DEPOSIT), None)

    @property
    def balance(self) -> Payment | None:
        balances = [p for p in self.payments if p.kind == PaymentKind.BALANCE]
        live = [
            p for p in balances if p.status not in (PaymentStatus.FAILED, PaymentStatus.CANCELED)
        ]
        return (live or balances)[-1] if balances else None

    @property
    def balance_started(self) -> bool:
        """A balance charge is under way or paid, so another may not be started."""
        balance = self.balance
        return balance is not None and balance.status in (
            PaymentStatus.PENDING,
            PaymentStatus.AWAITING,
            PaymentStatus.SUCCEEDED,
        )


def ledger(session: DbSession, booking_id: int) -> Ledger:
    rows = payments_of(session, booking_id)
    book = Ledger(rows)
    refunded_by_pi: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.kind == PaymentKind.REFUND and row.status in PaymentStatus.REFUND_HOLDING:
            book.refunded_minor += row.amount_minor
            book.fees_minor -= row.application_fee_minor
            refunded_by_pi[row.stripe_payment_intent_id or ""] += row.amount_minor
    for row in rows:
        if row.kind in CHARGE_KINDS and row.status == PaymentStatus.SUCCEEDED:
            book.received_minor += row.amount_minor
            book.fees_minor += row.application_fee_minor
            left = row.amount_minor - refunded_by_pi[row.stripe_payment_intent_id or ""]
            book.refundable_by_payment[row.id] = max(left, 0)
    return book


def _fee_share(charge: Payment, refunded_before: int, amount: int) -> int:
    """The platform fee Stripe returns with a refund: the charge's fee in proportion to the
    refunded share, rounded half up on the running total."""
    if charge.amount_minor <= 0:
        return 0

    def share(refunded: int) -> int:
        return (2 * charge.application_fee_minor * refunded + charge.amount_minor) // (
            2 * charge.amount_minor
        )

    return share(refunded_before + amount) - share(refunded_before)


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


# --------------------------------------------------------------------------- the deposit


def start_deposit(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime
) -> DepositStart:
    """The deposit PaymentIntent for a held booking: a direct charge on the tradie's account,
    for the amount the server computed, saving the card for the balance."""
    if not tradie.payments_ready or tradie.stripe_account_id is None:
        raise DepositsUnavailable()
    try:
        return _start_deposit(session, booking, tradie, now)
    except PaymentError as error:
        if error.code not in gateway.ACCOUNT_GONE:
            raise
        # The tradie disconnected PeepoPay in Stripe (or the demo emulator restarted).
        disconnect(session, tradie, now, actor="stripe")
        raise DepositsUnavailable() from error


def _start_deposit(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime
) -> DepositStart:
    assert tradie.stripe_account_id is not None
    account = tradie.stripe_account_id
    config = current_app.config
    payment = deposit_payment(session, booking.id)
    if payment is not None and payment.stripe_payment_intent_id:
        pi = gateway.retrieve_payment_intent(account, payment.stripe_payment_intent_id)
        return DepositStart(pi.client_secret, account, config["STRIPE_PUBLISHABLE_KEY"], pi.id)
    amount = booking.deposit_minor
    fee = application_fee(amount, fee_bps())
    if payment is None:
        payment = Payment(
            booking_id=booking.id,
            tradie_id=tradie.id,
            kind=PaymentKind.DEPOSIT,
            amount_minor=amount,
            currency=booking.currency,
            application_fee_minor=fee,
            status=PaymentStatus.PENDING,
            created_at=now,
        )
        session.add(payment)
        session.flush()
    customer = gateway.create_customer(
        account,
        email=booking.customer_email,
        name=booking.customer_name,
        phone=booking.customer_phone,
        key=f"booking-{booking.id}-customer",
        metadata={"booking_id": str(booking.id)},
    )
    pi = gateway.create_payment_intent(
        account,
        {
            "amount": amount,
            "currency": booking.currency.lower(),
            "application_fee_amount": fee,
            "customer": customer.id,
            "setup_future_usage": "off_session",
            "payment_method_types": ["card"],
            "receipt_email": booking.customer_email,
            "description": f"Deposit: {booking.service_name} ({tradie.business_name})",
            "metadata": {"booking_id": str(booking.id), "kind": PaymentKind.DEPOSIT},
        },
        key=f"booking-{booking.id}-deposit",
    )
    payment.stripe_payment_intent_id = pi.id
    payment.stripe_customer_id = customer.id
    return DepositStart(pi.client_secret, account, config["STRIPE_PUBLISHABLE_KEY"], pi.id)


def sync_deposit(session: DbSession, booking: Booking, now: datetime) -> str:
    """The customer's browser says the deposit went through: ask Stripe and apply the same
    effect the webhook applies, so the confirmation shows before the webhook lands.

    Returns the PaymentIntent's status ("none" when there is nothing to ask about)."""
    payment = deposit_payment(session, booking.id)
    tradie = tradie_of(session, booking)
    if payment is None or not payment.stripe_payment_intent_id or not tradie.stripe_account_id:
        return "none"
    if payment.status == PaymentStatus.SUCCEEDED:
        return "succeeded"
    pi = as_dict(
        gateway.retrieve_payment_intent(tradie.stripe_account_id, payment.stripe_payment_intent_id)
    )
    if pi["status"] == "succeeded":
        locked = lock_booking(session, booking.id)
        assert locked is not None
        session.refresh(payment)
        deposit_succeeded(session, locked, payment, pi, now, actor="customer")
    return str(pi["status"])


RECONCILE_MAX_AGE = timedelta(days=2)


def reconcile_pending_deposits(
    session: DbSession,
    now: datetime,
    older_than: timedelta = timedelta(minutes=5),
    limit: int = 50,
) -> Counter[str]:
    """Deposits whose webhook never came: ask Stripe about every deposit still pending (or
    declined, in case a retry then succeeded) made between `older_than` and two days ago, and
    apply what the webhook would have applied, with the same functions.

    A batch job for the worker's sweep, so it commits each payment on its own: a Stripe error
    or a bad row is logged and skipped, never stopping the others. The rows checked least
    recently go first (checking touches `updated_at`), so many abandoned deposits can't starve
    the rest. Returns how many payments had each outcome."""
    outcomes: Counter[str] = Counter()
    ids = list(
        session.scalars(
            sa.select(Payment.id)
            .where(
                Payment.kind == PaymentKind.DEPOSIT,
                Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.FAILED)),
                Payment.stripe_payment_intent_id.is_not(None),
                Payment.created_at <= now - older_than,
                Payment.created_at >= now - RECONCILE_MAX_AGE,
            )
            .order_by(Payment.updated_at, Payment.id)
            .limit(limit)
        )
    )
    if not ids:
        return outcomes
    session.execute(
        sa.update(Payment)
        .where(Payment.id.in_(ids))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    for payment_id in ids:
        try:
            outcome = _reconcile_deposit(session, payment_id, now)
            session.commit()
        except PaymentError as error:
            session.rollback()
            log.warning("reconciling payment %s: Stripe said %s", payment_id, error.message)
            outcome = "stripe_error"
        except Exception:
            session.rollback()
            log.exception("reconciling payment %s failed", payment_id)
            outcome = "error"
        outcomes[outcome] += 1
    if outcomes.keys() - {"unchanged"}:
        log.info("deposit reconciliation: %s", dict(outcomes))
    return outcomes


def _reconcile_deposit(session: DbSession, payment_id: int, now: datetime) -> str:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.stripe_payment_intent_id is None:
        return "unchanged"
    booking = session.get(Booking, payment.booking_id)
    tradie = session.get(Tradie, payment.tradie_id)
    if booking is None or tradie is None or tradie.stripe_account_id is None:
        return "unchanged"
    # Ask Stripe before taking the booking's lock, as `sync_deposit` does.
    pi = as_dict(
        gateway.retrieve_payment_intent(tradie.stripe_account_id, payment.stripe_payment_intent_id)
    )
    status = pi["status"]
    failed = status == "requires_payment_method" and pi.get("last_payment_error")
    if status not in ("succeeded", "canceled") and not failed:
        return "unchanged"  # still with the customer, or processing
    locked = lock_booking(session, booking.id)
    assert locked is not None
    session.refresh(payment)  # a webhook may have applied it meanwhile
    if status == "succeeded":
        return deposit_succeeded(session, locked, payment, pi, now, actor="stripe")
    if status == "canceled":
        return deposit_canceled(payment)
    if payment.status != PaymentStatus.PENDING:
        return "unchanged"  # its decline was already applied
    return deposit_failed(session, locked, payment, pi, now)


def _charge_details(payment: Payment, pi: dict[str, Any]) -> None:
    payment.stripe_payment_intent_id = pi["id"]
    payment.stripe_charge_id = stripe_id(pi.get("latest_charge")) or payment.stripe_charge_id
    payment.stripe_payment_method_id = (
        stripe_id(pi.get("payment_method")) or payment.stripe_payment_method_id
    )
    payment.stripe_customer_id = stripe_id(pi.get("customer")) or payment.stripe_customer_id
    payment.failure_code = payment.failure_message = None


def _failure_details(payment: Payment, pi: dict[str, Any]) -> None:
    """Why Stripe declined the attempt, as the booking pages show it."""
    error = pi.get("last_payment_error") or {}
    payment.failure_code = (error.get("decline_code") or error.get("code") or "failed")[:64]
    payment.failure_message = (error.get("message") or "The payment failed.")[:500]


def _confirm(session: DbSession, booking: Booking, now: datetime, actor: str) -> None:
    booking.status = Status.CONFIRMED
    booking.confirmed_at = now
    _confirmed(session, booking, now, actor)


def _confirmed(session: DbSession, booking: Booking, now: datetime, actor: str) -> None:
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor=actor,
        action="booking.confirmed",
        entity=booking,
        summary={"deposit_minor": booking.deposit_minor},
    )
    messages.booking_confirmed(session, booking, now)


def _confirm_if_free(session: DbSession, booking: Booking, now: datetime, actor: str) -> bool:
    """Confirm a booking whose hold lapsed, if its time is still free; the database's overlap
    guarantee decides (an IntegrityError means another booking took the time)."""
    try:
        with session.begin_nested():
            booking.status = Status.CONFIRMED
            booking.confirmed_at = now
            session.flush()
    except sa.exc.IntegrityError as error:
        if "no_overlap" not in str(error.orig):
            raise
        session.expire(booking)
        return False
    _confirmed(session, booking, now, actor)
    return True


def deposit_succeeded(
    session: DbSession,
    booking: Booking,
    payment: Payment,
    pi: dict[str, Any],
    now: datetime,
    *,
    actor: str,
) -> str:
    """The deposit was paid: confirm the booking once; a deposit the booking can no longer use
    (its time was taken, or it was cancelled meanwhile) is refunded in full."""
    if payment.status != PaymentStatus.SUCCEEDED:
        payment.status = PaymentStatus.SUCCEEDED
        _charge_details(payment, pi)
        metrics.deposits.labels(outcome="paid").inc()
    if booking.status == Status.PENDING_PAYMENT:
        _confirm(session, booking, now, actor)
        return "confirmed"
    if booking.status in (Status.EXPIRED, Status.PAYMENT_FAILED):
        if _confirm_if_free(session, booking, now, actor):
            return "confirmed"
        return _refund_unusable_deposit(session, booking, now)
    if booking.status == Status.CANCELLED:
        return _refund_unusable_deposit(session, booking, now)
    return "unchanged"


def _refund_unusable_deposit(session: DbSession, booking: Booking, now: datetime) -> str:
    book = ledger(session, booking.id)
    if book.refundable_minor <= 0:
        return "unchanged"
    _refund(
        session,
        booking,
        tradie_of(session, booking),
        book,
        book.refundable_minor,
        reason="The time was no longer available when the deposit arrived.",
        purpose=PURPOSE_LATE,
        now=now,
    )
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor="system",
        action="payment.late_deposit_refunded",
        entity=booking,
        summary={"refund_minor": book.refundable_minor},
    )
    messages.late_deposit_refunded(session, booking, now)
    return "refunded"


def deposit_failed(
    session: DbSession, booking: Booking, payment: Payment, pi: dict[str, Any], now: datetime
) -> str:
    """A declined attempt: the booking stops holding its time (unless already paid), the
    customer hears why, and may retry on the same PaymentIntent."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    if payment.status != PaymentStatus.FAILED:
        metrics.deposits.labels(outcome="failed").inc()
    payment.status = PaymentStatus.FAILED
    _failure_details(payment, pi)
    if booking.status == Status.PENDING_PAYMENT and can_move(booking, Status.PAYMENT_FAILED):
        booking.status = Status.PAYMENT_FAILED
        audit.record(
            session,
            tradie_id=booking.tradie_id,
            actor="stripe",
            action="booking.payment_failed",
            entity=booking,
            summary={"code": payment.failure_code},
        )
        messages.payment_failed(session, booking, payment, now)
        return "payment_failed"
    return "recorded"


def deposit_canceled(payment: Payment) -> str:
    """The deposit's PaymentIntent was canceled: an unpaid deposit record says so."""
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        payment.status = PaymentStatus.CANCELED
        return "canceled"
    return "unchanged"


# --------------------------------------------------------------------------- the balance


def charge_balance(
    session: DbSession, booking: Booking, tradie: Tradie, final_amount_minor: int, now: datetime
) -> Payment | None:
    """Charge the rest of the job (final amount minus deposit) to the saved card, off-session.
    When the bank wants the customer, or the card fails, send them a payment link instead.

    Returns the balance payment (None when nothing was left to pay)."""
    locked = lock_booking(session, booking.id)
    assert locked is not None
    booking = locked
    if booking.status not in (Status.CONFIRMED, Status.COMPLETED):
        raise PaymentProblem(
            "final_amount", "Only a confirmed or completed booking can be charged."
        )
    if not tradie.payments_ready or tradie.stripe_account_id is None:
        raise PaymentProblem("final_amount", "Connect Stripe before charging a balance.")
    book = ledger(session, booking.id)
    if book.balance_started:
        raise PaymentProblem("final_amount", "The balance has already been charged.")
    deposit = book.deposit
    paid_deposit = (
        deposit.amount_minor if deposit and deposit.status == PaymentStatus.SUCCEEDED else 0
    )
    balance = final_amount_minor - paid_deposit
    if balance < 0:
        raise PaymentProblem(
            "final_amount",
            "Final amount is less than the deposit paid; refund the difference instead.",
        )
    if 0 < balance < minimum_charge(booking.currency):
        raise PaymentProblem(
            "final_amount", "The balance is too small to charge by card; enter the full amount."
        )
    booking.final_amount_minor = final_amount_minor
    actor = f"tradie:{tradie.id}"
    if balance == 0:
        _complete(session, booking, now, actor)
        return None
    payment = Payment(
        booking_id=booking.id,
        tradie_id=tradie.id,
        kind=PaymentKind.BALANCE,
        amount_minor=balance,
        currency=booking.currency,
        application_fee_minor=application_fee(balance, fee_bps()),
        status=PaymentStatus.PENDING,
        stripe_customer_id=deposit.stripe_customer_id if deposit else None,
        created_at=now,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor,
        action="payment.balance_charged",
        entity=booking,
        summary={"final_minor": final_amount_minor, "balance_minor": balance},
    )
    card = deposit.stripe_payment_method_id if deposit else None
    if not card or not payment.stripe_customer_id:
        send_payment_link(session, booking, tradie, payment, now)
        return payment
    try:
        pi = as_dict(
            gateway.create_payment_intent(
                tradie.stripe_account_id,
                {
                    "amount": balance,
                    "currency": booking.currency.lower(),
                    "application_fee_amount": payment.application_fee_minor,
                    "customer": payment.stripe_customer_id,
                    "payment_method": card,
                    "off_session": True,
                    "confirm": True,
                    "payment_method_types": ["card"],
                    "receipt_email": booking.customer_email,
                    "description": f"Balance: {booking.service_name} ({tradie.business_name})",
                    "metadata": _balance_metadata(booking, payment),
                },
                key=f"booking-{booking.id}-balance-{payment.id}-{balance}",
            )
        )
    except PaymentError as error:
        if not error.is_card_error:
            raise
        payment.stripe_payment_intent_id = error.payment_intent_id
        payment.failure_code = (error.decline_code or error.code or "card_error")[:64]
        payment.failure_message = error.message[:500]
        send_payment_link(session, booking, tradie, payment, now)
        return payment
    payment.stripe_payment_intent_id = pi["id"]
    if pi["status"] == "succeeded":
        balance_succeeded(session, booking, payment, pi, now, actor=actor)
    elif pi["status"] in ("requires_action", "requires_payment_method"):
        send_payment_link(session, booking, tradie, payment, now)
    return payment


def _balance_metadata(booking: Booking, payment: Payment) -> dict[str, str]:
    return {
        "booking_id": str(booking.id),
        "kind": PaymentKind.BALANCE,
        "payment_id": str(payment.id),
    }


def send_payment_link(
    session: DbSession, booking: Booking, tradie: Tradie, payment: Payment, now: datetime
) -> str:
    """A Checkout Session for the balance on the tradie's account, linked from an email and
    an SMS to the customer; the booking shows the balance as awaiting payment."""
    open_checkout(booking, tradie, payment)
    payment.status = PaymentStatus.AWAITING
    url = external_url("pay.balance", token=booking.public_token)
    messages.balance_payment_link(session, booking, url, payment.amount_minor, now)
    return url


def open_checkout(booking: Booking, tradie: Tradie, payment: Payment) -> str:
    """The balance's Checkout Session URL: the open one, or a new one when it expired."""
    assert tradie.stripe_account_id is not None
    account = tradie.stripe_account_id
    previous = payment.stripe_checkout_session_id
    if previous:
        existing = gateway.retrieve_checkout_session(account, previous)
        if existing.status == "open":
            return str(existing.url)
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": payment.currency.lower(),
                    "unit_amount": payment.amount_minor,
                    "product_data": {"name": f"Balance for {booking.service_name}"},
                },
                "quantity": 1,
            }
        ],
        "payment_intent_data": {
            "application_fee_amount": payment.application_fee_minor,
            "metadata": _balance_metadata(booking, payment),
            "description": f"Balance: {booking.service_name} ({tradie.business_name})",
        },
        "metadata": _balance_metadata(booking, payment),
        "success_url": external_url("pay.balance_done", token=booking.public_token)
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": external_url("pay.balance", token=booking.public_token),
    }
    if payment.stripe_customer_id:
        params["customer"] = payment.stripe_customer_id
    else:
        params["customer_email"] = booking.customer_email
    session_obj = gateway.create_checkout_session(
        account, params, key=f"payment-{payment.id}-checkout-after-{previous or 'none'}"
    )
    payment.stripe_checkout_session_id = session_obj.id
    return str(session_obj.url)


def sync_checkout(session: DbSession, booking: Booking, checkout_id: str, now: datetime) -> bool:
    """The customer is back from Checkout: apply its payment now (as the webhook would)."""
    tradie = tradie_of(session, booking)
    payment = session.scalar(
        sa.select(Payment).where(
            Payment.booking_id == booking.id, Payment.stripe_checkout_session_id == checkout_id
        )
    )
    if payment is None or tradie.stripe_account_id is None:
        return False
    if payment.status == PaymentStatus.SUCCEEDED:
        return True
    checkout = as_dict(gateway.retrieve_checkout_session(tradie.stripe_account_id, checkout_id))
    pi_id = stripe_id(checkout.get("payment_intent"))
    if checkout.get("payment_status") != "paid" or not pi_id:
        return False
    pi = as_dict(gateway.retrieve_payment_intent(tradie.stripe_account_id, pi_id))
    if pi["status"] != "succeeded":
        return False
    locked = lock_booking(session, booking.id)
    assert locked is not None
    session.refresh(payment)
    balance_succeeded(session, locked, payment, pi, now, actor="customer")
    return True


def _complete(session: DbSession, booking: Booking, now: datetime, actor: str) -> None:
    if can_move(booking, Status.COMPLETED):
        booking.status = Status.COMPLETED
        booking.completed_at = now
        audit.record(
            session,
            tradie_id=booking.tradie_id,
            actor=actor,
            action="booking.completed",
            entity=booking,
            summary={"final_minor": booking.final_amount_minor},
        )


def balance_succeeded(
    session: DbSession,
    booking: Booking,
    payment: Payment,
    pi: dict[str, Any],
    now: datetime,
    *,
    actor: str,
) -> str:
    """The balance was paid (off-session or through the link): the job is complete."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    payment.status = PaymentStatus.SUCCEEDED
    _charge_details(payment, pi)
    _complete(session, booking, now, actor)
    messages.balance_paid(session, booking, payment, now)
    return "balance_paid"


def balance_failed(payment: Payment, pi: dict[str, Any]) -> str:
    """A failed attempt at the balance: recorded; the link stays open for another try."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    _failure_details(payment, pi)
    return "recorded"


# --------------------------------------------------------------------------- refunds


def refund(
    session: DbSession,
    booking: Booking,
    tradie: Tradie,
    amount_minor: int,
    reason: str,
    now: datetime,
) -> list[Payment]:
    """The tradie's refund from the booking page: full or partial, never more than was paid
    less what was already refunded; the platform fee goes back in proportion."""
    locked = lock_booking(session, booking.id)
    assert locked is not None
    book = ledger(session, locked.id)
    if amount_minor <= 0:
        raise PaymentProblem("amount", "Amount must be more than zero.")
    if amount_minor > book.refundable_minor:
        raise PaymentProblem(
            "amount",
            "Amount is more than can be refunded "
            f"({book.refundable_minor} {locked.currency} minor units left).",
        )
    rows = _refund(
        session,
        locked,
        tradie,
        book,
        amount_minor,
        reason=reason,
        purpose=PURPOSE_DASHBOARD,
        now=now,
    )
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=f"tradie:{tradie.id}",
        action="payment.refunded",
        entity=locked,
        summary={"amount_minor": amount_minor, "reason": reason},
    )
    return rows


def refund_booking(
    session: DbSession, booking: Booking, now: datetime, *, by: str, reason: str = ""
) -> int:
    """What a cancellation gives back, refunded now: everything when the tradie cancels, the
    cancellation policy's share when the customer does. Returns the refunded minor units.

    The caller changes the booking's status and sends `booking_cancelled` with this amount."""
    tradie = tradie_of(session, booking)
    locked = lock_booking(session, booking.id)
    assert locked is not None
    book = ledger(session, locked.id)
    available = book.refundable_minor
    if by == "customer":
        amount = min(
            customer_refund_minor(locked, available, now, tradie.cancellation_window_hours),
            available,
        )
    else:
        amount = available
    if amount <= 0 or tradie.stripe_account_id is None:
        return 0
    default_reason = (
        "Cancelled by the customer" if by == "customer" else "Cancelled by the business"
    )
    _refund(
        session,
        locked,
        tradie,
        book,
        amount,
        reason=reason or default_reason,
        purpose=PURPOSE_CANCELLATION,
        now=now,
    )
    return amount


def refund_cancelled_by_tradie(session: DbSession, cancellation: Any) -> int:
    """The dashboard's cancel hook: the tradie cancelled, so everything paid goes back."""
    return refund_booking(
        session,
        cancellation.booking,
        cancellation.cancelled_at,
        by="tradie",
        reason=cancellation.reason,
    )


def _refund(
    session: DbSession,
    booking: Booking,
    tradie: Tradie,
    book: Ledger,
    amount_minor: int,
    *,
    reason: str,
    purpose: str,
    now: datetime,
) -> list[Payment]:
    """Refund `amount_minor` across the booking's charges, newest first, one Stripe refund and
    one refund record per charge touched."""
    assert tradie.stripe_account_id is not None
    charges = {p.id: p for p in book.payments}
    left = amount_minor
    rows: list[Payment] = []
    for payment_id in sorted(book.refundable_by_payment, reverse=True):
        available = book.refundable_by_payment[payment_id]
        if left <= 0 or available <= 0:
            continue
        charge = charges[payment_id]
        take = min(available, left)
        refunded_before = charge.amount_minor - available
        row = Payment(
            booking_id=booking.id,
            tradie_id=booking.tradie_id,
            kind=PaymentKind.REFUND,
            amount_minor=take,
            currency=charge.currency,
            application_fee_minor=_fee_share(charge, refunded_before, take),
            status=PaymentStatus.PENDING,
            stripe_payment_intent_id=charge.stripe_payment_intent_id,
            stripe_charge_id=charge.stripe_charge_id,
            reason=reason[:200],
            created_at=now,
        )
        session.add(row)
        session.flush()
        assert charge.stripe_payment_intent_id is not None
        stripe_refund = gateway.create_refund(
            tradie.stripe_account_id,
            payment_intent=charge.stripe_payment_intent_id,
            amount_minor=take,
            key=f"booking-{booking.id}-refund-{row.id}-{charge.stripe_payment_intent_id}-{take}",
            metadata={
                "booking_id": str(booking.id),
                "payment_id": str(row.id),
                "purpose": purpose,
            },
        )
        row.stripe_refund_id = stripe_refund.id
        _refund_status(session, booking, row, str(stripe_refund.status), purpose, now)
        book.refundable_by_payment[payment_id] -= take
        left -= take
        rows.append(row)
    return rows


REFUND_STATUSES = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "pending": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.PENDING,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELED,
}


def _refund_status(
    session: DbSession,
    booking: Booking,
    row: Payment,
    stripe_status: str,
    purpose: str,
    now: datetime,
) -> None:
    status = REFUND_STATUSES.get(stripe_status, PaymentStatus.PENDING)
    if row.status == status or row.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        return
    if row.status == PaymentStatus.SUCCEEDED and status == PaymentStatus.PENDING:
        return  # a late "pending" after "succeeded" changes nothing
    row.status = status
    if status == PaymentStatus.SUCCEEDED and purpose in (PURPOSE_DASHBOARD, PURPOSE_STRIPE):
        messages.refund_processed(session, booking, row, now)


def apply_refund(
    session: DbSession, booking: Booking, refund_obj: dict[str, Any], now: datetime
) -> str:
    """A refund Stripe told us about: update our record, or record one made outside PeepoPay."""
    refund_id = refund_obj["id"]
    purpose = (refund_obj.get("metadata") or {}).get("purpose") or PURPOSE_STRIPE
    row = session.scalar(sa.select(Payment).where(Payment.stripe_refund_id == refund_id))
    if row is None:
        pi_id = stripe_id(refund_obj.get("payment_intent"))
        charge = session.scalar(
            sa.select(Payment).where(
                Payment.booking_id == booking.id,
                Payment.kind.in_(CHARGE_KINDS),
                Payment.stripe_payment_intent_id == pi_id,
            )
        )
        if charge is None:
            return "ignored"
        row = Payment(
            booking_id=booking.id,
            tradie_id=booking.tradie_id,
            kind=PaymentKind.REFUND,
            amount_minor=int(refund_obj["amount"]),
            currency=str(refund_obj.get("currency") or charge.currency).upper(),
            application_fee_minor=_external_fee_refund(session, booking, charge),
            status=PaymentStatus.PENDING,
            stripe_payment_intent_id=pi_id,
            stripe_charge_id=stripe_id(refund_obj.get("charge")),
            stripe_refund_id=refund_id,
            reason="Refunded in Stripe",
            created_at=now,
        )
        session.add(row)
        session.flush()
    before = row.status
    _refund_status(session, booking, row, str(refund_obj.get("status")), purpose, now)
    return "refund_recorded" if before != row.status else "unchanged"


def _external_fee_refund(session: DbSession, booking: Booking, charge: Payment) -> int:
    """The platform fee a refund made outside PeepoPay gave back: whether it did is the
    refunder's choice, so ask Stripe what the charge's fee has returned so far."""
    tradie = tradie_of(session, booking)
    if not charge.stripe_charge_id or not tradie.stripe_account_id:
        return 0
    returned = gateway.application_fee_refunded(tradie.stripe_account_id, charge.stripe_charge_id)
    recorded = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.application_fee_minor), 0)).where(
            Payment.booking_id == booking.id,
            Payment.kind == PaymentKind.REFUND,
            Payment.stripe_payment_intent_id == charge.stripe_payment_intent_id,
            Payment.status.in_(PaymentStatus.REFUND_HOLDING),
        )
    )
    return max(returned - int(recorded or 0), 0)


# --------------------------------------------------------------------------- disputes


def dispute_opened(session: DbSession, booking: Booking, now: datetime) -> str:
    if booking.disputed:
        return "unchanged"
    booking.disputed = True
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor="stripe",
        action="payment.disputed",
        entity=booking,
    )
    messages.dispute_opened(session, booking, now)
    return "disputed"


# --------------------------------------------------------------------------- money views


@dataclass(frozen=True)
class MonthTotals:
    month: date
    currency: str
    deposits_minor: int = 0
    balances_minor: int = 0
    refunds_minor: int = 0
    fees_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.deposits_minor + self.balances_minor - self.refunds_minor


def monthly_totals(session: DbSession, tradie: Tradie, months: int = 12) -> list[MonthTotals]:
    """Deposits, balances, refunds and platform fees per month (the tradie's local months),
    newest first, from the payment records."""
    zone = ZoneInfo(tradie.timezone)
    rows: Iterable[Payment] = session.scalars(
        sa.select(Payment)
        .where(Payment.tradie_id == tradie.id)
        .where(
            sa.or_(
                sa.and_(Payment.kind.in_(CHARGE_KINDS), Payment.status == PaymentStatus.SUCCEEDED),
                sa.and_(
                    Payment.kind == PaymentKind.REFUND,
                    Payment.status.in_(PaymentStatus.REFUND_HOLDING),
                ),
            )
        )
    )
    totals: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        local = row.created_at.astimezone(zone)
        bucket = totals[(date(local.year, local.month, 1), row.currency)]
        if row.kind == PaymentKind.DEPOSIT:
            bucket["deposits_minor"] += row.amount_minor
            bucket["fees_minor"] += row.application_fee_minor
        elif row.kind == PaymentKind.BALANCE:
            bucket["balances_minor"] += row.amount_minor
            bucket["fees_minor"] += row.application_fee_minor
        else:
            bucket["refunds_minor"] += row.amount_minor
            bucket["fees_minor"] -= row.application_fee_minor
    ordered = sorted(totals.items(), key=lambda item: item[0], reverse=True)[:months]
    return [MonthTotals(month, currency, **values) for (month, currency), values in ordered]


def fee_percent() -> str:
    """The platform fee as people read it: 250 -> "2.5"."""
    whole, rest = divmod(fee_bps(), BPS // 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".")
