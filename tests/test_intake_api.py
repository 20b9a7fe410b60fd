"""Job intake in the public API: questions in the config, answers and the postcode in a booking,
each checked against docs/openapi.yaml."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking, BookingAnswer, QuestionKind, ServiceQuestion, Tradie
from tests.booking_helpers import at, booking_body, local_day
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_api import BASE, assert_public, conforms


@pytest.fixture
def kiwi(app, stripe_live):
    """A tradie whose Stripe account (in the emulator) can take deposits, and its service."""
    from tests.booking_helpers import service_id

    tradie_id = payments_tradie(app, stripe_live)
    return tradie_id, service_id(app, tradie_id)


BOOK = "/api/widget/{slug}/book"


def add_questions(app, service: int) -> dict[str, int]:
    """Five questions of every kind on the service; returns their ids by kind."""
    specs = [
        ("Where is the leak?", QuestionKind.SHORT_TEXT, True, ""),
        ("Anything else?", QuestionKind.LONG_TEXT, False, ""),
        ("Is the water off?", QuestionKind.YES_NO, True, ""),
        ("Which floor?", QuestionKind.CHOICE, True, "Ground\nUpstairs"),
        ("How many taps?", QuestionKind.NUMBER, False, ""),
    ]
    ids = {}
    with app.app_context():
        for position, (label, kind, required, choices) in enumerate(specs):
            question = ServiceQuestion(
                service_id=service,
                label=label,
                kind=kind,
                required=required,
                choices_text=choices,
                sort_order=position,
            )
            db.session.add(question)
            db.session.flush()
            ids[kind.value] = question.id
        db.session.commit()
    return ids


def set_area(app, tradie_id: int, area: str) -> None:
    with app.app_context():
        db.session.get(Tradie, tradie_id).service_area = area
        db.session.commit()


def good_answers(ids: dict[str, int]) -> dict[str, object]:
    return {
        str(ids["short_text"]): "Under the kitchen sink",
        str(ids["yes_no"]): True,
        str(ids["choice"]): "Upstairs",
        str(ids["number"]): 3,
    }


def test_config_lists_questions_and_area(app, client, kiwi):
    tradie_id, service = kiwi
    ids = add_questions(app, service)
    set_area(app, tradie_id, "1010-1072, 2000")
    response = client.get(f"{BASE}/config")
    assert_public(response)
    body = conforms(response, "/api/widget/{slug}/config")
    assert body["serviceArea"] == {"postcodes": ["2000"], "ranges": [{"from": 1010, "to": 1072}]}
    questions = body["services"][0]["questions"]
    assert [q["id"] for q in questions] == list(ids.values())
    assert questions[3] == {
        "id": ids["choice"],
        "label": "Which floor?",
        "type": "choice",
        "required": True,
        "choices": ["Ground", "Upstairs"],
    }
    assert "choices" not in questions[0]


def test_book_with_answers_and_postcode_stores_them(app, client, kiwi):
    tradie_id, service = kiwi
    ids = add_questions(app, service)
    set_area(app, tradie_id, "1010-1072")
    body = booking_body(service, at(local_day(), 10))
    body["answers"] = good_answers(ids)
    body["postcode"] = " 1024 "
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 201, response.get_json()
    booking_id = conforms(response, BOOK, "post")["bookingId"]
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.postcode == "1024"
        stored = [(a.question_id, a.question, a.answer) for a in booking.answers]
    assert stored == [
        (ids["short_text"], "Where is the leak?", "Under the kitchen sink"),
        (ids["yes_no"], "Is the water off?", "Yes"),
        (ids["choice"], "Which floor?", "Upstairs"),
        (ids["number"], "How many taps?", "3"),
    ]
    # The answer keeps the question as asked, even after the tradie rewords it.
    with app.app_context():
        db.session.get(ServiceQuestion, ids["short_text"]).label = "Where?"
        db.session.commit()
        answer = db.session.scalar(
            sa.select(BookingAnswer).where(BookingAnswer.question_id == ids["short_text"])
        )
        assert answer.question == "Where is the leak?"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"short_text": None}, "short_text"),
        ({"short_text": "x" * 201}, "short_text"),
        ({"yes_no": "maybe"}, "yes_no"),
        ({"choice": "Roof"}, "choice"),
        ({"number": "many"}, "number"),
        ({"number": "NaN"}, "number"),
        ({"long_text": {"nested": 1}}, "long_text"),
    ],
)
def test_a_missing_or_invalid_answer_is_a_422_naming_it(app, client, kiwi, change, named):
    _, service = kiwi
    ids = add_questions(app, service)
    answers = good_answers(ids)
    for kind, value in change.items():
        if value is None:
            answers.pop(str(ids[kind]))
        else:
            answers[str(ids[kind])] = value
    body = booking_body(service, at(local_day(), 10))
    body["answers"] = answers
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 422
    assert_public(response)
    errors = conforms(response, BOOK, "post")["errors"]
    assert set(errors) == {f"answers.{ids[named]}"}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_unknown_question_and_answers_not_an_object(client, kiwi):
    _, service = kiwi
    body = booking_body(service, at(local_day(), 10))
    body["answers"] = {"999999": "hello"}
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 422
    assert set(conforms(response, BOOK, "post")["errors"]) == {"answers.999999"}
    body["answers"] = ["not", "an", "object"]
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 422
    assert set(conforms(response, BOOK, "post")["errors"]) == {"answers"}


@pytest.mark.parametrize(
    ("postcode", "message"),
    [
        (None, "Postcode is required."),
        ("12", "Postcode must be a postcode"),
        ("2000", "doesn't cover that postcode"),
        (1024, "postcode must be text"),
    ],
)
def test_postcode_outside_the_area_is_a_422_naming_it(app, client, kiwi, postcode, message):
    tradie_id, service = kiwi
    set_area(app, tradie_id, "1010-1072\n0600")
    body = booking_body(service, at(local_day(), 10))
    if postcode is not None:
        body["postcode"] = postcode
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 422
    errors = conforms(response, BOOK, "post")["errors"]
    assert set(errors) == {"postcode"}
    assert message in errors["postcode"][0]
    if postcode == "2000":
        # Kindly, with the way to reach the tradie.
        assert "09 555 0000" in errors["postcode"][0]  # as people there write it
        assert "jobs@kiwi.example" in errors["postcode"][0]


def test_open_area_takes_any_postcode_or_none(app, client, kiwi):
    _, service = kiwi
    body = booking_body(service, at(local_day(), 10))
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 201
    body = booking_body(service, at(local_day(), 13), email="b@example.com", phone="021 765 4321")
    body["postcode"] = "9016"
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 201
    with app.app_context():
        codes = db.session.scalars(sa.select(Booking.postcode).order_by(Booking.id)).all()
    assert codes == [None, "9016"]
