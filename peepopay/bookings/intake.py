"""Job intake rules the widget and the API share: answers to a service's questions, and the
postcode against the tradie's service area."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from peepopay import phones, postcodes
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, BookingAnswer
from peepopay.db_setup import DbSession
from peepopay.inputs import text_problem
from peepopay.scheduling.models import QuestionKind, ServiceQuestion

SHORT_MAX = 200
LONG_MAX = 2000
NUMBER_LIMIT = Decimal(10) ** 9
YES = {"yes", "true", "1", "on"}
NO = {"no", "false", "0", "off"}
POSTCODE = "postcode"


def answer_field(question_id: int) -> str:
    """How an answer's problem is named: `answers.<question id>`."""
    return f"answers.{question_id}"


@dataclass(frozen=True)
class Answer:
    """One answer as it will be stored: the question's text then, and the answer as text."""

    question_id: int
    question: str
    kind: str
    answer: str


def questions_of(session: DbSession, service_id: int) -> list[ServiceQuestion]:
    return list(
        session.scalars(
            sa.select(ServiceQuestion)
            .where(ServiceQuestion.service_id == service_id)
            .order_by(ServiceQuestion.sort_order, ServiceQuestion.id)
        )
    )


def _text(value: Any) -> str | None:
    """An answer as text: missing is empty, a JSON number its text; None for an object."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return str(value).strip()
    return None


def _judge(question: ServiceQuestion, value: Any) -> tuple[str, str | None]:
    """(stored text, problem or None) for one question's raw answer."""
    label = question.label
    if question.kind == QuestionKind.YES_NO and isinstance(value, bool):
        return ("Yes" if value else "No"), None
    text = _text(value)
    if text is None:
        return "", f"“{label}” must be answered with text."
    if problem := text_problem(f"“{label}”", text):
        return "", problem
    if not text:
        return "", (f"“{label}” is required." if question.required else None)
    if question.kind in (QuestionKind.SHORT_TEXT, QuestionKind.LONG_TEXT):
        limit = SHORT_MAX if question.kind == QuestionKind.SHORT_TEXT else LONG_MAX
        if len(text) > limit:
            return "", f"“{label}” must be at most {limit} characters."
        return text, None
    if question.kind == QuestionKind.YES_NO:
        if text.lower() in YES | NO:
            return ("Yes" if text.lower() in YES else "No"), None
        return "", f"“{label}” must be yes or no."
    if question.kind == QuestionKind.CHOICE:
        if text in question.choices:
            return text, None
        return "", f"“{label}” must be one of: {', '.join(question.choices)}."
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        return "", f"“{label}” must be a number."
    return format(number.normalize(), "f"), None


def clean_answers(
    questions: list[ServiceQuestion], raw: object
) -> tuple[list[Answer], dict[str, list[str]]]:
    """The answers to store, and problems keyed `answers.<id>` (an id that is not one of
    the service's questions is a problem too; `answers` when they are not keyed at all)."""
    if raw is not None and not isinstance(raw, Mapping):
        return [], {"answers": ["answers must be an object of answers keyed by question id."]}
    raw = raw or {}
    errors: dict[str, list[str]] = {}
    known = {str(q.id) for q in questions}
    for key in raw:
        if str(key) not in known:
            errors[answer_field_text(key)] = [f"{key} is not a question of this service."]
    answers = []
    for question in questions:
        text, problem = _judge(question, raw.get(str(question.id)))
        if problem:
            errors[answer_field(question.id)] = [problem]
        elif text:
            answers.append(Answer(question.id, question.label, question.kind, text))
    return answers, errors


def answer_field_text(key: Any) -> str:
    shown = str(key)[:20]
    return f"answers.{shown}" if storable_key(shown) else "answers"


def storable_key(key: str) -> bool:
    return text_problem("", key) is None


def attach_answers(booking: Booking, answers: list[Answer]) -> None:
    booking.answers = [
        BookingAnswer(
            question_id=a.question_id,
            question=a.question,
            kind=a.kind,
            answer=a.answer,
            sort_order=position,
        )
        for position, a in enumerate(answers)
    ]


def answers_of(session: DbSession, booking_id: int) -> list[BookingAnswer]:
    return list(
        session.scalars(
            sa.select(BookingAnswer)
            .where(BookingAnswer.booking_id == booking_id)
            .order_by(BookingAnswer.sort_order, BookingAnswer.id)
        )
    )


def clean_postcode(tradie: Tradie, raw: Any) -> tuple[str | None, str | None]:
    """(the postcode to store, problem or None). Required, in the country's format and inside
    the area when the tradie set one; optional otherwise."""
    area = postcodes.area_of(tradie.service_area, tradie.country)
    text = raw.strip() if isinstance(raw, str) else ""
    if raw is not None and not isinstance(raw, str):
        return None, "postcode must be text, like " + postcodes.example(tradie.country) + "."
    if not text:
        return None, (None if area.is_open else "Postcode is required.")
    code = postcodes.normalise(text, tradie.country)
    if code is None:
        return None, f"Postcode must be a postcode, like {postcodes.example(tradie.country)}."
    if not area.covers(code):
        return code, outside_message(tradie)
    return code, None


def outside_message(tradie: Tradie) -> str:
    phone = phones.display(tradie.phone, tradie.country)
    contact = " or ".join(c for c in (phone, tradie.contact_email) if c)
    ask = f" Get in touch on {contact} and we'll see what we can do." if contact else ""
    return f"Sorry, {tradie.business_name} doesn't cover that postcode yet.{ask}"


def in_area(tradie: Tradie, raw: str) -> bool | None:
    """Whether the postcode is served: None when it is not a postcode at all."""
    code = postcodes.normalise(raw, tradie.country)
    if code is None:
        return None
    return postcodes.area_of(tradie.service_area, tradie.country).covers(code)


def area_json(tradie: Tradie) -> dict[str, Any] | None:
    """The service area as the public config shows it; None when open."""
    area = postcodes.area_of(tradie.service_area, tradie.country)
    if area.is_open:
        return None
    return {
        "postcodes": sorted(area.codes),
        "ranges": [{"from": low, "to": high} for low, high in area.ranges],
    }
