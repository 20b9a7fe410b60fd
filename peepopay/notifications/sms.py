"""SMS bodies: E.164 numbers and texts kept within two segments."""

from __future__ import annotations

from typing import Any

from flask import render_template

# The GSM 03.38 default alphabet; the extension table's characters take two septets each.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
# Two concatenated segments: 2 × 153 septets in GSM-7, 2 × 67 UTF-16 units in UCS-2.
GSM_LIMIT = 306
UCS2_LIMIT = 134

# Characters people type that have a GSM-7 equivalent; swapping them keeps an SMS in GSM-7.
GSM_SUBSTITUTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)


def length(text: str) -> int:
    """Septets for GSM-7 text, UTF-16 code units for anything else."""
    if is_gsm(text):
        return sum(2 if c in GSM_EXTENDED else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def limit(text: str) -> int:
    return GSM_LIMIT if is_gsm(text) else UCS2_LIMIT


def fits(text: str) -> bool:
    return length(text) <= limit(text)


def fit(text: str) -> str:
    """Keep `text` within two segments: shorten the words, never the trailing link."""
    text = "\n".join(line.strip() for line in text.translate(GSM_SUBSTITUTES).strip().splitlines())
    if fits(text):
        return text
    head, sep, tail = text.rpartition("\n")
    if not (sep and tail.startswith(("http://", "https://")) and head):
        head, tail = text, ""
    ellipsis = "..." if is_gsm(head) else "\u2026"
    suffix = ellipsis + (f"\n{tail}" if tail else "")
    budget_text = head
    while budget_text and not fits(budget_text + suffix):
        cut = budget_text.rstrip()
        space = cut.rfind(" ", 0, len(cut) - 1)
        # Drop a word at a time while that leaves something; otherwise a character at a time.
        budget_text = cut[:space] if space > len(cut) // 2 else cut[:-1]
    result = budget_text.rstrip(" ,.;:-\n") + suffix
    if not fits(result):  # a link alone longer than two segments
        result = result[: limit(result) - 1]
        while not fits(result):
            result = result[:-1]
    return result


def render(template: str, context: dict[str, Any]) -> str:
    """Render `templates/sms/<template>.txt` and fit it into two segments."""
    return fit(render_template(f"sms/{template}.txt", **context))
