"""Phone numbers: one parser for the customer form, the tradie profile, the API and SMS."""

import pytest

from peepopay import phones


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("021 555 0101", "NZ", "+64215550101"),
        ("+61 412 345 678", "NZ", "+61412345678"),
        ("0412 345 678", "AU", "+61412345678"),
        ("12", "NZ", None),
        ("", "NZ", None),
        ("not a number", "NZ", None),
    ],
)
def test_numbers_become_e164(raw, country, expected):
    assert phones.e164(raw, country) == expected


def test_example_is_a_national_mobile_number():
    assert phones.example("NZ") == "021 123 4567"
    assert phones.example("AU") == "0412 345 678"
