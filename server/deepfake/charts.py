"""The per-frame timeline of a check as inline SVG: no script, no CDN, readable without colour.

x is the frame's time in the video, y the fake score of its highest-scoring face (0 at the bottom,
1 at the top). The verdict bands are shaded, the video's probability is a dashed line, frames
without a face are ticks on the axis (a gap in the line, not a zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28


@dataclass(frozen=True)
class Timeline:
    svg: str
    points: int  # frames drawn with a score
    gaps: int  # frames without a face


def _x(value: float, span: float) -> float:
    return LEFT + (value / span if span else 0.5) * (WIDTH - LEFT - RIGHT)


def _y(score: float) -> float:
    return TOP + (1.0 - score) * (HEIGHT - TOP - BOTTOM)


def timeline_svg(
    timeline: list[dict[str, Any]],
    probability: float | None,
    real_below: float = 0.3,
    fake_above: float = 0.7,
) -> Timeline:
    times = [float(point["time_s"]) for point in timeline]
    span = max(times) if times and max(times) > 0 else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="deepfake-timeline" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="timeline-title">',
        '<title id="timeline-title">Fake score of each sampled frame over time</title>',
        f'<rect x="{LEFT}" y="{_y(1):.1f}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{_y(fake_above) - _y(1):.1f}" fill="#f8d7d3" class="band-fake"/>',
        f'<rect x="{LEFT}" y="{_y(real_below):.1f}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{_y(0) - _y(real_below):.1f}" fill="#d9efdc" class="band-real"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        y = _y(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#bbb"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick:.1f}</text>'
        )
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11">'
        f"{'time (s), 0 to ' + format(span, '.1f') if span else 'single frame'}</text>"
    )
    segments: list[list[str]] = [[]]
    drawn = gaps = 0
    for point, time_s in zip(timeline, times, strict=True):
        x = _x(time_s, span)
        if point.get("score") is None:
            gaps += 1
            segments.append([])
            parts.append(
                f'<line x1="{x:.1f}" y1="{_y(0) - 4:.1f}" x2="{x:.1f}" y2="{_y(0) + 4:.1f}" stroke="#888" '
                'class="no-face"><title>no face</title></line>'
            )
            continue
        drawn += 1
        y = _y(float(point["score"]))
        segments[-1].append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f4e8c" class="frame-score">'
            f"<title>{time_s:.2f} s: {float(point['score']):.3f} "
            f"({point.get('faces', 0)} face(s))</title></circle>"
        )
    for segment in segments:
        if len(segment) > 1:
            parts.append(
                f'<polyline points="{" ".join(segment)}" fill="none" stroke="#1f4e8c" stroke-width="1.5"/>'
            )
    if probability is not None:
        y = _y(probability)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#b3261e" '
            f'stroke-dasharray="6 4" class="probability">'
            f"<title>video probability {probability:.3f}</title></line>"
        )
    parts.append("</svg>")
    return Timeline("".join(parts), drawn, gaps)
