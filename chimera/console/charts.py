"""Charts drawn on the server as SVG (escaped text, no script): lines over time, bars."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

PALETTE = ("#3b6fd8", "#e07b39", "#2e9d6b", "#b04ac4", "#c9a227")


def _nice_max(value: float) -> float:
    """A round ceiling for an axis (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def line_chart(
    series: dict[str, Sequence[tuple[datetime, float]]],
    *,
    width: int = 560,
    height: int = 180,
    label: str = "",
) -> Markup:
    """One line per named series of (time, value) points, with a y axis and a legend."""
    points = [p for values in series.values() for p in values]
    if not points:
        return Markup('<p class="muted">no data yet</p>')
    left, right, top, bottom = 44, 12, 12, 28
    t0 = min(t for t, _ in points).timestamp()
    t1 = max(t for t, _ in points).timestamp()
    span = max(t1 - t0, 1.0)
    ymax = _nice_max(max(v for _, v in points))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: datetime) -> float:
        return left + (t.timestamp() - t0) / span * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / ymax * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}">'
    ]
    for i in range(5):
        value = ymax * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'class="grid"/>'
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    first = min(t for t, _ in points)
    last = max(t for t, _ in points)
    parts.append(f'<text x="{left}" y="{height - 8}">{first:%H:%M:%S}</text>')
    parts.append(
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end">{last:%H:%M:%S}</text>'
    )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in values)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for t, v in values:
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>')
        parts.append(
            f'<rect x="{left + 8 + n * 90}" y="{top}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + 22 + n * 90}" y="{top + 9}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it was escaped


def bar_chart(counts: dict[str, int], *, width: int = 320, label: str = "") -> Markup:
    """Horizontal bars, one per key, with its count."""
    if not counts:
        return Markup('<p class="muted">none</p>')
    row, left = 22, 130
    height = row * len(counts) + 4
    top = max(counts.values()) or 1
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    for i, (name, count) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        w = max(2.0, (width - left - 40) * count / top)
        yy = i * row + 4
        parts.append(
            f'<text x="{left - 8}" y="{yy + 13}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="16" rx="3" '
            f'class="bar state-{escape(name)}"/>'
            f'<text x="{left + w + 6:.1f}" y="{yy + 13}">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it was escaped


def meter(value: float, maximum: float, *, width: int = 90) -> Markup:
    """A small inline bar for a value against the largest of its column."""
    share = 0.0 if maximum <= 0 else min(value / maximum, 1.0)
    return Markup(  # noqa: S704 - numbers only
        f'<svg class="meter" viewBox="0 0 {width} 8" width="{width}" height="8" '
        'aria-hidden="true">'
        f'<rect width="{width}" height="8" rx="4" class="meter-bg"/>'
        f'<rect width="{max(share * width, 2):.1f}" height="8" rx="4" class="meter-fg"/></svg>'
    )
