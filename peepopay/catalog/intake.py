"""What a tradie asks and where and when they work: a service's questions (ordered), booking
by arrival window, the postcodes they serve and their arrival windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import sqlalchemy as sa
from werkzeug.exceptions import NotFound

from peepopay import audit, postcodes
from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession
from peepopay.rules import FormError, actor, update_tradie
from peepopay.scheduling.models import ArrivalWindow, QuestionKind, Service, ServiceQuestion

KIND_LABELS = {
    QuestionKind.SHORT_TEXT: "Short text",
    QuestionKind.LONG_TEXT: "Long text",
    QuestionKind.YES_NO: "Yes or no",
    QuestionKind.CHOICE: "One choice of several",
    QuestionKind.NUMBER: "Number",
}
MAX_QUESTIONS = 20
MAX_WINDOWS_PER_DAY = 8


@dataclass(frozen=True)
class QuestionInput:
    label: str
    kind: str
    required: bool
    choices: str


def questions(session: DbSession, service: Service) -> list[ServiceQuestion]:
    return list(
        session.scalars(
            sa.select(ServiceQuestion)
            .where(ServiceQuestion.service_id == service.id)
            .order_by(ServiceQuestion.sort_order, ServiceQuestion.id)
        )
    )


def question_of(session: DbSession, service: Service, question_id: int) -> ServiceQuestion:
    """The service's own question, or 404: another service's looks like a missing one."""
    question = session.get(ServiceQuestion, question_id)
    if question is None or question.service_id != service.id:
        raise NotFound()
    return question


def _audit(
    session: DbSession, tradie: Tradie, action: str, entity: object, summary: dict[str, object]
) -> None:
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action=action,
        entity=entity,
        summary=summary,
    )


def add_question(
    session: DbSession, tradie: Tradie, service: Service, data: QuestionInput
) -> ServiceQuestion:
    """Add a question at the end; a choice question needs two options or more."""
    existing = questions(session, service)
    if len(existing) >= MAX_QUESTIONS:
        raise FormError("label", f"A service can ask at most {MAX_QUESTIONS} questions.")
    options = [line.strip() for line in data.choices.splitlines() if line.strip()]
    if data.kind == QuestionKind.CHOICE and len(options) < 2:
        raise FormError("choices", "Choices: give at least two, one a line.")
    question = ServiceQuestion(
        service_id=service.id,
        label=" ".join(data.label.split()),
        kind=data.kind,
        required=data.required,
        choices_text="\n".join(options) if data.kind == QuestionKind.CHOICE else "",
        sort_order=max((q.sort_order for q in existing), default=0) + 1,
    )
    session.add(question)
    session.flush()
    _audit(session, tradie, "question.added", question, {"label": question.label})
    return question


def remove_question(
    session: DbSession, tradie: Tradie, service: Service, question: ServiceQuestion
) -> None:
    """Stop asking it; answers given keep the question's text."""
    _audit(session, tradie, "question.removed", question, {"label": question.label})
    session.delete(question)


def move_question(
    session: DbSession, tradie: Tradie, service: Service, question: ServiceQuestion, up: bool
) -> None:
    rows = questions(session, service)
    index = rows.index(question)
    target = index - 1 if up else index + 1
    if 0 <= target < len(rows):
        rows[index], rows[target] = rows[target], rows[index]
        _audit(session, tradie, "question.moved", question, {"position": target + 1})
    for position, row in enumerate(rows, start=1):
        row.sort_order = position


def set_booking_mode(session: DbSession, tradie: Tradie, service: Service, by_window: bool) -> None:
    if service.by_arrival_window != by_window:
        service.by_arrival_window = by_window
        _audit(session, tradie, "service.booking_mode", service, {"by_window": by_window})


def set_service_area(session: DbSession, tradie: Tradie, text: str) -> None:
    """Save the postcodes served, refusing (FormError on `area`) an entry that is neither a
    postcode in the tradie's country nor a range of them."""
    try:
        postcodes.parse_area(text, tradie.country)
    except postcodes.AreaProblem as problem:
        raise FormError("area", f"Postcodes: {problem}") from None
    lines = [e.strip() for e in postcodes.SEPARATORS.split(text) if e.strip()]
    update_tradie(session, tradie, "tradie.service_area", {"service_area": ", ".join(lines)})


def set_jobs_per_window(session: DbSession, tradie: Tradie, jobs: int) -> None:
    if not 1 <= jobs <= 20:
        raise FormError("jobs", "Jobs per window must be between 1 and 20.")
    update_tradie(session, tradie, "tradie.jobs_per_window", {"jobs_per_window": jobs})


def windows(session: DbSession, tradie_id: int) -> list[ArrivalWindow]:
    return list(
        session.scalars(
            sa.select(ArrivalWindow)
            .where(ArrivalWindow.tradie_id == tradie_id)
            .order_by(ArrivalWindow.weekday, ArrivalWindow.start_local)
        )
    )


def add_window(
    session: DbSession, tradie: Tradie, weekday: int, start: time, end: time
) -> ArrivalWindow:
    """A window on a weekday; it may not overlap another of that day's."""
    if end <= start:
        raise FormError("end", "End must be after the start.")
    same_day = [w for w in windows(session, tradie.id) if w.weekday == weekday]
    if len(same_day) >= MAX_WINDOWS_PER_DAY:
        raise FormError("start", f"A day has at most {MAX_WINDOWS_PER_DAY} windows.")
    if any(w.start_local < end and start < w.end_local for w in same_day):
        raise FormError("start", "Start: that window overlaps another on the same day.")
    window = ArrivalWindow(tradie_id=tradie.id, weekday=weekday, start_local=start, end_local=end)
    session.add(window)
    session.flush()
    _audit(
        session,
        tradie,
        "window.added",
        window,
        {"weekday": weekday, "start": start.isoformat(), "end": end.isoformat()},
    )
    return window


def remove_window(session: DbSession, tradie: Tradie, window: ArrivalWindow) -> None:
    _audit(session, tradie, "window.removed", window, {"weekday": window.weekday})
    session.delete(window)
