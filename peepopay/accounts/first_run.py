"""The guided first run after sign-up: country (currency, phone format, a time zone suggested),
time zone from a grouped list of current zones, the mobile number confirmed by an SMS code,
the first service, working hours, Stripe, the snippet. `steps` says what is done."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache, lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import tzdata

from peepopay import phones
from peepopay.accounts.models import Tradie
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused
from peepopay.notifications import outbox
from peepopay.scheduling import availability
from peepopay.scheduling.models import AvailabilityRule, Service

# Countries a tradie can pick: currency and the zone suggested first (the most populous).
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "AU": ("Australia", "AUD", "Australia/Sydney"),
    "CA": ("Canada", "CAD", "America/Toronto"),
    "IE": ("Ireland", "EUR", "Europe/Dublin"),
    "NZ": ("New Zealand", "NZD", "Pacific/Auckland"),
    "SG": ("Singapore", "SGD", "Asia/Singapore"),
    "ZA": ("South Africa", "ZAR", "Africa/Johannesburg"),
    "GB": ("United Kingdom", "GBP", "Europe/London"),
    "US": ("United States", "USD", "America/New_York"),
}
CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool


def country_choices() -> list[tuple[str, str]]:
    return sorted(((code, name) for code, (name, _c, _z) in COUNTRIES.items()), key=lambda c: c[1])


def country_facts(code: str) -> dict[str, str]:
    """What picking a country sets and suggests: currency, zone, a phone number as written."""
    name, currency, zone = COUNTRIES[code]
    return {"name": name, "currency": currency, "zone": zone, "phone": phones.example(code) or ""}


@cache
def current_zones() -> tuple[str, ...]:
    """Zones in use today (tzdata's zone1970.tab): no deprecated aliases, no Etc/ or US/."""
    table = files(tzdata).joinpath("zoneinfo", "zone1970.tab").read_text()
    names = {line.split("\t")[2] for line in table.splitlines() if line and line[0] != "#"}
    return (*sorted(names), "UTC")


def _offset(zone: str, now: datetime) -> str:
    delta = now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_groups(now: datetime) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(region, [(zone, "(UTC+13:00) Auckland"), ...])], each region sorted by offset.
    Clocks change only on the quarter hour, so the list is worked out once per quarter."""
    return _zone_groups(now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0))


@lru_cache(maxsize=1)
def _zone_groups(now: datetime) -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[timedelta, str, str]]] = {}
    for zone in current_zones():
        region, _, city = zone.partition("/")
        label = city.replace("/", " – ").replace("_", " ") or zone
        offset = now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
        groups.setdefault(region if city else "Other", []).append(
            (offset, zone, f"({_offset(zone, now)}) {label}")
        )
    return [
        (region, [(zone, label) for _o, zone, label in sorted(rows)])
        for region, rows in sorted(groups.items())
    ]


def set_business(
    session: DbSession, tradie: Tradie, country: str, zone: str, now: datetime
) -> None:
    """Country (and its currency) and time zone, as chosen."""
    if country not in COUNTRIES:
        raise RuleRefused("country", "Choose your country from the list.")
    if zone not in current_zones():
        raise RuleRefused("timezone", "Choose your time zone from the list.")
    tradie.country = country
    tradie.currency = COUNTRIES[country][1]
    tradie.timezone = zone
    tradie.profile_confirmed_at = now


def _code_hash(tradie: Tradie, code: str) -> str:
    return hashlib.sha256(f"{tradie.id}:{tradie.session_token}:{code}".encode()).hexdigest()


def send_phone_code(session: DbSession, tradie: Tradie, number: str, now: datetime) -> str:
    """Text a 6-digit code to the mobile number (through the outbox); the number in E.164."""
    parsed = phones.e164(number, tradie.country)
    if parsed is None:
        example = phones.example(tradie.country)
        hint = f" like {example}" if example else ""
        raise RuleRefused("phone", f"Enter a mobile number{hint}.")
    code = f"{secrets.randbelow(10**6):06d}"
    tradie.phone_pending = parsed
    tradie.phone_code_hash = _code_hash(tradie, code)
    tradie.phone_code_expires_at = now + CODE_TTL
    tradie.phone_code_attempts = 0
    outbox.add(
        session,
        kind="phone_code",
        channel="sms",
        recipient=parsed,
        payload={"body": f"PeepoPay: your code is {code}. It works for 10 minutes."},
        key=f"phone-code:{tradie.id}:{tradie.phone_code_hash[:16]}",
        tradie_id=tradie.id,
        now=now,
    )
    return parsed


def confirm_phone(tradie: Tradie, code: str, now: datetime) -> None:
    """The code texted to the pending number makes it the tradie's confirmed mobile."""
    expires = tradie.phone_code_expires_at
    if not tradie.phone_code_hash or expires is None or expires <= now:
        raise RuleRefused("code", "That code has expired. Send a new one.")
    if tradie.phone_code_attempts >= CODE_ATTEMPTS:
        raise RuleRefused("code", "Too many wrong codes. Send a new one.")
    tradie.phone_code_attempts += 1
    if not hmac.compare_digest(tradie.phone_code_hash, _code_hash(tradie, code.strip())):
        raise RuleRefused("code", "That code doesn't match the one we texted you.")
    tradie.phone = tradie.phone_pending
    tradie.phone_verified_at = now
    tradie.phone_pending = tradie.phone_code_hash = tradie.phone_code_expires_at = None


def add_weekday_hours(
    session: DbSession, tradie: Tradie, weekdays: list[int], start: str, end: str
) -> None:
    """Working hours on the chosen weekdays, replacing none (the first run starts empty)."""
    if not weekdays:
        raise RuleRefused("weekdays", "Choose at least one working day.")
    try:
        start_at, end_at = time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise RuleRefused("start", "Start and end must be times like 08:00.") from None
    if end_at <= start_at:
        raise RuleRefused("end", "End must be after start.")
    for weekday in sorted(set(weekdays)):
        availability.add_range(session, tradie, weekday, start_at, end_at)


def mark_snippet_copied(tradie: Tradie, now: datetime) -> None:
    tradie.snippet_copied_at = now


def steps(session: DbSession, tradie: Tradie) -> list[Step]:
    """The first run's steps, in order, each done or not."""
    has_service = session.scalar(
        sa.select(Service.id).where(Service.tradie_id == tradie.id).limit(1)
    )
    has_hours = session.scalar(
        sa.select(AvailabilityRule.id).where(AvailabilityRule.tradie_id == tradie.id).limit(1)
    )
    return [
        Step("business", "Country and time zone", tradie.profile_confirmed_at is not None),
        Step("phone", "Mobile number", tradie.phone_verified_at is not None),
        Step("service", "Your first service", has_service is not None),
        Step("hours", "Working hours", has_hours is not None),
        Step("stripe", "Connect Stripe", tradie.payments_ready),
        Step("snippet", "Put the booking form on your site", tradie.snippet_copied_at is not None),
    ]


def missing_for_bookings(done_steps: list[Step]) -> list[str]:
    """What keeps the booking page from taking bookings, in the tradie's words (from `steps`)."""
    done = {step.key: step.done for step in done_steps}
    reasons = {"service": "add a service", "hours": "set working hours", "stripe": "connect Stripe"}
    return [text for key, text in reasons.items() if not done[key]]
