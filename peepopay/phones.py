"""Phone numbers: parsed in the owner's country, validated and stored in E.164 (+64211234567)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


def e164(number: str | None, country: str = "NZ") -> str | None:
    """The number in E.164, national numbers read in `country`; None when blank or invalid."""
    if not number or not number.strip():
        return None
    try:
        parsed = phonenumbers.parse(number, country.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def example(country: str) -> str | None:
    """A mobile number as people in `country` write it ("021 123 4567"), for error messages."""
    number = phonenumbers.example_number_for_type(
        country.upper(), phonenumbers.PhoneNumberType.MOBILE
    )
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


@lru_cache(maxsize=4096)  # lists and calendars show the same numbers on every page
def display(number: str | None, country: str = "NZ") -> str:
    """A stored number as people in `country` read it: national format ("021 123 4567") for
    a number of that country, international ("+61 412 345 678") for any other; as stored
    when it does not parse."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, country.upper() or None)
    except phonenumbers.NumberParseException:
        return number
    home = phonenumbers.country_code_for_region(country.upper())
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if parsed.country_code == home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)
