"""A small inline SVG line chart (no JavaScript, no external assets): telemetry over time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640, 160
PAD_L, PAD_R, PAD_T, PAD_B = 48, 12, 22, 24


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def line_chart(points: Sequence[tuple[float, float | None]], label: str, css_class: str = "") -> str:
    """An SVG polyline of ``(epoch seconds, value)``; missing values break nothing (they are skipped)."""
    pts = [(float(x), float(y)) for x, y in points if y is not None]
    title = escape(label)
    cls = escape(css_class)
    head = (f'<svg class="chart {cls}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">'
            f'<title>{title}</title><text x="{PAD_L}" y="14" class="chart-label">{title}</text>')
    if not pts:
        return head + "</svg>"
    x0, x1 = pts[0][0], pts[-1][0]
    span = max(x1 - x0, 1.0)
    top = _nice_max(max(y for _, y in pts))
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + (x - x0) / span * plot_w

    def sy(y: float) -> float:
        return PAD_T + plot_h - min(max(y, 0.0), top) / top * plot_h

    parts = [head]
    for frac in (0.0, 0.5, 1.0):
        y = PAD_T + plot_h - frac * plot_h
        value = top * frac
        shown = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
        parts.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" y2="{y:.1f}" class="chart-grid"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-axis">{shown}</text>')
    for x, anchor in ((x0, "start"), (x1, "end")):
        stamp = time.strftime("%m-%d %H:%M", time.localtime(x))
        parts.append(f'<text x="{sx(x):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" class="chart-axis">{stamp}</text>')
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    parts.append(f'<polyline points="{coords}" class="chart-line" fill="none"/>')
    lx, ly = pts[-1]
    parts.append(f'<circle cx="{sx(lx):.1f}" cy="{sy(ly):.1f}" r="3" class="chart-dot"/></svg>')
    return "".join(parts)
