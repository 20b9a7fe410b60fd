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


@pytest.mark.parametrize(
    ("stored", "country", "shown"),
    [
        ("+64215550456", "NZ", "021 555 0456"),
        ("+61412345678", "AU", "0412 345 678"),
        ("+61412345678", "NZ", "+61 412 345 678"),  # another country's number stays dialable
        ("", "NZ", ""),
        (None, "NZ", ""),
        ("not a number", "NZ", "not a number"),
    ],
)
def test_stored_numbers_are_shown_in_the_tradies_national_format(stored, country, shown):
    assert phones.display(stored, country) == shown
