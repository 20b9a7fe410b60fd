"""Colours: hex parsing and WCAG 2 contrast, for the brand colour and the text drawn on it."""

from __future__ import annotations

import re

WHITE = "#ffffff"
BLACK = "#000000"
DARK_TEXT = "#111827"
HEX_RE = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def normalize_hex(text: str) -> str:
    """ "#ABC" or "aabbcc" -> "#aabbcc"; ValueError otherwise."""
    match = HEX_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(text)
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return "#" + digits


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black … 1 white)."""
    digits = normalize_hex(hex_colour)[1:]

    def channel(pair: str) -> float:
        c = int(pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(digits[i : i + 2]) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_on(background: str) -> str:
    """White or near-black, whichever reads better on `background`."""
    if contrast_ratio(background, WHITE) >= contrast_ratio(background, BLACK):
        return WHITE
    return DARK_TEXT
