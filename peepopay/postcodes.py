"""Postcodes and service areas: codes in the country's format, areas of codes and ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Countries whose postcodes are plain numbers of a fixed length, so ranges make sense.
NUMERIC = {"NZ": 4, "AU": 4, "US": 5, "DK": 4, "NO": 4, "CH": 4, "AT": 4, "BE": 4, "DE": 5}
PATTERNS = {
    "GB": re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]?[0-9][A-Z]{2}"),
    "CA": re.compile(r"[A-Z][0-9][A-Z][0-9][A-Z][0-9]"),
    "IE": re.compile(r"[A-Z][0-9][0-9W][0-9A-Z]{4}"),
}
ANY = re.compile(r"[A-Z0-9]{3,10}")
RANGE = re.compile(r"([0-9]+)\s*[-–]\s*([0-9]+)")
SEPARATORS = re.compile(r"[,;\n]+")


def example(country: str) -> str:
    digits = NUMERIC.get(country.upper())
    if digits:
        return "1010"[:digits].ljust(digits, "0")
    return {"GB": "SW1A 1AA", "CA": "K1A 0B1", "IE": "D02 X285"}.get(country.upper(), "1010")


def normalise(raw: str, country: str) -> str | None:
    """The postcode in the country's format, upper case without spaces; None when it is not."""
    code = re.sub(r"\s+", "", raw or "").upper()
    digits = NUMERIC.get(country.upper())
    if digits:
        return code if re.fullmatch(rf"[0-9]{{{digits}}}", code) else None
    pattern = PATTERNS.get(country.upper(), ANY)
    return code if pattern.fullmatch(code) else None


@dataclass(frozen=True)
class Area:
    """Single codes and numeric ranges (both ends included); empty means open."""

    codes: frozenset[str] = frozenset()
    ranges: tuple[tuple[int, int], ...] = ()

    @property
    def is_open(self) -> bool:
        return not self.codes and not self.ranges

    def covers(self, code: str) -> bool:
        if self.is_open or code in self.codes:
            return True
        return code.isdigit() and any(low <= int(code) <= high for low, high in self.ranges)


class AreaProblem(ValueError):
    """The area text has an entry that is neither a postcode nor a range of them."""


def parse_area(text: str, country: str) -> Area:
    """`1010-1072, 2000` and the like; AreaProblem names the first entry that is neither."""
    codes: set[str] = set()
    ranges: list[tuple[int, int]] = []
    for entry in (e.strip() for e in SEPARATORS.split(text or "")):
        if not entry:
            continue
        if match := RANGE.fullmatch(entry):
            low, high = (normalise(g, country) for g in match.groups())
            if low is None or high is None or not low.isdigit() or int(low) > int(high):
                raise AreaProblem(f"“{entry}” is not a range of postcodes, like 1010-1072.")
            ranges.append((int(low), int(high)))
            continue
        code = normalise(entry, country)
        if code is None:
            raise AreaProblem(f"“{entry}” is not a postcode, like {example(country)}.")
        codes.add(code)
    return Area(frozenset(codes), tuple(ranges))


def area_of(text: str, country: str) -> Area:
    """The stored area; an entry that no longer parses (it was checked when saved) is skipped."""
    try:
        return parse_area(text, country)
    except AreaProblem:
        good = [e for e in SEPARATORS.split(text or "") if _parses(e, country)]
        return parse_area(",".join(good), country)


def _parses(entry: str, country: str) -> bool:
    try:
        parse_area(entry, country)
    except AreaProblem:
        return False
    return True
