"""Hostile values in every route of the URL map: each path parameter, each query parameter and
form field a route reads, for every method a rule allows, with a valid CSRF token on every post
so it reaches the handler. Signed out: every route a visitor reaches (those that send a visitor
to sign in first read nothing); signed in as a tradie with data: every route but the widget's
cookieless surface, which never reads a session. Whatever arrives, the answer is never a 5xx.

On PostgreSQL, where an id beyond 64 bits or a NUL byte in text is a query error."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from PIL import Image
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule
from wtforms.fields.core import UnboundField

from peepopay.bookings.tokens import booking_token
from peepopay.extensions import db
from peepopay.security import WIDGET_PREFIXES
from tests.fixtures.clients import Auth, DashboardClient, csrf_token
from tests.fixtures.factories import make_booking, passwords_once
from tests.fixtures.stripe import emulator_config
from tests.payments_support import hold, pay, payments_tradie, settle

# What goes on the wire in a path segment (already percent-encoded where it must be).
HOSTILE_SEGMENTS = [
    "9" * 20,  # beyond a 64-bit integer
    str(2**31),  # beyond a 32-bit integer
    "0",
    "%00",
    "ki%00wi",
    "%01",
    "%7F",
    "a" * 1000,
    quote("\U0001f527\u202e\ufeffé"),
    "..%2F..%2Fetc",
    "%FF%FE",
]
# What a query parameter or form field may carry (encoded by the client): every name the route
# reads gets the same value, and then each name a different one of them.
HOSTILE_VALUES = [
    "\x00",
    "Aroha\x00Smith",
    "9" * 20,
    "-1",
    "x" * 5000,
    "\U0001f527" * 50 + "\u202e\x01",
    "9999-12-31",
    "0001-01-01",
    "9999-W53",
    "99:99",
]
# Query strings as they arrive, malformed ones too.
RAW_QUERIES = ["%00=%00", "%zz=%zz&&&===&a[]=1", "%FF%FE=%FF"]
LONG = os.environ.get("PEEPOPAY_FUZZ_ROUTES") == "long"  # a longer hunt, by hand
# Mixes of different hostile values across a route's fields: a few by default, all when long.
MIXES = 4
if LONG:
    HOSTILE_SEGMENTS += ["-1", str(2**63), "%1F", "%0A", "%20", "a" * 4000, "../..", "..", "%25"]
    HOSTILE_VALUES += [
        "\x01\x1f\x7f",
        str(2**63),
        str(2**31),
        "-" + "9" * 20,
        "0",
        "1e999",
        "NaN",
        "",
        " ",
        "x" * 10_000,
        "../../etc/passwd",
        "2026-02-30",
        "0000-W00",
        "9999-12",
        "9999-12-31T23:59:59+14:00",
        "javascript:alert(1)",
        "http://[::1",
        "<script>",
    ]
    RAW_QUERIES += ["=", "q=" + "%F0%9F%94%A7" * 100]
# Query parameters the routes read (request.args) besides the forms' fields.
QUERY_NAMES = [
    "q",
    "date",
    "page",
    "origin",
    "obj",
    "logo_path",
    "email",
    "when",
    "week",
    "v",
    "status",
    "start",
    "session_id",
    "service_id",
    "serviceId",
    "service",
    "postcode",
    "photo",
    "next",
    "month",
    "filename",
    "done",
    "day",
    "color",
    "back",
    "token",
    "sort",
    "id",
]
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# State changes whose effect would take data from the routes after them: these go last.
LAST = re.compile(r"delete|erase|cancel|archive|remove|logout|sessions|password|regenerate")


@dataclass
class Found:
    """Every 5xx seen, with the exception behind it."""

    errors: list[str] = field(default_factory=list)
    requests: int = 0
    covered: set[tuple[str, str]] = field(default_factory=set)
    exception: BaseException | None = None


class Recording(ImmutableMultiDict):  # type: ignore[type-arg]
    """request.args and request.form that note which keys a route looks at."""

    read: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default, type)

    def getlist(self, key: Any, type: Any = None) -> Any:
        self.read.add(key)
        return super().getlist(key, type)


def form_field_names() -> list[str]:
    """Every field name of every form the app defines."""
    import peepopay  # noqa: F401  (the forms are imported with the app)

    names: set[str] = set()
    stack: list[type] = [FlaskForm]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        names.update(name for name, value in vars(cls).items() if isinstance(value, UnboundField))
    return sorted(names)


def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


@dataclass
class World:
    """A connected tradie with a paid booking, a booking by hand, a customer, a photo, a
    blocked period, an arrival window, an intake question and a calendar feed; the valid value
    of each route parameter."""

    valid: dict[str, str]
    by_rule: dict[tuple[str, str], str]


@pytest.fixture
def app_config(app_config: dict[str, Any], stripe_emulator: Any) -> dict[str, Any]:
    app_config.update(emulator_config(stripe_emulator))
    app_config["RATELIMIT_ENABLED"] = False
    app_config["WIDGET_AVAILABILITY_LIMIT"] = "100000 per minute"
    app_config["WIDGET_BOOKING_LIMIT"] = "100000 per minute"
    app_config["PROPAGATE_EXCEPTIONS"] = False  # a failure is the 500 a visitor would see
    return app_config


@pytest.fixture
def world(app: Flask, stripe_live: Any) -> World:
    from peepopay.calendars.models import CalendarFeed
    from peepopay.customers.models import Customer
    from peepopay.models import AvailabilityRule, Booking, BookingPhoto, Tradie
    from peepopay.scheduling.models import (
        ArrivalWindow,
        BlockedPeriod,
        ServiceQuestion,
    )

    tradie_id = payments_tradie(app, stripe_live)
    held = hold(app, tradie_id)
    pay(stripe_live, held)
    settle(stripe_live)
    by_hand = make_booking(app, tradie_id, 2)
    client = app.test_client()
    with app.app_context():
        token = booking_token(held.booking_id)
    uploaded = client.post(
        f"/book/kiwi/photos/{token}",
        data={"back": "pay", "photo": (io.BytesIO(tiny_png()), "job.png")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code < 400, uploaded.get_data(as_text=True)
    with app.app_context():
        session = db.session
        booking = session.get(Booking, held.booking_id)
        tradie = session.get(Tradie, tradie_id)
        assert booking is not None and tradie is not None
        service = booking.service_id
        question = ServiceQuestion(service_id=service, label="Gate code?", kind="short_text")
        period = BlockedPeriod(
            tradie_id=tradie_id, start_date=date(2030, 1, 1), end_date=date(2030, 1, 2)
        )
        window = ArrivalWindow(
            tradie_id=tradie_id, weekday=0, start_local=time(8), end_local=time(12)
        )
        feed = CalendarFeed(tradie_id=tradie_id, name="Home", url="http://127.0.0.1:9/home.ics")
        session.add_all([question, period, window, feed])
        session.flush()
        photo = session.scalar(
            sa.select(BookingPhoto.id).where(BookingPhoto.booking_id == booking.id)
        )
        assert photo is not None, "the photo upload stored nothing"
        rule = session.scalar(
            sa.select(AvailabilityRule.id).where(AvailabilityRule.tradie_id == tradie_id)
        )
        customer = session.scalar(sa.select(Customer.id).where(Customer.tradie_id == tradie_id))
        valid = {
            "booking_id": str(booking.id),
            "photo_id": str(photo),
            "window_id": str(window.id),
            "period_id": str(period.id),
            "rule_id": str(rule),
            "feed_id": str(feed.id),
            "customer_id": str(customer),
            "service_id": str(service),
            "question_id": str(question.id),
            "slug": tradie.slug,
            "intent": "login",
            "variant": "thumb",
            "field": "name",
            "step": "business",
            "name": "logo.png",
            "filename": "favicon.ico",
            "token": booking.public_token,
        }
        by_rule = {
            ("/book/<slug>/pay/<token>", "token"): token,
            ("/book/<slug>/done/<token>", "token"): token,
            ("/book/<slug>/photos/<token>", "token"): token,
            ("/book/<slug>/photos/<token>/<int:photo_id>", "token"): token,
            ("/calendar/<token>.ics", "token"): tradie.calendar_token or "x" * 32,
        }
        session.commit()
    assert by_hand
    return World(valid, by_rule)


def path_for(rule: Rule, values: dict[str, str]) -> str:
    return PARAMETER.sub(lambda match: values[match.group(1)], rule.rule)


def endpoints(app: Flask) -> list[tuple[Rule, str]]:
    """(rule, method) for every rule and method, the state changes that take data last."""
    pairs = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS)
    ]
    return sorted(pairs, key=lambda pair: (bool(LAST.search(pair[0].endpoint)), pair[0].rule))


class Prober:
    """Sends requests for one client and notes each 5xx."""

    def __init__(
        self, app: Flask, client: FlaskClient, token: str, keep: Callable[[], None]
    ) -> None:
        self.app = app
        self.client = client
        self.token = token
        self.keep = keep
        self.found = Found()

    def send(
        self,
        method: str,
        path: str,
        query: str | dict[str, str] = "",
        form: dict[str, str] | None = None,
    ) -> int:
        query_string = query if isinstance(query, str) else urlencode(query)
        kwargs: dict[str, Any] = {"query_string": query_string}
        if method != "GET":
            kwargs["data"] = {**(form or {}), "csrf_token": self.token}
        self.found.exception = None
        Recording.read = set()
        response = self.client.open(path, method=method, **kwargs)
        self.found.requests += 1
        status = response.status_code
        if status >= 500:
            cause = repr(self.found.exception)[:300] if self.found.exception else ""
            shown = path if len(path) < 120 else path[:117] + "..."
            self.found.errors.append(f"{method} {shown} ?{query_string[:80]} -> {status} {cause}")
        self.keep()
        return status


def valid_values(rule: Rule, world: World) -> dict[str, str]:
    """Each of the rule's parameters as a valid value, encoded for the path."""
    return {
        name: quote(world.by_rule.get((rule.rule, name), world.valid.get(name, "x")), safe="")
        for name in rule.arguments
    }


def signed_out_answer(app: Flask, world: World) -> Callable[[Rule, str], bool]:
    """Whether a visitor who is not signed in reaches the route's handler (rather than being
    sent to sign in first, before the route reads anything)."""
    client = app.test_client()
    token = csrf_token(client)

    def reaches(rule: Rule, method: str) -> bool:
        data = {"csrf_token": token} if method != "GET" else None
        response = client.open(path_for(rule, valid_values(rule, world)), method=method, data=data)
        return "/auth/login" not in response.headers.get("Location", "")

    return reaches


def fuzz(app: Flask, prober: Prober, world: World, covers: Callable[[Rule, str], bool]) -> Found:
    def record(_sender: Any, exception: BaseException, **_: Any) -> None:
        prober.found.exception = exception

    got_request_exception.connect(record, app)
    vocabulary = sorted(set(QUERY_NAMES) | set(form_field_names()))
    try:
        for rule, method in endpoints(app):
            if not covers(rule, method):
                continue
            prober.found.covered.add((rule.rule, method))
            valid = valid_values(rule, world)
            # Each path parameter in turn.
            for name in sorted(rule.arguments):
                for segment in HOSTILE_SEGMENTS:
                    prober.send(method, path_for(rule, {**valid, name: segment}))
            # Query strings and form fields, with a valid path: first what the route reads.
            path = path_for(rule, valid)
            every = dict.fromkeys(vocabulary, "1")
            prober.send(method, path, every, every)
            names = sorted(Recording.read - {"csrf_token"})
            for raw in RAW_QUERIES:
                prober.send(method, path, raw)
            for value in HOSTILE_VALUES:
                values = dict.fromkeys(names, value)
                prober.send(method, path, values, values)
            mixes = (len(HOSTILE_VALUES) if LONG else MIXES) if len(names) > 1 else 1
            for turn in range(1, mixes):
                values = {
                    name: HOSTILE_VALUES[(i + turn) % len(HOSTILE_VALUES)]
                    for i, name in enumerate(names)
                }
                prober.send(method, path, values, values)
    finally:
        got_request_exception.disconnect(record, app)
    return prober.found


@pytest.fixture
def recording(app: Flask) -> Iterator[None]:
    app.request_class = type(  # type: ignore[misc]
        "RecordingRequest", (app.request_class,), {"parameter_storage_class": Recording}
    )
    yield


def report(found: Found) -> str:
    return f"{len(found.errors)} of {found.requests} requests answered 5xx:\n" + "\n".join(
        found.errors
    )


def test_no_route_answers_5xx_signed_out(app: Flask, world: World, recording: None) -> None:
    client = app.test_client()
    prober = Prober(app, client, csrf_token(client), lambda: None)
    found = fuzz(app, prober, world, signed_out_answer(app, world))
    assert not found.errors, report(found)
    public = {(r.rule, m) for r, m in endpoints(app) if r.rule.startswith(WIDGET_PREFIXES)}
    assert public <= found.covered


def test_no_route_answers_5xx_signed_in(app: Flask, world: World, recording: None) -> None:
    client = app.test_client()

    def sign_in() -> None:
        with passwords_once():
            response = Auth(client).login()
        assert response.status_code == 303, response.get_data(as_text=True)

    def keep() -> None:
        with client.session_transaction() as session:
            if "_user_id" in session:
                return
        sign_in()
        prober.token = DashboardClient(client).token

    sign_in()
    prober = Prober(app, client, DashboardClient(client).token, keep)
    # The widget's surface never reads a session (peepopay.security): signed out covers it.
    found = fuzz(app, prober, world, lambda rule, _: not rule.rule.startswith(WIDGET_PREFIXES))
    assert not found.errors, report(found)
    dashboard = {(r.rule, m) for r, m in endpoints(app) if r.rule.startswith("/dashboard")}
    assert dashboard <= found.covered
