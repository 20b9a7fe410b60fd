"""WCAG 2 contrast: one function for the brand colour check and the widget's text colour."""

import pytest

from peepopay import colours


def test_luminance_and_ratio_match_wcag():
    assert colours.relative_luminance("#000") == 0
    assert colours.relative_luminance("#ffffff") == 1
    assert colours.contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert colours.contrast_ratio("#ffffff", "#000000") == pytest.approx(21)
    assert colours.contrast_ratio("#767676", colours.WHITE) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#1d4ed8", "#ffffff"),
        ("#000000", "#ffffff"),
        ("#ffeb3b", "#111827"),
        ("#777777", "#111827"),
    ],
)
def test_text_on_picks_the_more_readable(background, text):
    assert colours.text_on(background) == text


@pytest.mark.parametrize("text", ["", "#12", "blue", "#gggggg", "#1234567"])
def test_normalize_hex_refuses(text):
    with pytest.raises(ValueError):
        colours.normalize_hex(text)
