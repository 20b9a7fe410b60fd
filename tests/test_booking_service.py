"""create_held_booking and expire_holds: the rules both the widget and the API rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from peepopay.bookings import services
from peepopay.bookings.models import ACTIVE_STATUSES
from peepopay.bookings.services import Customer, InvalidBooking, SlotTaken
from peepopay.models import AuditLog, AvailabilityRule, Booking, DepositType, Status, Tradie
from peepopay.ops import metrics
from peepopay.scheduling import slots
from peepopay.tasks import periodic_duties
from tests.booking_helpers import CUSTOMER, ZONE, add_service, service_id, widget_tradie

# Monday 2 March 2026, 13:00 in Auckland; the jobs below are on Wednesday 4 March.
NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
DAY = date(2026, 3, 4)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


@pytest.fixture
def kiwi(app):
    tradie_id = widget_tradie(app)
    return tradie_id, service_id(app, tradie_id)


def hold(session, tradie_id, service, start, now=NOW, **details):
    tradie = session.get(Tradie, tradie_id)
    return services.create_held_booking(
        session,
        tradie=tradie,
        service_id=service,
        start_utc=start,
        customer=Customer(**{**CUSTOMER, **details}),
        now=now,
    )


def test_holds_an_offered_slot_with_a_snapshot(app, session, kiwi):
    tradie_id, service = kiwi
    before = metrics.bookings_created._value.get()
    booking = hold(session, tradie_id, service, local(DAY, 10), notes="  Gate code 1234 ")
    session.commit()
    stored = session.get(Booking, booking.id)
    assert stored.status == Status.PENDING_PAYMENT
    assert stored.starts_at == local(DAY, 10)
    assert stored.ends_at == local(DAY, 11)
    assert stored.hold_expires_at == NOW + timedelta(minutes=15)
    assert (stored.service_name, stored.duration_minutes) == ("Leak repair", 60)
    assert (stored.price_minor, stored.deposit_minor, stored.currency) == (20000, 5000, "NZD")
    assert stored.customer_phone == "+64211234567"
    assert stored.customer_email == "aroha@example.com"
    assert stored.notes == "Gate code 1234"
    assert metrics.bookings_created._value.get() == before + 1
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.entity_id == str(booking.id)))
    assert (entry.actor, entry.action, entry.entity_type) == ("customer", "booking.held", "booking")


def test_percentage_deposit_and_hold_minutes_come_from_the_server(app, session, kiwi):
    tradie_id, _ = kiwi
    service = add_service(
        app,
        tradie_id,
        duration_minutes=90,
        price_minor=24000,
        deposit_type=DepositType.PERCENTAGE,
        deposit_value=2500,
    )
    session.get(Tradie, tradie_id).hold_minutes = 20
    booking = hold(session, tradie_id, service, local(DAY, 13))
    assert booking.deposit_minor == 6000
    assert booking.ends_at - booking.starts_at == timedelta(minutes=90)
    assert booking.hold_expires_at == NOW + timedelta(minutes=20)


def test_every_field_error_is_reported_at_once(app, session, kiwi):
    tradie_id, service = kiwi
    with pytest.raises(InvalidBooking) as error:
        hold(
            session,
            tradie_id,
            service,
            local(DAY, 10),
            name=" ",
            email="not-an-email",
            phone="12",
            address="",
            notes="x" * 2001,
        )
    errors = error.value.errors
    assert set(errors) == {"name", "email", "phone", "address", "notes"}
    assert errors["name"] == ["Name is required."]
    assert "Email" in errors["email"][0]
    assert errors["phone"][0].startswith("Phone must be a valid phone number")
    assert errors["address"] == ["Job address is required."]
    assert session.scalar(sa.select(sa.func.count(Booking.id))) == 0


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("021 123 4567", "+64211234567"),
        ("+64 9 555 0000", "+6495550000"),
        ("09-555 0000", "+6495550000"),
    ],
)
def test_phone_numbers_are_parsed_for_the_tradies_country(app, session, kiwi, phone, stored):
    tradie_id, service = kiwi
    assert hold(session, tradie_id, service, local(DAY, 10), phone=phone).customer_phone == stored


def test_phone_of_another_country_uses_that_country(app, session):
    tradie_id = widget_tradie(app, country="AU", timezone="Australia/Sydney", currency="AUD")
    service = service_id(app, tradie_id)
    start = datetime.combine(DAY, time(10), ZoneInfo("Australia/Sydney")).astimezone(UTC)
    booking = hold(session, tradie_id, service, start, phone="0412 345 678")
    assert (booking.customer_phone, booking.currency) == ("+61412345678", "AUD")


def test_unknown_archived_or_foreign_service_names_service_id(app, session, kiwi):
    tradie_id, _ = kiwi
    other = widget_tradie(app, email="other@example.com", slug="other")
    foreign = service_id(app, other)
    archived = add_service(app, tradie_id, archived=True)
    for candidate in (999999, "abc", None, foreign, archived):
        with pytest.raises(InvalidBooking) as error:
            hold(session, tradie_id, candidate, local(DAY, 10))
        assert list(error.value.errors) == ["serviceId"]
        assert "serviceId" in error.value.errors["serviceId"][0]


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(local(DAY, 10, 10), id="off-grid"),
        pytest.param(local(DAY, 7), id="before-hours"),
        pytest.param(local(DAY, 16, 30), id="runs-past-hours"),
        pytest.param(NOW + timedelta(minutes=60), id="inside-minimum-notice"),
        pytest.param(local(DAY + timedelta(days=61), 10), id="beyond-horizon"),
        pytest.param(local(date(2026, 3, 1), 10), id="in-the-past"),
    ],
)
def test_a_time_that_is_not_offered_is_refused(app, session, kiwi, start):
    tradie_id, service = kiwi
    with pytest.raises(InvalidBooking) as error:
        hold(session, tradie_id, service, start)
    assert list(error.value.errors) == ["start"]


def test_naive_or_missing_start_is_a_field_error(app, session, kiwi):
    tradie_id, service = kiwi
    with pytest.raises(InvalidBooking) as error:
        hold(session, tradie_id, service, datetime(2026, 3, 4, 10))
    assert "UTC offset" in error.value.errors["start"][0]
    with pytest.raises(InvalidBooking) as error:
        hold(session, tradie_id, service, None)
    assert "start is required" in error.value.errors["start"][0]


def test_blocked_day_is_not_offered(app, session, kiwi):
    from peepopay.models import BlockedPeriod

    tradie_id, service = kiwi
    session.add(BlockedPeriod(tradie_id=tradie_id, start_date=DAY, end_date=DAY))
    session.commit()
    with pytest.raises(InvalidBooking):
        hold(session, tradie_id, service, local(DAY, 10))


@pytest.mark.both_databases
def test_taken_slot_answers_with_the_next_free_ones(app, session, kiwi):
    tradie_id, service = kiwi
    hold(session, tradie_id, service, local(DAY, 10))
    session.commit()
    with pytest.raises(SlotTaken) as taken:
        hold(session, tradie_id, service, local(DAY, 10), email="second@example.com")
    # 10:00–11:00 plus a 30-minute buffer each side: 11:30 is the first start that fits.
    assert [s.starts_at_utc for s in taken.value.next_free_slots] == [
        local(DAY, 11, 30),
        local(DAY, 12),
        local(DAY, 12, 30),
    ]
    assert "just taken" in str(taken.value)


@pytest.mark.both_databases
def test_overlap_with_another_duration_is_taken(app, session, kiwi):
    tradie_id, service = kiwi
    long_job = add_service(app, tradie_id, duration_minutes=180)
    hold(session, tradie_id, long_job, local(DAY, 9))
    session.commit()
    # 09:00–12:00 with 30 minutes of buffer each side.
    for start in (local(DAY, 8), local(DAY, 9), local(DAY, 10, 30), local(DAY, 12)):
        with pytest.raises(SlotTaken):
            hold(session, tradie_id, service, start)
    assert hold(session, tradie_id, service, local(DAY, 12, 30)).starts_at == local(DAY, 12, 30)


@pytest.mark.both_databases
def test_expired_hold_frees_the_slot_at_once(app, session, kiwi):
    tradie_id, service = kiwi
    first = hold(session, tradie_id, service, local(DAY, 10))
    session.commit()
    later = NOW + timedelta(minutes=15)
    second = hold(session, tradie_id, service, local(DAY, 10), now=later, email="b@example.com")
    session.commit()
    session.expire_all()
    assert session.get(Booking, first.id).status == Status.EXPIRED
    assert session.get(Booking, second.id).status == Status.PENDING_PAYMENT


@pytest.mark.both_databases
def test_live_hold_still_blocks_a_minute_before_it_expires(app, session, kiwi):
    tradie_id, service = kiwi
    hold(session, tradie_id, service, local(DAY, 10))
    session.commit()
    with pytest.raises(SlotTaken):
        hold(session, tradie_id, service, local(DAY, 10), now=NOW + timedelta(minutes=14))


@pytest.mark.both_databases
def test_the_database_guarantee_catches_what_the_check_missed(app, session, kiwi, monkeypatch):
    """A racing insert slips past the slot check; the overlap guarantee turns it into a 409."""
    tradie_id, service = kiwi
    first = hold(session, tradie_id, service, local(DAY, 10))
    session.commit()

    def blind(session, tradie, service, start_utc, now):
        return slots.Slot(start_utc, start_utc + timedelta(hours=1), start_utc, True)

    monkeypatch.setattr(services, "offered_slot", blind)
    with pytest.raises(SlotTaken) as taken:
        hold(session, tradie_id, service, local(DAY, 10, 30), email="racer@example.com")
    assert taken.value.next_free_slots  # the transaction stayed usable after the savepoint
    session.commit()
    active = session.scalars(sa.select(Booking).where(Booking.status.in_(ACTIVE_STATUSES))).all()
    assert [b.id for b in active] == [first.id]


@pytest.mark.both_databases
def test_expire_holds_marks_only_stale_pending_bookings(app, session, kiwi):
    tradie_id, service = kiwi
    stale = hold(session, tradie_id, service, local(DAY, 9))
    fresh = hold(session, tradie_id, service, local(DAY, 13), now=NOW + timedelta(minutes=10))
    confirmed = hold(session, tradie_id, service, local(DAY, 15))
    confirmed.status = Status.CONFIRMED
    session.commit()
    assert services.expire_holds(session, NOW + timedelta(minutes=16)) == 1
    session.commit()
    session.expire_all()
    assert session.get(Booking, stale.id).status == Status.EXPIRED
    assert session.get(Booking, fresh.id).status == Status.PENDING_PAYMENT
    assert session.get(Booking, confirmed.id).status == Status.CONFIRMED


def test_periodic_duties_expire_holds(app, session, kiwi):
    tradie_id, service = kiwi
    booking = hold(session, tradie_id, service, local(DAY, 9))
    session.commit()
    periodic_duties(session, NOW + timedelta(hours=1))
    session.expire_all()
    assert session.get(Booking, booking.id).status == Status.EXPIRED


@pytest.mark.both_databases
def test_fall_back_repeated_time_is_bookable_once(app, session, kiwi):
    """Sunday 5 April 2026, Auckland: 03:00 NZDT becomes 02:00 NZST; 02:30 happens twice."""
    tradie_id, service = kiwi
    session.add(
        AvailabilityRule(tradie_id=tradie_id, weekday=6, start_local=time(1), end_local=time(5))
    )
    session.commit()
    now = datetime(2026, 4, 1, tzinfo=UTC)
    first = datetime(2026, 4, 5, 2, 30, tzinfo=ZONE)  # fold=0: NZDT, +13:00
    second = datetime(2026, 4, 5, 2, 30, fold=1, tzinfo=ZONE)  # NZST, +12:00
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    with pytest.raises(InvalidBooking):
        hold(session, tradie_id, service, second.astimezone(UTC), now=now)
    booking = hold(session, tradie_id, service, first.astimezone(UTC), now=now)
    assert booking.starts_at == datetime(2026, 4, 4, 13, 30, tzinfo=UTC)


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "now",
    [
        NOW,
        NOW + timedelta(hours=20, minutes=15),  # the notice cut falls inside the day's hours
        datetime(2026, 9, 25, 22, tzinfo=UTC),  # spring forward is two local days ahead
        datetime(2026, 4, 3, 23, tzinfo=UTC),  # fall back is two local days ahead
    ],
)
def test_fast_availability_matches_the_slot_engine(app, session, kiwi, now):
    """The hot path (pre-built statements, memoised engine) answers exactly as the engine fed
    by scheduling.services, busy times, buffers, blocks, notice and DST included."""
    from peepopay.models import BlockedPeriod, Service
    from peepopay.scheduling import services as scheduling
    from peepopay.widget import availability as fast

    tradie_id, service_id_ = kiwi
    session.add(
        AvailabilityRule(tradie_id=tradie_id, weekday=6, start_local=time(1), end_local=time(4))
    )
    today = now.astimezone(ZONE).date()
    session.add(
        BlockedPeriod(
            tradie_id=tradie_id,
            start_date=today + timedelta(days=3),
            end_date=today + timedelta(days=3),
        )
    )
    session.commit()
    hold(session, tradie_id, service_id_, local(today + timedelta(days=1), 10), now=now)
    session.commit()
    tradie = session.get(Tradie, tradie_id)
    service = session.get(Service, service_id_)
    conn = session.connection()
    assert fast.find_offer(conn, tradie.slug, "nope", today) == (True, None)
    assert fast.find_offer(conn, "nobody", service_id_, today) == (False, None)
    for offset in range(-1, 6):
        day = today + timedelta(days=offset)
        exists, offer = fast.find_offer(conn, tradie.slug, str(service_id_), day)
        assert exists and offer.rules == scheduling.rules_for(tradie, service)
        assert set(offer.weekly) == set(scheduling.weekly_rules(session, tradie_id))
        for _ in range(2):  # the second answer comes from the memo
            expected = scheduling.day_slots(session, tradie, service, day, now)
            assert fast.day_slots(conn, offer, day, now) == expected, day
