"""A short per-tradie booking number: given on insert, race-free (see test_concurrency.py),
and given to bookings made before it existed by migration 0013."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from peepopay.extensions import db
from peepopay.models import Booking, Tradie
from tests.fixtures.factories import make_booking, make_tradie

pytestmark = pytest.mark.both_databases


def references(app) -> dict[int, list[int]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Booking.tradie_id, Booking.reference).order_by(Booking.id)
        ).all()
        db.session.remove()
    found: dict[int, list[int]] = {}
    for tradie_id, reference in rows:
        found.setdefault(tradie_id, []).append(reference)
    return found


def counters(app) -> dict[int, int]:
    with app.app_context():
        rows = db.session.execute(sa.select(Tradie.id, Tradie.last_booking_reference)).all()
        db.session.remove()
    return dict(rows)


def test_each_tradie_numbers_its_own_bookings_from_one(app):
    first = make_tradie(app, slug="first", email="first@example.com")
    second = make_tradie(app, slug="second", email="second@example.com")
    for n in range(1, 4):
        make_booking(app, first, n)
    make_booking(app, second, 1)
    make_booking(app, first, 4)
    assert references(app) == {first: [1, 2, 3, 4], second: [1]}
    assert counters(app) == {first: 4, second: 1}


def test_migration_numbers_existing_bookings_per_tradie_in_the_order_made(app):
    first = make_tradie(app, slug="first", email="first@example.com")
    second = make_tradie(app, slug="second", email="second@example.com")
    for n, owner in enumerate([first, second, first, first, second], start=1):
        make_booking(app, owner, n)
    with app.app_context():
        db.engine.dispose()
        try:
            downgrade(revision="0007")
            upgrade(revision="0013")
        finally:
            upgrade()  # whatever happened, leave the schema at head for the next test
            db.engine.dispose()
    assert references(app) == {first: [1, 2, 3], second: [1, 2]}
    assert counters(app) == {first: 3, second: 2}
    make_booking(app, second, 6)  # the counter carries on after the numbered ones
    assert references(app)[second] == [1, 2, 3]
