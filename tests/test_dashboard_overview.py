"""Overview (today, this week, deposits, Stripe banner, embed snippets), widget views, analytics."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from peepopay.analytics.models import WidgetView
from peepopay.analytics.services import record_widget_view
from peepopay.dashboard.charts import bar_chart, nice_ceiling
from peepopay.extensions import db
from peepopay.models import Tradie

pytestmark = pytest.mark.usefixtures("fast_passwords", "dash_now")

NOW = datetime(2030, 1, 7, 20, 0, tzinfo=UTC)  # Tuesday 8 January, 09:00 in Auckland


def text_of(html):
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


def utc(y, m, d, h, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=UTC)


@pytest.fixture
def week_of_work(add_booking, add_payment):
    """Bookings around NOW (local times in comments) and this month's money."""
    ids = {
        "yesterday": add_booking(  # Mon 7 Jan 10:00
            customer_name="Yesterday", starts_at=utc(2030, 1, 6, 21), status="completed"
        ),
        "today": add_booking(customer_name="Today Job", starts_at=utc(2030, 1, 7, 23)),  # 12 pm
        "held": add_booking(  # Tue 2 pm, still being paid for
            customer_name="Paying Now",
            starts_at=utc(2030, 1, 8, 1),
            status="pending_payment",
            hold_expires_at=NOW + timedelta(minutes=10),
        ),
        "lapsed": add_booking(  # Tue 4 pm, the hold ran out
            customer_name="Lapsed Hold",
            starts_at=utc(2030, 1, 8, 3),
            status="pending_payment",
            hold_expires_at=NOW - timedelta(minutes=1),
        ),
        "cancelled": add_booking(
            customer_name="Called Off", starts_at=utc(2030, 1, 8, 4), status="cancelled"
        ),
        "friday": add_booking(customer_name="Friday Job", starts_at=utc(2030, 1, 10, 21)),
        "next_week": add_booking(customer_name="Next Week", starts_at=utc(2030, 1, 13, 21)),
    }
    add_payment(ids["today"], amount_minor=5000, created_at=utc(2030, 1, 2, 0))
    add_payment(ids["friday"], amount_minor=2550, created_at=utc(2030, 1, 7, 19))
    # Not counted: a failed deposit, last month's deposit (Dec 31 23:00 local), a balance.
    add_payment(ids["held"], amount_minor=9999, status="failed", created_at=utc(2030, 1, 7, 19))
    add_payment(ids["yesterday"], amount_minor=7777, created_at=utc(2029, 12, 31, 10))
    add_payment(ids["yesterday"], kind="balance", amount_minor=15000, created_at=utc(2030, 1, 7, 1))
    add_payment(ids["cancelled"], kind="refund", amount_minor=1000, created_at=utc(2030, 1, 5, 0))
    return ids


@pytest.mark.parametrize("htmx", [False, True])
def test_overview_today_week_and_deposits(dash, week_of_work, htmx):
    response = dash.get("/dashboard", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    text = text_of(html)
    assert "Today 2 bookings" in text
    assert "This week 4 7 Jan – 13 Jan" in text
    assert "Deposits, January 2030 $75.50 Refunded this month: $10.00" in text
    today = text[text.index("Today's jobs") : text.index("This week", text.index("Today's jobs"))]
    assert "12:00 pm Today Job" in today and "2:00 pm Paying Now" in today
    assert "Yesterday" not in today and "Lapsed" not in today and "Called Off" not in today
    week = text[text.index("This week", text.index("Today's jobs")) :]
    assert "Mon 7 Jan, 10:00 am Yesterday" in week and "Fri 11 Jan, 10:00 am Friday Job" in week
    assert "Next Week" not in week and "Lapsed" not in week
    assert f'href="/dashboard/bookings/{week_of_work["today"]}"' in html


def test_overview_in_another_zone_and_currency(app, dash, tradie_id, add_booking, add_payment):
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.timezone, tradie.currency = "America/Los_Angeles", "USD"
        db.session.commit()
    # NOW is Mon 7 Jan 12:00 in Los Angeles; this job is 3 pm there.
    booking_id = add_booking(starts_at=utc(2030, 1, 7, 23), currency="USD")
    add_payment(booking_id, amount_minor=123456, currency="USD", created_at=utc(2030, 1, 7, 19))
    text = text_of(dash.get("/dashboard").get_data(as_text=True))
    assert "3:00 pm Customer" in text
    assert "$1,234.56" in text


def test_stripe_banner_until_charges_are_enabled(app, dash, tradie_id):
    html = dash.get("/dashboard").get_data(as_text=True)
    assert "Card payments are not switched on yet." in html
    with app.app_context():
        connect = app.url_map.bind("peepopay.test").build("payments.dashboard")
    assert f'href="{connect}"' in html
    with app.app_context():
        db.session.get(Tradie, tradie_id).charges_enabled = True
        db.session.commit()
    assert "not switched on" not in dash.get("/dashboard").get_data(as_text=True)


def test_embed_snippets_copy_buttons_and_preview(dash):
    html = dash.get("/dashboard").get_data(as_text=True)
    plain = htmllib.unescape(html)
    assert (
        '<script src="http://peepopay.test/embed.js" data-tradie="kiwi-plumbing" async></script>'
        in plain
    )
    assert (
        '<iframe src="http://peepopay.test/book/kiwi-plumbing" title="Book with Kiwi Plumbing"'
        ' loading="eager"' in plain
    )
    # The iframe snippet (the widget loads with the host page) comes first, then the script.
    assert plain.index('<link rel="preconnect" href="http://peepopay.test">') < plain.index(
        '<iframe src="http://peepopay.test/book/'
    )
    assert plain.index('<iframe src="http://peepopay.test/book/') < plain.index(
        'data-tradie="kiwi-plumbing"'
    )
    # Shown as text, never as live markup in the dashboard.
    assert "&lt;script src=" in html and '<script src="http://peepopay.test/embed.js"' not in html
    assert 'data-copy="embed-script"' in html and 'data-copy="embed-iframe"' in html
    assert '<iframe src="/book/kiwi-plumbing" title="Preview of your booking page"' in html
    assert re.search(r'<script src="/static/js/dashboard[^"]*\.js[^"]*" defer></script>', html)
    assert "<script>" not in html  # no inline script: the CSP allows 'self' only


def test_business_names_are_escaped_in_the_snippet(app, dash, tradie_id):
    with app.app_context():
        db.session.get(Tradie, tradie_id).business_name = 'Bob\'s "Best" <Pipes>'
        db.session.commit()
    plain = htmllib.unescape(dash.get("/dashboard").get_data(as_text=True))
    assert 'title="Book with Bob&#39;s &#34;Best&#34; &lt;Pipes&gt;"' in plain


def test_the_copy_script_is_served(client):
    response = client.get("/static/js/dashboard.js")
    assert response.status_code == 200
    assert "htmx:beforeSwap" in response.get_data(as_text=True)
    response.close()


@pytest.mark.both_databases
def test_record_widget_view_counts_per_local_day(app, tradie_id, other_dash):
    with app.app_context():
        record_widget_view(db.session, tradie_id, NOW)
        record_widget_view(db.session, tradie_id, NOW + timedelta(hours=2))
        # 10:00 UTC on the 7th is 23:00 on the 7th in Auckland; 11:00 UTC is the 8th.
        record_widget_view(db.session, tradie_id, utc(2030, 1, 7, 10))
        record_widget_view(db.session, tradie_id, utc(2030, 1, 7, 11))
        record_widget_view(db.session, 99999, NOW)  # no such tradie: nothing
        db.session.commit()
        rows = db.session.execute(
            sa.select(WidgetView.tradie_id, WidgetView.day, WidgetView.count).order_by(
                WidgetView.day
            )
        ).all()
    assert rows == [(tradie_id, date(2030, 1, 7), 1), (tradie_id, date(2030, 1, 8), 3)]


def test_nice_ceiling_and_bars():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 2600)] == [1, 1, 5, 10, 20, 5000]
    chart = bar_chart("c", "T", "D", ["a", "b"], [0, 10], str)
    assert chart.bars[0].height == 0
    assert chart.bars[1].y == 12.0 and chart.bars[1].height == 178.0
    assert [g.label for g in chart.gridlines] == ["0", "2", "4", "6", "8", "10"]
    chart = bar_chart("c", "T", "D", ["a"], [3], lambda v: f"${v}")
    assert [g.label for g in chart.gridlines] == ["$0", "$1", "$2", "$3", "$4", "$5"]


@pytest.fixture
def history(app, tradie_id, add_booking, add_payment):
    paid = add_booking(created_at=utc(2030, 1, 7, 1), confirmed_at=utc(2030, 1, 7, 1))
    add_payment(paid, amount_minor=5000, created_at=utc(2030, 1, 7, 1))
    old = add_booking(created_at=utc(2029, 11, 5, 1), confirmed_at=utc(2029, 11, 5, 1))
    add_payment(old, amount_minor=12000, created_at=utc(2029, 11, 5, 2))
    add_booking(status="expired", created_at=utc(2029, 12, 20, 1))  # started, never paid
    add_booking(created_at=utc(2029, 6, 1, 1), confirmed_at=utc(2029, 6, 1, 1))  # too old
    with app.app_context():
        for n in range(4):
            db.session.add(WidgetView(tradie_id=tradie_id, day=date(2029, 12, 1 + n), count=15))
        db.session.add(WidgetView(tradie_id=tradie_id, day=date(2029, 1, 1), count=999))
        db.session.commit()


@pytest.mark.parametrize("htmx", [False, True])
def test_analytics_charts_and_funnel(dash, history, htmx):
    response = dash.get("/dashboard/analytics", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert html.count('<rect class="bar"') == 24
    assert html.count('role="img"') == 2
    assert '<title id="chart-bookings-title">Paid bookings per week</title>' in html
    assert '<title id="chart-deposits-title">Deposits collected per week (NZD)</title>' in html
    assert "<title>Week of 7 Jan: 1</title>" in html
    assert "<title>Week of 7 Jan: $50</title>" in html
    assert "<title>Week of 5 Nov: $120</title>" in html
    assert "<title>Week of 22 Oct: 0</title>" in html  # the first of the twelve weeks
    assert "<script" not in html.split('id="analytics-title"')[1]  # no chart library
    text = text_of(html)
    assert "from Mon 22 Oct 2029" in text
    assert "60 booking page views" in text
    assert "3 bookings started 5.0% of views" in text
    assert "2 deposits paid 66.7% of bookings started" in text
    assert "Mon 7 Jan 2030 1 $50.00" in text  # the table beside the charts


def test_analytics_with_nothing_yet(dash):
    text = text_of(dash.get("/dashboard/analytics").get_data(as_text=True))
    assert "0 booking page views" in text and "— of views" in text


@pytest.mark.both_databases
def test_analytics_counts_each_week_in_the_database_at_local_midnight(
    dash, add_booking, add_payment
):
    """Weeks are counted by the database between the tradie's local Monday midnights (in UTC):
    23:59 on Sunday 6 January in Auckland is the week before; 00:00 on Monday 7th is its own."""
    sunday_night, monday = utc(2030, 1, 6, 10, 59), utc(2030, 1, 6, 11, 0)
    for moment in (sunday_night, monday, monday):
        booking = add_booking(created_at=moment, confirmed_at=moment)
        add_payment(booking, amount_minor=1000, created_at=moment)
    add_booking(status="expired", created_at=monday)  # started, never paid
    html = dash.get("/dashboard/analytics").get_data(as_text=True)
    assert "<title>Week of 31 Dec: 1</title>" in html
    assert "<title>Week of 7 Jan: 2</title>" in html
    assert "<title>Week of 31 Dec: $10</title>" in html
    assert "<title>Week of 7 Jan: $20</title>" in html
    text = text_of(html)
    assert "4 bookings started" in text and "3 deposits paid 75.0% of bookings started" in text


def test_an_empty_money_chart_counts_in_whole_dollars(dash):
    html = dash.get("/dashboard/analytics").get_data(as_text=True)
    deposits = html.split('id="chart-deposits-title"')[1]
    assert "$0.01" not in deposits and "$10" in deposits
