"""Generated hostile input at every public entry point (the widget API and the widget's steps):
whatever arrives, the answer is never a 5xx, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peepopay.bookings import services as booking_services
from peepopay.payments.deposits import DepositsUnavailable
from tests.booking_helpers import (
    CUSTOMER,
    SLUG,
    ZONE,
    at,
    iso_z,
    local_day,
    service_id,
    widget_tradie,
)

pytestmark = pytest.mark.both_databases

# Hypothesis caches what it learns (constants, Unicode tables) under the working directory
# unless told otherwise: keep the checkout clean.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "peepopay-hypothesis")
)

# Sized so each test runs in a few seconds per database (PEEPOPAY_FUZZ_EXAMPLES asks for a
# longer hunt); `database=None` keeps Hypothesis from writing an example database.
FUZZ = settings(
    max_examples=int(os.environ.get("PEEPOPAY_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that have broken, or could break, parsing or storage somewhere.
NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "Aroha\x00Smith",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "9999-12",
    "0000-00",
    "9999-12-31T23:59:59+14:00",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "2030-01-01T10:00:00",
    str(2**31),
    str(2**63),
    str(2**64),
    "9" * 40,
    "-1",
    "0",
    "1e999",
    "NaN",
    "%00",
    "../..",
    "#ZZZZZZ",
    "javascript:alert(1)",
    "http://[::1",
    "https://a:99999",
    "\u202e\ufeff\u0301",
    "\U0001f527" * 40,
    "a" * 5000,
]
NASTY_NUMBERS = [2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40, -1, 0]

# Form fields and query strings are UTF-8 on the wire: no lone surrogates there.
wire_text = st.sampled_from(NASTY_TEXT) | st.text(max_size=40)
# JSON can carry anything, lone surrogates included (as \ud800 escapes).
json_text = wire_text | st.sampled_from(["\ud800", "x\udfff", "\udbff\x00"])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(NASTY_NUMBERS)
    | st.floats()
    | json_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)
htmx_headers = st.sampled_from([{}, {"HX-Request": "true"}])


@st.composite
def around(draw: st.DrawFn, base: dict[str, Any], values: st.SearchStrategy[Any]) -> Any:
    """`base` with some of its keys dropped, some replaced by generated values, some added."""
    keys = sorted(base)
    out = dict(base)
    for key in draw(st.sets(st.sampled_from(keys), max_size=2)):
        del out[key]
    names = st.sampled_from(keys) | st.sampled_from(keys) | wire_text  # mostly fields that count
    out.update(draw(st.dictionaries(names, values, max_size=4)))
    return out


def nested(depth: int) -> bytes:
    return (
        ("[" * depth + "]" * depth).encode()
        if depth % 2
        else b'{"a":' * depth + b"1" + b"}" * depth
    )


@dataclass(frozen=True)
class Public:
    """A tradie ready for holds, and a valid choice at each step to generate around."""

    service: int
    day: str
    start: str
    token: str

    @property
    def body(self) -> dict[str, Any]:
        return {"serviceId": self.service, "start": self.start, "notes": "Side gate"}

    @property
    def state(self) -> dict[str, str]:
        return {
            "service": str(self.service),
            "month": self.day[:7],
            "date": self.day,
            "start": self.start,
            "color": "1d4ed8",
            "origin": "https://plumber.example",
            **CUSTOMER,
            "notes": "Tap drips",
        }


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Generated requests come fast: rate limits would answer most of them with 429.
    app_config["WIDGET_AVAILABILITY_LIMIT"] = "100000 per minute"
    app_config["WIDGET_BOOKING_LIMIT"] = "100000 per minute"
    return app_config


@pytest.fixture
def public(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> Public:
    def no_stripe(*_args: Any, **_kwargs: Any) -> Any:
        # No Stripe here: a deposit that would start answers as a tradie without payments.
        raise DepositsUnavailable()

    monkeypatch.setattr(booking_services, "start_payment", no_stripe)
    service = service_id(app, widget_tradie(app))
    day = local_day()
    start = at(day, 10)
    held = client.post(
        f"/book/{SLUG}/hold",
        data={"service": service, "start": iso_z(start), **CUSTOMER},
    )
    assert held.status_code == 303, held.get_data(as_text=True)
    token = held.headers["Location"].split("/pay/", 1)[1].split("?", 1)[0]
    # The API's valid start is another free time: the 10:00 one is held now.
    return Public(service, day.isoformat(), at(day, 12).astimezone(ZONE).isoformat(), token)


def assert_not_5xx(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}"


# --- the JSON API ----------------------------------------------------------------------------


@st.composite
def book_bodies(draw: st.DrawFn, valid: dict[str, Any]) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["around", "around", "any", "bytes", "deep"]))
    content_type = draw(
        st.sampled_from(
            ["application/json"] * 4 + ["text/plain", "application/json; charset=latin-1"]
        )
    )
    if kind == "bytes":
        return draw(st.binary(max_size=200)), content_type
    if kind == "deep":
        return nested(draw(st.integers(1, 60_000))), "application/json"
    if kind == "any":
        body = draw(json_values)
    else:
        body = draw(around(valid, json_values))
        if draw(st.booleans()):
            body["customer"] = draw(around(CUSTOMER, json_values) | json_values)
        else:
            body["customer"] = dict(CUSTOMER)
    return json.dumps(body).encode(), content_type


@FUZZ
@given(data=st.data())
def test_book_never_answers_5xx(client: Any, public: Public, data: st.DataObject) -> None:
    body, content_type = data.draw(book_bodies(public.body))
    response = client.post(f"/api/widget/{SLUG}/book", data=body, content_type=content_type)
    assert_not_5xx(response, f"book {body[:300]!r}")


@FUZZ
@given(data=st.data())
def test_availability_and_config_never_answer_5xx(
    client: Any, public: Public, data: st.DataObject
) -> None:
    slug = data.draw(st.just(SLUG) | st.just(SLUG) | wire_text)
    valid = {"date": public.day, "serviceId": str(public.service)}
    query = data.draw(
        around(valid, wire_text | st.integers().map(str))
        | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    )
    base = f"/api/widget/{quote(slug, safe='')}"
    for path in (f"{base}/availability", f"{base}/config"):
        response = client.get(path, query_string=query)
        assert_not_5xx(response, f"GET {path} {query!r}")


# --- the widget's steps ----------------------------------------------------------------------

STEPS = ["", "/date", "/time", "/details", "/summary", "/hold"]


@FUZZ
@given(data=st.data())
def test_widget_steps_never_answer_5xx(client: Any, public: Public, data: st.DataObject) -> None:
    step = data.draw(st.sampled_from(STEPS))
    form = data.draw(around(public.state, wire_text))
    method = data.draw(st.sampled_from(["POST", "POST", "GET"]))
    headers = data.draw(htmx_headers)
    url = f"/book/{SLUG}{step}"
    if method == "POST":
        response = client.post(url, data=form, headers=headers)
    else:
        response = client.get(url, query_string=form, headers=headers)
    assert_not_5xx(response, f"{method} {url} {form!r}")


@FUZZ
@given(data=st.data())
def test_widget_token_steps_never_answer_5xx(
    client: Any, public: Public, data: st.DataObject
) -> None:
    token = data.draw(
        st.just(public.token)
        | st.builds(lambda cut, tail: public.token[:cut] + tail, st.integers(0, 80), wire_text)
        | wire_text
    )
    step = data.draw(st.sampled_from(["pay", "done"]))
    query = data.draw(around(public.state, wire_text))
    url = f"/book/{SLUG}/{step}/{quote(token, safe='')}"
    response = client.get(url, query_string=query, headers=data.draw(htmx_headers))
    assert_not_5xx(response, f"GET {url} {query!r}")
