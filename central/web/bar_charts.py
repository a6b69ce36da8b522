"""Inline SVG bar charts for the 好差评 and report pages (no JavaScript, no external assets; the strict CSP
allows them): one horizontal bar per row, its value written beside it. Sits beside ``charts.line_chart``."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 640
ROW_H, PAD_T, PAD_B, LABEL_W, VALUE_W = 22, 24, 8, 150, 70


def bar_chart(rows: Sequence[tuple[str, float | None, str]], title: str, *, top: float = 1.0,
              css_class: str = "", warn_below: float | None = None) -> str:
    """``rows``: (label, value from 0 to ``top`` or None for no data, the text written beside the bar).
    A bar under ``warn_below`` gets the class ``bar-warn``."""
    h = PAD_T + PAD_B + ROW_H * max(1, len(rows))
    t = escape(title)
    parts = [f'<svg class="chart bars {escape(css_class)}" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" '
             f'role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>'
             f'<text x="4" y="15" class="chart-label">{t}</text>']
    plot_w = WIDTH - LABEL_W - VALUE_W
    top = top if top > 0 else 1.0
    for i, (label, value, text) in enumerate(rows):
        y = PAD_T + i * ROW_H
        shown = label if len(label) <= 12 else label[:11] + "…"
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 15}" text-anchor="end" class="chart-axis">'
                     f'<title>{escape(label)}</title>{escape(shown)}</text>')
        if value is not None:
            w = max(0.0, min(value, top)) / top * plot_w
            cls = "bar-warn" if warn_below is not None and value < warn_below else "bar"
            parts.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}" class="{cls}"/>')
        parts.append(f'<text x="{WIDTH - VALUE_W + 6}" y="{y + 15}" class="chart-axis">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
