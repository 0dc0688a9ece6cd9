"""A chart of numeric replies over days, laid out for an inline SVG drawn server-side.

Only numbers are computed here (no markup): the template draws them, autoescaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 44
"""Margins of the plot area, for the axes' labels."""


@dataclass(frozen=True, slots=True)
class ChartPoint:
    day: float
    """Days since the origin (the anchor, or the first answer)."""
    value: float
    label: str
    """What the point is, in words (its tooltip and its row in the table)."""
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True, slots=True)
class Tick:
    value: float
    position: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    points: list[ChartPoint]
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_label: str = "days"
    y_label: str = "value"
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def polyline(self) -> str:
        """The points joined, for ``<polyline points=...>``."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _step(span: float, wanted: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of 10): about ``wanted`` ticks on ``span``."""
    raw = max(span, 1e-9) / wanted
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def layout(points: list[ChartPoint], *, x_label: str, y_label: str) -> Chart | None:
    """Place the points in the plot area, with round ticks; None without any point."""
    if not points:
        return None
    chart = Chart([], x_label=x_label, y_label=y_label)
    days = [p.day for p in points]
    values = [p.value for p in points]
    x0, x1 = min(0.0, math.floor(min(days))), max(1.0, math.ceil(max(days)))
    y0 = min(0.0, math.floor(min(values)))
    y1 = max(y0 + 1.0, math.ceil(max(values)))
    x_step, y_step = max(1.0, _step(x1 - x0, 7)), _step(y1 - y0, 5)
    y1 = math.ceil(y1 / y_step) * y_step
    x1 = math.ceil(x1 / x_step) * x_step

    def px(day: float) -> float:
        return chart.left + (day - x0) / (x1 - x0) * (chart.right - chart.left)

    def py(value: float) -> float:
        return chart.bottom - (value - y0) / (y1 - y0) * (chart.bottom - chart.top)

    placed = [
        ChartPoint(p.day, p.value, p.label, px(p.day), py(p.value))
        for p in sorted(points, key=lambda p: p.day)
    ]
    x_ticks = [
        Tick(x0 + i * x_step, px(x0 + i * x_step), _number(x0 + i * x_step))
        for i in range(round((x1 - x0) / x_step) + 1)
    ]
    y_ticks = [
        Tick(y0 + i * y_step, py(y0 + i * y_step), _number(y0 + i * y_step))
        for i in range(round((y1 - y0) / y_step) + 1)
    ]
    return Chart(placed, x_ticks, y_ticks, x_label=x_label, y_label=y_label)
