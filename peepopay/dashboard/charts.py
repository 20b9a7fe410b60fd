"""Server-drawn bar charts: geometry for an accessible inline <svg>, no browser library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 60, 24, 12, 30


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    label: str  # the x-axis label, empty where it would crowd its neighbours


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    bars: list[Bar]
    gridlines: list[Gridline]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[int],
    fmt: Callable[[int], str],
    label_every: int = 3,
    least_top: int = 1,
) -> Chart:
    """Bars for `values` scaled to a round maximum (at least `least_top`), with four gridlines
    labelled by `fmt`."""
    top = nice_ceiling(max([*values, least_top]))
    # Gridlines at whole-number steps: fifths where the top allows, else quarters or halves.
    lines = next(n for n in (5, 4, 2, 1) if top % n == 0)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    bars = []
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        bars.append(
            Bar(
                x=round(LEFT + n * slot + slot * 0.15, 1),
                y=round(TOP + plot_h - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
                title=f"Week of {label}: {fmt(value)}",
                label=label if (len(values) - 1 - n) % label_every == 0 else "",
            )
        )
    gridlines = [
        Gridline(round(TOP + plot_h - plot_h * k / lines, 1), fmt(top * k // lines))
        for k in range(lines + 1)
    ]
    return Chart(chart_id, title, description, bars, gridlines)
