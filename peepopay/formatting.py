"""Money and time as people read them: the tradie's currency and time zone."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"})
SYMBOLS = {"NZD": "$", "AUD": "$", "USD": "$", "CAD": "$", "GBP": "£", "EUR": "€"}


def minor_exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL else 2


def format_money(amount_minor: int | None, currency: str) -> str:
    """12345, "NZD" -> "$123.45"; no floats on the way."""
    if amount_minor is None:
        return "—"
    currency = currency.upper()
    sign = "-" if amount_minor < 0 else ""
    amount = abs(amount_minor)
    exp = minor_exponent(currency)
    major, minor = divmod(amount, 10**exp) if exp else (amount, 0)
    number = f"{major:,}" + (f".{minor:0{exp}d}" if exp else "")
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency} {number}"


def parse_money(text: str, currency: str) -> int:
    """ "1,234.50" -> 123450 minor units; ValueError with a message a person can act on."""
    exp = minor_exponent(currency)
    cleaned = text.strip().replace(",", "").lstrip("$£€").strip()
    pattern = r"\d{1,9}" + (rf"(\.\d{{1,{exp}}})?" if exp else "")
    if not re.fullmatch(pattern, cleaned):
        raise ValueError("Enter an amount like 120 or 120.50." if exp else "Enter a whole amount.")
    major, _, minor = cleaned.partition(".")
    return int(major) * 10**exp + (int(minor.ljust(exp, "0")) if minor else 0)


def local_time(value: datetime | None, tz: str, fmt: str = "%a %-d %b %Y, %-I:%M %p") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt).replace("AM", "am").replace("PM", "pm")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["localtime"] = local_time
