"""Integer money: percentages round half up, fees never exceed the amount, deposits."""

import pytest

from peepopay.formatting import format_money, minor_exponent, parse_money, plain_amount
from peepopay.money import application_fee, deposit_for, percent_of
from peepopay.scheduling.models import Service


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (10000, 250, 250),
        (199, 250, 5),
        (20, 250, 1),
        (19, 250, 0),
        (5000, 2500, 1250),
        (1, 5000, 1),
    ],
)
def test_percent_of_rounds_half_up(amount, bps, expected):
    assert percent_of(amount, bps) == expected


def test_fee_never_above_amount():
    assert application_fee(3, 20000) == 3
    assert application_fee(10000, 250) == 250


@pytest.mark.parametrize(
    ("deposit_type", "value", "price", "expected"),
    [
        ("fixed", 5000, 20000, 5000),
        ("fixed", 5000, None, 5000),
        ("fixed", 30000, 20000, 20000),
        ("percentage", 2500, 24000, 6000),
        ("percentage", 3333, 100, 33),
    ],
)
def test_deposit_for(deposit_type, value, price, expected):
    service = Service(deposit_type=deposit_type, deposit_value=value, price_minor=price)
    assert deposit_for(service) == expected


def test_percentage_deposit_needs_price():
    with pytest.raises(ValueError, match="needs a price"):
        deposit_for(Service(deposit_type="percentage", deposit_value=2500, price_minor=None))


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("120", "NZD", 12000),
        ("120.50", "NZD", 12050),
        ("$120.50", "NZD", 12050),
        ("NZ$120.50", "NZD", 12050),
        ("1,234.5", "NZD", 123450),
        ("$0.99", "AUD", 99),
        ("500", "JPY", 500),
        ("¥500", "JPY", 500),
    ],
)
def test_parse_money(text, currency, minor):
    assert parse_money(text, currency) == minor


@pytest.mark.parametrize("text", ["", "abc", "-5", "1.234", "1.2.3", "12.5"])
def test_parse_money_refuses(text):
    currency = "JPY" if text == "12.5" else "NZD"
    with pytest.raises(ValueError, match="Enter"):
        parse_money(text, currency)


def test_format_money():
    assert format_money(123450, "NZD") == "$1,234.50"
    assert format_money(500, "JPY") == "JPY 500"
    assert format_money(99, "GBP") == "£0.99"
    assert format_money(None, "NZD") == "—"
    assert format_money(-5000, "EUR") == "\u2212€50.00"
    # The product's own currencies keep the symbol people see at home: "$", not "NZ$" or "A$".
    assert [format_money(100, c) for c in ("AUD", "USD", "CAD")] == ["$1.00"] * 3


def test_currency_precision_comes_from_iso_4217():
    assert [minor_exponent(c) for c in ("NZD", "jpy", "KRW", "BHD")] == [2, 0, 0, 3]
    assert format_money(1234567, "KRW") == "KRW 1,234,567"
    assert format_money(1500, "BHD") == "BHD 1.500"


def test_plain_amount_for_spreadsheets_and_fields():
    assert plain_amount(123450, "NZD") == "1234.50"
    assert plain_amount(500, "JPY") == "500"
    assert plain_amount(None, "NZD") == ""
