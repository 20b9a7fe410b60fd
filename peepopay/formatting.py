"""Money and time as people read them: the tradie's currency and time zone."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol
from flask import Flask

from peepopay.phones import display as display_phone

# Where each currency the product offers is at home, so its symbol reads as the tradie's
# customers expect: "$" for NZD in New Zealand, where English-everywhere would say "NZ$".
HOME_LOCALE = {
    "NZD": "en_NZ",
    "AUD": "en_AU",
    "USD": "en_US",
    "CAD": "en_CA",
    "GBP": "en_GB",
    "EUR": "en_IE",
}
# Any other currency by its ISO code ("JPY 500"); digits always follow the currency's precision.
CODE_PATTERN = "¤¤ #,##0.00"
PLAIN_PATTERN = "0.00"
MINUS = "\u2212"  # the minus sign, not the hyphen: "−$10.00"


def minor_exponent(currency: str) -> int:
    """Digits after the decimal point in `currency` (2 for NZD, 0 for JPY), as ISO 4217 has it."""
    return int(get_currency_precision(currency.upper()))


def _major(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-minor_exponent(currency))


# Babel parses the locale's pattern on every call; a page of bookings repeats a few amounts.
@lru_cache(maxsize=4096)
def format_money(amount_minor: int | None, currency: str) -> str:
    """12345, "NZD" -> "$123.45"; -1000 -> "−$10.00"; 500, "JPY" -> "JPY 500"; no floats on
    the way. Money going out reads with the minus sign (U+2212) everywhere, as refunds do."""
    if amount_minor is None:
        return "—"
    currency = currency.upper()
    amount = _major(abs(amount_minor), currency)
    if locale := HOME_LOCALE.get(currency):
        text = format_currency(amount, currency, locale=locale)
    else:
        text = format_currency(amount, currency, format=CODE_PATTERN, locale="en")
    return f"{MINUS}{text}" if amount_minor < 0 else text


@lru_cache(maxsize=4096)
def plain_amount(amount_minor: int | None, currency: str) -> str:
    """12345 -> "123.45": no symbol, no thousands separator (spreadsheets, form fields)."""
    if amount_minor is None:
        return ""
    return format_currency(
        _major(amount_minor, currency), currency.upper(), format=PLAIN_PATTERN, locale="en"
    )


def amount_example(currency: str) -> str:
    """How a typed amount looks in `currency`, for error messages."""
    return "120 or 120.50" if minor_exponent(currency) else "120"


def parse_money(text: str, currency: str) -> int:
    """ "1,234.50", "$120.50", "120" -> minor units; ValueError says what to type instead."""
    currency = currency.upper()
    exp = minor_exponent(currency)
    cleaned = text.strip().replace(",", "")
    for prefix in (currency, get_currency_symbol(currency, "en"), "$", "£", "€", "¥"):
        cleaned = cleaned.removeprefix(prefix).strip()
    pattern = r"\d{1,9}" + (rf"(\.\d{{1,{exp}}})?" if exp else "")
    if not re.fullmatch(pattern, cleaned):
        raise ValueError(
            f"Enter an amount like {amount_example(currency)}." if exp else "Enter a whole amount."
        )
    major, _, minor = cleaned.partition(".")
    return int(major) * 10**exp + (int(minor.ljust(exp, "0")) if minor else 0)


def meridiem(moment: datetime | time) -> str:
    """ "am" or "pm", lower case: how the product writes the half of the day, everywhere."""
    return "am" if moment.hour < 12 else "pm"


def clock_time(moment: datetime | time, space: str = " ") -> str:
    """ "2:30 pm": the one way a time of day is written (12-hour clock, lower-case am/pm).
    `space` may be a no-break space where "2:30" and "pm" must not part at a line end."""
    return f"{moment.hour % 12 or 12}:{moment.minute:02d}{space}{meridiem(moment)}"


def local_time(value: datetime | None, tz: str, fmt: str = "%a %-d %b %Y, %-I:%M %p") -> str:
    """An instant in the zone `tz`, by `fmt`; its "%p" is `meridiem`'s "am"/"pm"."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(tz))
    return local.strftime(fmt.replace("%p", meridiem(local)))


def arrival_between(start: datetime, end: datetime, tz: str) -> str:
    """ "arriving between 8:00 and 10:00 am" (the meridiem once when both share it)."""
    zone = ZoneInfo(tz)
    first, last = start.astimezone(zone), end.astimezone(zone)

    if meridiem(first) == meridiem(last):
        return f"arriving between {clock_time(first)[:-3]} and {clock_time(last)}"
    return f"arriving between {clock_time(first)} and {clock_time(last)}"


def booking_when(booking: Any, tz: str, fmt: str = "%a %-d %b %Y, %-I:%M %p") -> str:
    """When a booking is due, as people read it: its start in `fmt`, or for a booking by
    arrival window the day and "arriving between 8:00 and 10:00 am"."""
    start, end = (
        getattr(booking, "window_starts_at", None),
        getattr(booking, "window_ends_at", None),
    )
    if start is None or end is None:
        return local_time(booking.starts_at, tz, fmt)
    day = start.astimezone(ZoneInfo(tz)).strftime("%a %-d %b")
    return f"{day}, {arrival_between(start, end, tz)}"


def slot_when(slot: Any, tz: str, fmt: str = "%A %-d %B, %-I:%M %p") -> str:
    """A widget slot as `booking_when` says a booking: a window as "arriving between …"."""
    if not getattr(slot, "window", False):
        return local_time(slot.starts_at_utc, tz, fmt)
    day = slot.starts_at_utc.astimezone(ZoneInfo(tz)).strftime("%A %-d %B")
    return f"{day}, {arrival_between(slot.starts_at_utc, slot.ends_at_utc, tz)}"


def window_label(slot: Any, tz: str) -> str:
    """A window's button: "8:00 – 10:00 am"; an exact slot's: "8:00 am"."""
    if not getattr(slot, "window", False):
        return local_time(slot.starts_at_utc, tz, "%-I:%M %p")
    return (
        arrival_between(slot.starts_at_utc, slot.ends_at_utc, tz)
        .removeprefix("arriving between ")
        .replace(" and ", " – ")
    )


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["phone"] = display_phone
    app.jinja_env.filters["when"] = booking_when
    app.jinja_env.filters["slot_when"] = slot_when
    app.jinja_env.filters["slot_label"] = window_label


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    """A CSV cell: a spreadsheet runs text starting with = + - @ as a formula; a leading quote
    defuses it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_line(row: Sequence[object]) -> str:
    """One CSV line (with its line end), each cell through `spreadsheet_cell`."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([spreadsheet_cell(cell) for cell in row])
    return buffer.getvalue()
