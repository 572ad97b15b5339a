"""A small server-drawn SVG bar chart: messages sent and received per day.

Drawn as markup by the template engine (autoescaped like everything else), so it needs
no script, prints well, and reads out through its table twin for screen readers. The
SVG holds only the bars and grid lines and stretches to its box; the labels are HTML
text beside it (``ticks`` and ``labels`` as fractions of the plot), so they keep the
page's font size at 375 px and at 1280 px alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH = 640
HEIGHT = 200
PAD_LEFT = 0
PAD_BOTTOM = 0
PAD_TOP = 6


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    sent: int
    received: int


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    value: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]
    """(centre as a percentage of the width, text): every day, the phone layout hides some."""
    ticks: list[tuple[float, int]]
    """(y in SVG units, value); ``tick_percent`` gives the same as a percentage."""
    days: list[Day]
    empty: bool


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    step = 1
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return value


def daily_chart(days: list[Day], *, label_format: str = "%d/%m") -> Chart:
    top = _nice_max(max((max(d.sent, d.received) for d in days), default=0))
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(days))
    bar_w = max(2.0, slot * 0.36)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for i, d in enumerate(days):
        x0 = PAD_LEFT + i * slot + slot * 0.12
        for j, (kind, value) in enumerate((("sent", d.sent), ("received", d.received))):
            h = plot_h * value / top
            bars.append(
                Bar(
                    x=round(x0 + j * bar_w, 1),
                    y=round(PAD_TOP + plot_h - h, 1),
                    width=round(bar_w, 1),
                    height=round(h, 1),
                    kind=kind,
                    value=value,
                )
            )
        centre = PAD_LEFT + i * slot + slot / 2
        labels.append((round(100 * centre / WIDTH, 2), d.day.strftime(label_format)))
    ticks = [(round(PAD_TOP + plot_h - plot_h * k / 4, 1), top * k // 4) for k in range(5)]
    empty = all(d.sent == 0 and d.received == 0 for d in days)
    return Chart(WIDTH, HEIGHT, bars, labels, ticks, days, empty)


def tick_percent(y: float) -> float:
    """A tick's height from the top of the plot, as a percentage (for HTML labels)."""
    return round(100 * y / HEIGHT, 2)
