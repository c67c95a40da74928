"""Tiny server-side line charts (SVG), so device pages need neither a CDN nor inline scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT, PAD = 600, 160, 24


@dataclass(frozen=True)
class Chart:
    points: str  # SVG polyline points; empty when there is nothing to draw
    low: float | None
    high: float | None
    start: datetime | None
    end: datetime | None
    width: int = WIDTH
    height: int = HEIGHT


def line_chart(times: Sequence[datetime], values: Sequence[float | None]) -> Chart:
    """Scale (time, value) pairs into the chart box; missing values are skipped."""
    pairs = [(t, float(v)) for t, v in zip(times, values, strict=True) if v is not None]
    if not pairs:
        return Chart("", None, None, None, None)
    start, end = pairs[0][0], pairs[-1][0]
    low, high = min(v for _, v in pairs), max(v for _, v in pairs)
    span_t = (end - start).total_seconds() or 1.0
    span_v = (high - low) or 1.0
    points = " ".join(
        f"{PAD + (t - start).total_seconds() / span_t * (WIDTH - 2 * PAD):.1f},"
        f"{HEIGHT - PAD - (v - low) / span_v * (HEIGHT - 2 * PAD):.1f}"
        for t, v in pairs
    )
    return Chart(points, low, high, start, end)
