"""Percentages as the dashboard's forms and pages show them, in basis points without floats."""

from __future__ import annotations

import re

PERCENT_RE = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?")


def parse_percent(text: str) -> int:
    """ "12.5" -> 1250 basis points, without floats; ValueError for anything else."""
    cleaned = text.strip().rstrip("%").strip()
    match = PERCENT_RE.fullmatch(cleaned)
    if not match:
        raise ValueError("Enter a percentage like 25 or 12.5.")
    whole, fraction = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def format_percent(bps: int) -> str:
    """1250 -> "12.5"; 2500 -> "25"."""
    whole, rest = divmod(bps, 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") if rest else str(whole)
