"""The tradie's job intake pages: questions per service (added, reordered, removed), booking by
arrival window, the postcodes served and the arrival windows."""

from __future__ import annotations

import html as htmllib
from datetime import time

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import ArrivalWindow, Service, ServiceQuestion, Tradie

pytestmark = pytest.mark.usefixtures("fast_passwords")


def first_service(app, tradie_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Service.id).where(Service.tradie_id == tradie_id))


def labels(app, service: int) -> list[str]:
    with app.app_context():
        return db.session.scalars(
            sa.select(ServiceQuestion.label)
            .where(ServiceQuestion.service_id == service)
            .order_by(ServiceQuestion.sort_order)
        ).all()


@pytest.mark.parametrize("htmx", [False, True])
def test_questions_are_added_reordered_and_removed(app, dash, tradie_id, htmx):
    service = first_service(app, tradie_id)
    url = f"/dashboard/services/{service}"
    page = dash.get(f"{url}/intake", htmx=htmx)
    assert page.status_code == 200
    assert ("<html" in page.get_data(as_text=True)) is not htmx
    for label, kind in (("Where is the leak?", "short_text"), ("Which floor?", "choice")):
        data = {"label": label, "kind": kind, "required": "y", "choices": "Ground\nUpstairs"}
        response = dash.post(f"{url}/questions", data, htmx=htmx)
        assert response.status_code == (200 if htmx else 303)
    assert labels(app, service) == ["Where is the leak?", "Which floor?"]
    with app.app_context():
        second = db.session.scalar(
            sa.select(ServiceQuestion).where(ServiceQuestion.label == "Which floor?")
        )
        second_id, choices = second.id, second.choices
    assert choices == ["Ground", "Upstairs"]
    dash.post(f"{url}/questions/{second_id}/move", {"direction": "up"}, htmx=htmx)
    assert labels(app, service) == ["Which floor?", "Where is the leak?"]
    dash.post(f"{url}/questions/{second_id}/delete", htmx=htmx)
    assert labels(app, service) == ["Where is the leak?"]


def test_a_choice_question_needs_choices_and_a_label(app, dash, tradie_id):
    service = first_service(app, tradie_id)
    url = f"/dashboard/services/{service}/questions"
    response = dash.post(url, {"label": "Which?", "kind": "choice", "choices": "Only"}, htmx=True)
    assert response.status_code == 422
    assert "Choices: give at least two" in htmllib.unescape(response.get_data(as_text=True))
    response = dash.post(url, {"label": "", "kind": "short_text"}, htmx=True)
    assert response.status_code == 422 and "Question is required." in response.get_data(True)
    assert labels(app, service) == []


def test_another_tradies_service_is_not_found(app, dash, other_dash, tradie_id):
    service = first_service(app, tradie_id)
    assert other_dash.get(f"/dashboard/services/{service}/intake").status_code == 404
    response = other_dash.post(f"/dashboard/services/{service}/questions", {"label": "x"})
    assert response.status_code == 404


def test_booking_mode_and_windows(app, dash, tradie_id):
    service = first_service(app, tradie_id)
    dash.post(f"/dashboard/services/{service}/booking-mode", {"by_window": "y"})
    response = dash.post(
        "/dashboard/arrival-windows", {"weekday": "0", "start": "08:00", "end": "10:00"}
    )
    assert response.status_code == 303
    overlap = dash.post(
        "/dashboard/arrival-windows", {"weekday": "0", "start": "09:00", "end": "11:00"}, htmx=True
    )
    assert overlap.status_code == 422 and "overlaps another" in overlap.get_data(as_text=True)
    dash.post("/dashboard/arrival-windows/jobs", {"jobs": "3"})
    with app.app_context():
        assert db.session.get(Service, service).by_arrival_window is True
        assert db.session.get(Tradie, tradie_id).jobs_per_window == 3
        windows = db.session.scalars(sa.select(ArrivalWindow)).all()
        assert [(w.weekday, w.start_local, w.end_local) for w in windows] == [
            (0, time(8), time(10))
        ]
        window_id = windows[0].id
    page = dash.get("/dashboard/service-area").get_data(as_text=True)
    assert "Monday" in page and "8:00" in page
    dash.post(f"/dashboard/arrival-windows/{window_id}/delete")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ArrivalWindow.id))) == 0


def test_service_area_is_checked_and_saved(app, dash, tradie_id):
    response = dash.post("/dashboard/service-area", {"area": "1010-1072, 12x"}, htmx=True)
    assert response.status_code == 422
    assert "“12x” is not a postcode" in htmllib.unescape(response.get_data(as_text=True))
    response = dash.post("/dashboard/service-area", {"area": "1010-1072\n 2000 "})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Tradie, tradie_id).service_area == "1010-1072, 2000"
