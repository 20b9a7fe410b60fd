"""Availability page: weekly hours, copy to weekdays, blocked dates, booking rules, slot preview."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import AuditLog, AvailabilityRule, BlockedPeriod, Service, Tradie
from peepopay.scheduling.services import day_slots

pytestmark = pytest.mark.usefixtures("fast_passwords", "dash_now")


def ranges(app, tradie_id):
    """{weekday: [(start, end), ...]} as "HH:MM" strings."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AvailabilityRule)
            .where(AvailabilityRule.tradie_id == tradie_id)
            .order_by(AvailabilityRule.weekday, AvailabilityRule.start_local)
        ).all()
        week: dict[int, list[tuple[str, str]]] = {}
        for r in rows:
            week.setdefault(r.weekday, []).append(
                (f"{r.start_local:%H:%M}", f"{r.end_local:%H:%M}")
            )
        return week


def actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()


def field_block(html, name):
    match = re.search(rf'<div class="field[^"]*" id="field-{name}">.*?</div>', html, re.S)
    assert match, f"no {name} field in the response"
    return htmllib.unescape(match.group(0))


def preview_days(html):
    """{"Tuesday 8 January": ["11:00 am", "~11:30 am" (taken), ...]} from the rendered preview."""
    days = {}
    for title, body in re.findall(r"<h3>([^<]+)</h3>\s*(.*?)(?=<h3>|</section>)", html, re.S):
        days[title] = [
            ("~" if "taken" in cls else "") + text
            for cls, text in re.findall(r'<li class="slot([^"]*)">([^<]+)', body)
        ]
    return days


@pytest.mark.parametrize("htmx", [False, True])
def test_page_shows_hours_rules_and_seven_days_of_slots(dash, htmx):
    response = dash.get("/dashboard/availability", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert "Pacific/Auckland" in html
    assert html.count("8:00 am – 5:00 pm") == 7
    assert 'name="min_notice_minutes"' in html and 'value="120"' in html
    days = preview_days(html)
    assert list(days) == [
        "Tuesday 8 January",
        "Wednesday 9 January",
        "Thursday 10 January",
        "Friday 11 January",
        "Saturday 12 January",
        "Sunday 13 January",
        "Monday 14 January",
    ]
    # 09:00 now plus two hours' notice: the first offer today is 11:00, the last 4 pm.
    assert days["Tuesday 8 January"][0] == "11:00 am"
    assert days["Tuesday 8 January"][-1] == "4:00 pm"


def test_preview_is_exactly_what_the_slot_engine_offers(app, dash, tradie_id, add_booking):
    # A job Wednesday 10:00–11:00 local (21:00 UTC the day before) takes nearby slots.
    add_booking(starts_at=datetime(2030, 1, 8, 21, 0, tzinfo=UTC))
    html = dash.get("/dashboard/availability/preview", htmx=True).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="slot-preview"')
    days = preview_days(html)
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        service = db.session.scalar(sa.select(Service).where(Service.tradie_id == tradie_id))
        now = datetime(2030, 1, 7, 20, 0, tzinfo=UTC)
        for offset, title in enumerate(days):
            slots = day_slots(
                db.session, tradie, service, date(2030, 1, 8) + timedelta(offset), now
            )
            expected = [
                ("" if s.available else "~")
                + s.local_start.strftime("%-I:%M %p").replace("AM", "am").replace("PM", "pm")
                for s in slots
            ]
            assert days[title] == (expected if any(s.available for s in slots) else []), title
    assert "~10:00 am" in days["Wednesday 9 January"]
    assert "9:00 am" not in days["Wednesday 9 January"]  # buffer of 30 minutes before the job
    assert "~9:00 am" in days["Wednesday 9 January"]


def test_preview_for_a_chosen_service(app, dash, tradie_id):
    with app.app_context():
        long_job = Service(
            tradie_id=tradie_id, name="Repipe", duration_minutes=480, deposit_value=100
        )
        db.session.add(long_job)
        db.session.commit()
        long_id = long_job.id
    response = dash.get(f"/dashboard/availability/preview?service_id={long_id}", htmx=True)
    html = response.get_data(as_text=True)
    assert "for Repipe (480 min)" in html
    assert f'<option value="{long_id}" selected>' in html
    # An eight-hour job fits 08:00–17:00 only at 8:00, 8:30 and 9:00.
    assert preview_days(html)["Wednesday 9 January"] == ["8:00 am", "8:30 am", "9:00 am"]
    # Not the tradie's service: falls back to the first one.
    html = dash.get("/dashboard/availability/preview?service_id=99999").get_data(as_text=True)
    assert "for Leak repair (60 min)" in html and "<html" in html


def test_add_a_second_range_to_a_day(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/availability/hours", {"weekday": "0", "start": "18:00", "end": "20:30"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/availability#hours"
    assert ranges(app, tradie_id)[0] == [("08:00", "17:00"), ("18:00", "20:30")]
    assert actions(app)[-1] == "availability.range_added"


def test_add_with_htmx_answers_the_section_and_refreshes_the_preview(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/availability/hours",
        {"weekday": "6", "start": "18:00", "end": "02:00"},
        htmx=True,
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "slots-changed"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="hours"')
    assert "6:00 pm – 2:00 am (next day)" in html
    assert "Working hours added." in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"start": ""}, "start", "Start is required."),
        ({"end": ""}, "end", "End is required."),
        ({"start": "25:00"}, "start", "Start: Not a valid time value."),
        ({"weekday": "9"}, "weekday", "Day: Not a valid choice."),
        ({"start": "16:00", "end": "18:00"}, "start", "overlap Monday 8:00 am – 5:00 pm"),
        # Sunday night past midnight overlaps Monday morning.
        ({"weekday": "6", "start": "22:00", "end": "09:00"}, "start", "overlap Monday"),
    ],
)
def test_add_range_refuses_bad_input_naming_the_field(app, dash, tradie_id, data, field, message):
    for htmx in (False, True):
        response = dash.post(
            "/dashboard/availability/hours",
            {"weekday": "0", "start": "18:00", "end": "20:00", **data},
            htmx=htmx,
        )
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert ("<html" in html) is not htmx
        assert "HX-Trigger" not in response.headers
        assert message in field_block(html, field)
    assert len(ranges(app, tradie_id)[0]) == 1


def test_remove_a_range(app, dash, tradie_id):
    with app.app_context():
        rule_id = db.session.scalar(
            sa.select(AvailabilityRule.id).where(AvailabilityRule.weekday == 2)
        )
    response = dash.post(f"/dashboard/availability/hours/{rule_id}/delete", htmx=True)
    assert response.status_code == 200
    assert "Closed" in response.get_data(as_text=True)
    assert 2 not in ranges(app, tradie_id)
    assert actions(app)[-1] == "availability.range_removed"
    assert dash.post(f"/dashboard/availability/hours/{rule_id}/delete").status_code == 404
    with app.app_context():
        other = db.session.scalar(
            sa.select(AvailabilityRule.id).where(AvailabilityRule.weekday == 4)
        )
    response = dash.post(f"/dashboard/availability/hours/{other}/delete")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/availability#hours"
    assert 4 not in ranges(app, tradie_id)
    assert "Working hours removed." in dash.get("/dashboard/availability").get_data(as_text=True)


def test_copy_a_day_to_all_weekdays(app, dash, tradie_id):
    with app.app_context():
        db.session.execute(sa.delete(AvailabilityRule).where(AvailabilityRule.weekday == 3))
        db.session.add_all(
            [
                AvailabilityRule(
                    tradie_id=tradie_id, weekday=3, start_local=time(7), end_local=time(12)
                ),
                AvailabilityRule(
                    tradie_id=tradie_id, weekday=3, start_local=time(13), end_local=time(18)
                ),
            ]
        )
        db.session.commit()
    response = dash.post("/dashboard/availability/hours/copy", {"source": "3"})
    assert response.status_code == 303
    week = ranges(app, tradie_id)
    for day in range(5):
        assert week[day] == [("07:00", "12:00"), ("13:00", "18:00")], day
    assert week[5] == week[6] == [("08:00", "17:00")]  # the weekend stays
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()))
        assert entry.action == "availability.copied"
        assert entry.summary == {
            "from": "Thursday",
            "to": ["Monday", "Tuesday", "Wednesday", "Friday"],
        }
    html = dash.post("/dashboard/availability/hours/copy", {"source": "0"}, htmx=True).get_data(
        as_text=True
    )
    assert "Copied Monday's hours to Tuesday, Wednesday, Thursday, Friday." in htmllib.unescape(
        html
    )


@pytest.mark.parametrize("htmx", [False, True])
def test_copy_refuses_an_unknown_day(dash, htmx):
    response = dash.post("/dashboard/availability/hours/copy", {"source": "7"}, htmx=htmx)
    assert response.status_code == 422
    assert "Copy from: Not a valid choice." in response.get_data(as_text=True)


def test_block_one_day_and_a_range(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/availability/blocked", {"start_date": "2030-01-09", "reason": "Dentist"}
    )
    assert response.status_code == 303
    html = dash.post(
        "/dashboard/availability/blocked",
        {"start_date": "2030-01-11", "end_date": "2030-01-13", "reason": "Holiday"},
        htmx=True,
    ).get_data(as_text=True)
    assert "Wed 9 Jan 2030" in html and "Dentist" in html
    assert "Fri 11 Jan 2030 – Sun 13 Jan 2030" in html and "Holiday" in html
    with app.app_context():
        periods = db.session.execute(
            sa.select(BlockedPeriod.start_date, BlockedPeriod.end_date).order_by(BlockedPeriod.id)
        ).all()
    assert periods == [
        (date(2030, 1, 9), date(2030, 1, 9)),
        (date(2030, 1, 11), date(2030, 1, 13)),
    ]
    assert actions(app)[-2:] == ["availability.blocked", "availability.blocked"]
    # The preview offers nothing on blocked days.
    days = preview_days(dash.get("/dashboard/availability").get_data(as_text=True))
    assert days["Wednesday 9 January"] == days["Saturday 12 January"] == []
    assert days["Thursday 10 January"] != []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"start_date": ""}, "start_date", "First day is required."),
        ({"start_date": "2030-02-30"}, "start_date", "First day: Not a valid date value."),
        ({"end_date": "soon"}, "end_date", "Last day: Not a valid date value."),
        ({"end_date": "2030-01-09"}, "end_date", "Last day must be on or after the first day."),
        (
            {"start_date": "2029-12-01", "end_date": "2030-01-07"},
            "end_date",
            "Last day is in the past.",
        ),
        # Only a past first day typed: "First day" is what is wrong, not the empty last day.
        ({"start_date": "2029-12-01"}, "start_date", "First day is in the past."),
        ({"end_date": "2031-06-01"}, "end_date", "Last day must be within a year"),
        ({"reason": "x" * 201}, "reason", "Reason must be at most 200 characters."),
    ],
)
def test_block_refuses_bad_input_naming_the_field(app, dash, data, field, message):
    for htmx in (False, True):
        response = dash.post(
            "/dashboard/availability/blocked", {"start_date": "2030-01-10", **data}, htmx=htmx
        )
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert ("<html" in html) is not htmx
        assert message in field_block(html, field)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(BlockedPeriod.id))) == 0


def test_unblock(app, dash, tradie_id):
    dash.post("/dashboard/availability/blocked", {"start_date": "2030-01-09"})
    with app.app_context():
        period_id = db.session.scalar(sa.select(BlockedPeriod.id))
    response = dash.post(f"/dashboard/availability/blocked/{period_id}/delete", htmx=True)
    assert response.status_code == 200
    assert "No blocked dates ahead." in response.get_data(as_text=True)
    assert actions(app)[-1] == "availability.unblocked"
    dash.post("/dashboard/availability/blocked", {"start_date": "2030-01-10"})
    with app.app_context():
        period_id = db.session.scalar(sa.select(BlockedPeriod.id))
    response = dash.post(f"/dashboard/availability/blocked/{period_id}/delete")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/availability#blocked"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(BlockedPeriod.id))) == 0


RULES = {
    "min_notice_minutes": "60",
    "horizon_days": "30",
    "buffer_minutes": "15",
    "slot_interval_minutes": "60",
    "hold_minutes": "10",
    "cancellation_window_hours": "24",
    "customer_cutoff_hours": "2",
    "no_show_fee": "80.00",
}


def test_save_booking_rules(app, dash, tradie_id):
    response = dash.post("/dashboard/availability/rules", RULES)
    assert response.status_code == 303
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert (tradie.min_notice_minutes, tradie.horizon_days, tradie.buffer_minutes) == (
            60,
            30,
            15,
        )
        assert (tradie.slot_interval_minutes, tradie.hold_minutes) == (60, 10)
        assert tradie.cancellation_window_hours == 24
        assert (tradie.customer_cutoff_hours, tradie.no_show_fee_minor) == (2, 8000)
        entry = db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()))
        assert entry.action == "availability.rules_updated"
        assert entry.summary["horizon_days"] == [60, 30]
    # One-hour steps, one hour's notice from 09:00: 10:00, 11:00, … 4:00 pm.
    days = preview_days(dash.get("/dashboard/availability").get_data(as_text=True))
    assert days["Tuesday 8 January"] == [
        "10:00 am",
        "11:00 am",
        "12:00 pm",
        "1:00 pm",
        "2:00 pm",
        "3:00 pm",
        "4:00 pm",
    ]


def test_save_rules_with_htmx(dash):
    response = dash.post("/dashboard/availability/rules", RULES, htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "slots-changed"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="rules"') and "Booking rules saved." in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_notice_minutes", "-1", "Minimum notice must be between 0 and 20160 minutes."),
        ("min_notice_minutes", "", "Minimum notice is required."),
        ("horizon_days", "0", "Booking horizon must be between 1 and 365 days."),
        ("horizon_days", "400", "Booking horizon must be between 1 and 365 days."),
        ("buffer_minutes", "lots", "Buffer between jobs must be a whole number."),
        ("slot_interval_minutes", "1", "Slot interval must be between 5 and 480 minutes."),
        ("hold_minutes", "90", "Payment hold must be between 5 and 60 minutes."),
        ("cancellation_window_hours", "999", "Cancellation window must be between 0 and 336"),
        ("customer_cutoff_hours", "400", "Customer changes cut-off must be between 0 and 336"),
        ("no_show_fee", "lots", "No-show fee must be an amount like 120 or 120.50."),
        ("no_show_fee", "-5", "No-show fee must be an amount like 120 or 120.50."),
    ],
)
def test_rules_refuse_bad_input_naming_the_field(app, dash, tradie_id, field, value, message):
    for htmx in (False, True):
        response = dash.post("/dashboard/availability/rules", {**RULES, field: value}, htmx=htmx)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert ("<html" in html) is not htmx
        assert message in field_block(html, field)
    with app.app_context():
        assert db.session.get(Tradie, tradie_id).horizon_days == 60
