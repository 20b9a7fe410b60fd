"""The booking lifecycle: one table of transitions, walked pair by pair, and each operation
honouring it (a refused step changes nothing); the one place status is written."""

from __future__ import annotations

import itertools
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from peepopay.bookings import lifecycle
from peepopay.bookings.lifecycle import RANK, TRANSITIONS, TransitionRefused
from peepopay.models import AuditLog, Booking, Payment, PaymentKind, Status
from peepopay.payments.models import PaymentStatus
from tests.booking_helpers import service_id, widget_tradie

pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)
PAIRS = list(itertools.product(Status, Status))


def test_every_status_has_its_row_and_rank():
    assert set(TRANSITIONS) == set(Status) == set(RANK) == set(lifecycle.LABELS)


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_allowed_step_moves_forward(old, new):
    booking = Booking(status=old)
    allowed = new in TRANSITIONS[old]
    assert lifecycle.can_move(booking, new) is allowed
    if allowed:
        assert RANK[new] > RANK[old], "a step never moves a booking backwards"


def test_finished_bookings_go_nowhere():
    assert TRANSITIONS[Status.COMPLETED] == TRANSITIONS[Status.CANCELLED] == frozenset()
    assert TRANSITIONS[Status.NO_SHOW] == frozenset()


def test_a_no_show_ranks_as_finished_and_only_a_confirmed_booking_becomes_one():
    assert RANK[Status.NO_SHOW] == RANK[Status.COMPLETED]
    assert [old for old in Status if Status.NO_SHOW in TRANSITIONS[old]] == [Status.CONFIRMED]


@pytest.fixture
def booking_in(app, session):
    """A booking of a fresh tradie in the given status (a fresh time each call)."""
    tradie_id = widget_tradie(app)
    service = service_id(app, tradie_id)
    made = itertools.count()

    def make(status: Status) -> Booking:
        start = NOW + timedelta(days=2, hours=2 * next(made))
        booking = Booking(
            tradie_id=tradie_id,
            service_id=service,
            service_name="Leak repair",
            duration_minutes=60,
            price_minor=20000,
            deposit_minor=5000,
            currency="NZD",
            customer_name="Aroha Smith",
            customer_email="aroha@example.com",
            customer_phone="+64211234567",
            job_address="1 Queen Street",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            status=status,
            hold_expires_at=NOW + timedelta(minutes=15),
        )
        session.add(booking)
        session.flush()
        return booking

    return make


def statuses_and_audit(session, booking: Booking) -> tuple[str, list[str]]:
    session.flush()
    session.expire(booking)
    actions = session.scalars(
        sa.select(AuditLog.action).where(AuditLog.entity_id == str(booking.id))
    ).all()
    return booking.status, list(actions)


OPERATIONS = {
    # Once the job has started; before it, see test_a_job_is_not_completed_before_it_starts.
    Status.COMPLETED: lambda s, b: lifecycle.complete(
        s, b, b.starts_at + timedelta(minutes=10), actor="tradie:1"
    ),
    Status.CANCELLED: lambda s, b: lifecycle.cancel(s, b, NOW, by="tradie", actor="tradie:1"),
    Status.EXPIRED: lambda s, b: lifecycle.release(s, b, NOW, actor="customer"),
    # Only after the job's start; before it, see the test below.
    Status.NO_SHOW: lambda s, b: lifecycle.no_show(
        s, b, b.starts_at + timedelta(minutes=10), actor="tradie:1"
    ),
}


@pytest.mark.parametrize("new", list(OPERATIONS))
@pytest.mark.parametrize("old", list(Status))
def test_operations_take_allowed_steps_and_refuse_the_rest(session, booking_in, old, new):
    booking = booking_in(old)
    if new in TRANSITIONS[old]:
        OPERATIONS[new](session, booking)
        status, actions = statuses_and_audit(session, booking)
        assert status == new
        assert len(actions) == 1
    else:
        with pytest.raises(TransitionRefused, match="it can't be"):
            OPERATIONS[new](session, booking)
        assert statuses_and_audit(session, booking) == (old, [])


@pytest.mark.parametrize("old", list(Status))
def test_confirm_and_fail_follow_the_table(session, booking_in, old):
    booking = booking_in(old)
    outcome = lifecycle.confirm(session, booking, NOW, actor="stripe")
    expected = Status.CONFIRMED if Status.CONFIRMED in TRANSITIONS[old] else old
    assert (outcome == "confirmed") is (expected != old)
    assert statuses_and_audit(session, booking)[0] == expected

    other = booking_in(old)
    payment = Payment(
        booking_id=other.id,
        tradie_id=other.tradie_id,
        kind=PaymentKind.DEPOSIT,
        amount_minor=5000,
        currency="NZD",
        status=PaymentStatus.FAILED,
        failure_code="card_declined",
    )
    # While the hold is live the customer may retry in the same form: nothing changes.
    assert lifecycle.fail(session, other, payment, NOW) is False
    assert statuses_and_audit(session, other) == (old, [])
    # Once it has run out, a pending booking fails (and only a pending one).
    lapsed = NOW + timedelta(minutes=16)
    changed = lifecycle.fail(session, other, payment, lapsed)
    assert changed is (old == Status.PENDING_PAYMENT)
    expected = Status.PAYMENT_FAILED if changed else old
    assert statuses_and_audit(session, other)[0] == expected


def test_a_lapsed_hold_after_a_decline_fails_and_only_then_tells_the_customer(session, booking_in):
    from peepopay.notifications.models import OutboxMessage

    declined, untried = booking_in(Status.PENDING_PAYMENT), booking_in(Status.PENDING_PAYMENT)
    session.add(
        Payment(
            booking_id=declined.id,
            tradie_id=declined.tradie_id,
            kind=PaymentKind.DEPOSIT,
            amount_minor=5000,
            currency="NZD",
            status=PaymentStatus.FAILED,
            failure_code="card_declined",
            failure_message="Your card was declined.",
        )
    )
    session.flush()

    def failure_emails() -> list[int | None]:
        kinds = sa.select(OutboxMessage.booking_id).where(OutboxMessage.kind == "payment_failed")
        return list(session.scalars(kinds))

    assert lifecycle.expire_stale(session, NOW) == 0  # still held: they may retry
    assert failure_emails() == []
    assert lifecycle.expire_stale(session, NOW + timedelta(minutes=16)) == 2
    session.expire_all()
    assert (declined.status, untried.status) == (Status.PAYMENT_FAILED, Status.EXPIRED)
    assert failure_emails() == [declined.id]  # one email, for the one who tried and failed


@pytest.mark.parametrize(
    "before_start", [timedelta(hours=1), timedelta(seconds=1)], ids=["an hour", "a second"]
)
def test_no_show_only_after_the_start(session, booking_in, before_start):
    booking = booking_in(Status.CONFIRMED)
    with pytest.raises(TransitionRefused, match="has not started yet"):
        lifecycle.no_show(session, booking, booking.starts_at - before_start, actor="tradie:1")
    assert statuses_and_audit(session, booking) == (Status.CONFIRMED, [])
    # At the start itself, it may.
    lifecycle.no_show(session, booking, booking.starts_at, actor="tradie:1")
    assert statuses_and_audit(session, booking) == (Status.NO_SHOW, ["booking.marked_no_show"])


def test_a_no_show_frees_nothing_it_held_and_blocks_no_later_time(session, booking_in):
    """Not an active status, like completed: the overlap guarantee ignores it, and its own
    time is past by then, so nothing could be booked into it retroactively by the widget."""
    from peepopay.bookings.models import ACTIVE_STATUSES

    assert Status.NO_SHOW not in ACTIVE_STATUSES
    booking = booking_in(Status.CONFIRMED)
    lifecycle.no_show(session, booking, booking.starts_at, actor="tradie:1")
    later = booking_in(Status.CONFIRMED)
    later.starts_at, later.ends_at = booking.ends_at, booking.ends_at + timedelta(hours=1)
    session.flush()
    assert statuses_and_audit(session, later)[0] == Status.CONFIRMED


def test_a_lapsed_hold_whose_time_was_taken_is_not_confirmed(session, booking_in):
    lapsed = booking_in(Status.EXPIRED)
    taker = booking_in(Status.CONFIRMED)
    taker.starts_at, taker.ends_at = lapsed.starts_at, lapsed.ends_at
    session.flush()
    assert lifecycle.confirm(session, lapsed, NOW, actor="stripe") == "taken"
    assert statuses_and_audit(session, lapsed) == (Status.EXPIRED, [])


def test_moving_onto_a_taken_time_is_slot_taken(session, booking_in):
    first, second = booking_in(Status.CONFIRMED), booking_in(Status.CONFIRMED)
    with pytest.raises(lifecycle.SlotTaken):
        lifecycle.move(session, second, first.starts_at, first.ends_at, NOW, actor="customer")
    session.refresh(second)
    assert second.starts_at != first.starts_at


def test_only_the_lifecycle_writes_a_booking_status():
    """No `booking.status = ...` and no `status=Status.X` outside the lifecycle module (other
    models' statuses are PaymentStatus and OutboxStatus values)."""
    found = subprocess.run(
        [
            "git",
            "grep",
            "-n",
            "-E",
            r"booking\w*\.status = |\.status = Status\.|status=Status\.",
            "--",
            "peepopay",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert [line for line in found if not line.startswith("peepopay/bookings/lifecycle.py:")] == []
    assert any(line.startswith("peepopay/bookings/lifecycle.py:") for line in found)
