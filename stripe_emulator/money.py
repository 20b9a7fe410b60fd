"""Amounts as text for messages and pages; amounts themselves stay integers of minor units."""

from __future__ import annotations

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "xaf"}
SYMBOLS = {"usd": "$", "aud": "$", "cad": "$", "nzd": "$", "sgd": "$", "eur": "€", "gbp": "£"}


def money(amount: int, currency: str) -> str:
    """`$12.50`, `12.50 CHF` or `500 JPY`."""
    number = str(amount) if currency in ZERO_DECIMAL else f"{amount // 100}.{amount % 100:02d}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"
