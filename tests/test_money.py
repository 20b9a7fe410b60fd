"""Integer money: percentages round half up, fees never exceed the amount, deposits."""

import pytest

from peepopay.formatting import format_money, parse_money
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
    [("120", "NZD", 12000), ("1,234.5", "NZD", 123450), ("$0.99", "AUD", 99), ("500", "JPY", 500)],
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
