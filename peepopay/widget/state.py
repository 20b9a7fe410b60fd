"""The booking in progress, carried in the page (query or hidden fields), never in a cookie."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict

from peepopay.bookings.services import Customer
from peepopay.clock import utcnow
from peepopay.inputs import date_in_reach, instant_in_reach, iso_date, iso_datetime

Day = date  # the class below has a field named `date`

HEX = re.compile(r"#?([0-9a-fA-F]{6})")
DETAIL_FIELDS = ("name", "email", "phone", "address", "notes")
# Typed details are bounded so a carried page cannot be inflated without limit.
FIELD_LIMIT = 2000
# Answers to a service's questions travel as `q<question id>`, a bounded number of them.
ANSWER_KEY = re.compile(r"q([0-9]{1,9})")
MAX_ANSWERS = 30
# The signed token of the unpaid hold this browser holds (peepopay.bookings.tokens), carried
# from its payment step so a new hold may replace it; nobody else has it.
HOLD_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


def parse_color(value: str | None) -> str | None:
    """`RRGGBB` or `#RRGGBB` -> `#rrggbb`; anything else -> None."""
    match = HEX.fullmatch((value or "").strip())
    return f"#{match.group(1).lower()}" if match else None


def parse_origin(value: str | None, allowed: list[str]) -> str | None:
    """The embedding page's origin as the loader passed it, if well-formed (and allowed)."""
    if not value or len(value) > 200:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket, as in "https://["
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
    if allowed and origin not in {o.rstrip("/") for o in allowed}:
        return None
    return origin


def parse_date(value: str | None) -> date | None:
    """`YYYY-MM-DD` near enough to today that a tradie could offer it; None otherwise."""
    day = iso_date(value)
    return day if day is not None and date_in_reach(day, utcnow()) else None


def parse_month(value: str | None) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return int(match.group(1)), int(match.group(2))


def parse_start(value: str | None) -> datetime | None:
    """An aware instant from ISO 8601 with an offset (or Z), in UTC; None when absent, naive or
    further from now than any tradie offers."""
    parsed = iso_datetime(value)
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    if not instant_in_reach(parsed, utcnow()):
        return None
    return parsed.astimezone(UTC)


def format_start(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class WidgetState:
    service: str = ""
    month: str = ""
    date: str = ""
    start: str = ""
    color: str = ""
    origin: str = ""
    postcode: str = ""
    details: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    hold: str = ""

    @classmethod
    def from_values(cls, values: MultiDict[str, str], allowed_origins: list[str]) -> WidgetState:
        color = parse_color(values.get("color"))
        start = parse_start(values.get("start"))
        day = parse_date(values.get("date"))
        month = parse_month(values.get("month"))
        hold = values.get("hold", "")
        return cls(
            service=values.get("service", "").strip()[:12],
            month=f"{month[0]:04d}-{month[1]:02d}" if month else "",
            date=day.isoformat() if day else "",
            start=format_start(start) if start else "",
            color=color[1:] if color else "",
            origin=parse_origin(values.get("origin"), allowed_origins) or "",
            postcode=" ".join(values.get("postcode", "").split())[:10],
            details={
                name: values.get(name, "")[:FIELD_LIMIT]
                for name in DETAIL_FIELDS
                if values.get(name)
            },
            answers=dict(
                [
                    (key, values.get(key, "")[:FIELD_LIMIT])
                    for key in values
                    if ANSWER_KEY.fullmatch(key) and values.get(key)
                ][:MAX_ANSWERS]
            ),
            hold=hold if HOLD_TOKEN.fullmatch(hold) else "",
        )

    @property
    def has_details(self) -> bool:
        typed = [*self.details.values(), *self.answers.values()]
        return any(v.strip() for v in typed)

    @property
    def method(self) -> str:
        """GET until the customer has typed details; after that POST keeps them out of URLs."""
        return "post" if self.has_details else "get"

    @property
    def start_utc(self) -> datetime | None:
        return parse_start(self.start)

    @property
    def day(self) -> Day | None:
        return parse_date(self.date)

    @property
    def customer(self) -> Customer:
        return Customer(**{name: self.details.get(name, "") for name in DETAIL_FIELDS})

    @property
    def answers_by_id(self) -> dict[str, str]:
        """The answers as the booking service takes them: keyed by question id."""
        return {key[1:]: value for key, value in self.answers.items()}

    def params(self, *skip: str) -> list[tuple[str, str]]:
        """Non-empty fields as name/value pairs, for hidden inputs or a query string."""
        pairs = [
            ("service", self.service),
            ("month", self.month),
            ("date", self.date),
            ("start", self.start),
            ("color", self.color),
            ("origin", self.origin),
            ("postcode", self.postcode),
            *((name, self.details.get(name, "")) for name in DETAIL_FIELDS),
            *self.answers.items(),
            ("hold", self.hold),
        ]
        return [(k, v) for k, v in pairs if v and k not in skip]

    def query(self, *skip: str) -> dict[str, str]:
        return dict(self.params(*skip))
