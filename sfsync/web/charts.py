"""Server-rendered SVG charts of a sync's run history: no JavaScript, no chart library, no CDN.

- :func:`history_chart`: the last runs of one sync, oldest to newest: a stacked bar per run (created,
  updated, rejected), a failed or interrupted run marked in red, and its duration as a line on a second
  axis. Each bar links to its run and has a tooltip (``<title>``) with the numbers.
- :func:`sparkline`: a small trend per sync for the syncs page: rows sent per run, the rejected part red.

Everything is escaped; the SVG is inline in the page, so it reads without JavaScript and prints well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from sfsync.state import RunRecord, RunStatus

CREATED = "#137333"
UPDATED = "#0b62d6"
REJECTED = "#b3261e"
FAILED_MARK = "#b3261e"
DURATION = "#a15c00"
GRID = "#e3e6eb"
TEXT = "#6b7280"
SVG_NS = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class ChartSize:
    """Pixel geometry of the history chart (named so a page can ask for another size)."""

    width: int = 760
    height: int = 220
    left: int = 56  # room for the count axis
    right: int = 52  # room for the duration axis
    top: int = 16
    bottom: int = 42  # run ids and the legend


SMALL_COUNT_TOPS = (4, 8, 12, 20, 40, 60, 80, 100)
"""Tops of the count axis below 100: each splits into four whole-number ticks."""


def _nice_count(value: float) -> float:
    """A round top of the count axis at or above ``value`` whose quarters are whole numbers."""
    for top in SMALL_COUNT_TOPS:
        if top >= value:
            return float(top)
    power = 100.0
    while True:
        for step in (1, 2, 4, 8):
            if step * power >= value:
                return step * power
        power *= 10


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of 10)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _count(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000:
        return f"{n / 1_000:g}k"
    return f"{n:g}"


def _seconds(s: float) -> str:
    return f"{s:g} s" if s < 90 else f"{s / 60:.0f} min"


def _tooltip(run: RunRecord) -> str:
    c = run.counts
    took = f", {run.duration_s:.1f} s" if run.duration_s is not None else ""
    return (
        f"run {run.id} ({run.status.value}, {run.started_at:%Y-%m-%d %H:%M} UTC): {c.created:,} created, "
        f"{c.updated:,} updated, {c.rejected:,} rejected{took}"
    )


def _axes(g: ChartSize, top_count: float, top_secs: float) -> list[str]:
    """Grid lines, the count axis (left) and the duration axis (right)."""
    plot_w, plot_h = g.width - g.left - g.right, g.height - g.top - g.bottom
    out = []
    for i in range(5):
        y = g.top + plot_h * i / 4
        out.append(f'<line x1="{g.left}" y1="{y:.1f}" x2="{g.left + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        label = _count(top_count * (4 - i) / 4)
        out.append(
            f'<text x="{g.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{TEXT}">{label}</text>'
        )
        secs = _seconds(top_secs * (4 - i) / 4)
        out.append(
            f'<text x="{g.left + plot_w + 6}" y="{y + 4:.1f}" font-size="11" fill="{DURATION}">{secs}</text>'
        )
    return out


def _bar(run: RunRecord, x: float, width: float, base: float, plot_h: float, top_count: float) -> list[str]:
    """One run's stacked bar (created, updated, rejected from the bottom up) and its failure mark."""
    out = []
    y = base
    c = run.counts
    for value, color, kind in (
        (c.created, CREATED, "created"),
        (c.updated, UPDATED, "updated"),
        (c.rejected, REJECTED, "rejected"),
    ):
        h = plot_h * value / top_count
        if h > 0:
            y -= h
            out.append(
                f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{color}"/>'
            )
    if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        out.append(
            f'<rect class="failed" x="{x:.1f}" y="{base + 2:.1f}" width="{width:.1f}" height="4" '
            f'fill="{FAILED_MARK}"/>'
        )
    return out


def _legend(g: ChartSize) -> list[str]:
    legend_y = g.height - 6
    x = g.left
    out = []
    for label, color in (
        ("created", CREATED),
        ("updated", UPDATED),
        ("rejected", REJECTED),
        ("duration", DURATION),
    ):
        out.append(f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{legend_y}" font-size="11" fill="{TEXT}">{label}</text>')
        x += 80
    out.append(f'<text x="{x}" y="{legend_y}" font-size="11" fill="{TEXT}">run id below each bar</text>')
    return out


def history_chart(runs: Sequence[RunRecord], size: ChartSize | None = None) -> Markup:
    """The runs (any order; drawn oldest first) as stacked bars with a duration line."""
    g = size or ChartSize()
    done = sorted((r for r in runs if r.finished), key=lambda r: r.id)
    if not done:
        return Markup('<p class="muted" data-test="chart-empty">No finished runs yet.</p>')
    plot_w, plot_h = g.width - g.left - g.right, g.height - g.top - g.bottom
    top_count = _nice_count(max(r.counts.sent for r in done))
    top_secs = _nice(max((r.duration_s or 0.0) for r in done))
    slot = plot_w / len(done)
    bar_w = max(2.0, min(28.0, slot * 0.7))
    base = g.top + plot_h
    parts = [
        f'<svg xmlns="{SVG_NS}" class="chart" role="img" viewBox="0 0 {g.width} {g.height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" data-test="history-chart" data-runs="{len(done)}">',
        f"<title>Last {len(done)} runs: rows created, updated and rejected, and duration</title>",
        *_axes(g, top_count, top_secs),
    ]
    label_every = max(1, len(done) // 10)
    line: list[tuple[float, float]] = []
    for i, run in enumerate(done):
        x = g.left + slot * i + (slot - bar_w) / 2
        parts.append(
            f'<a href="/runs/{run.id}" data-run="{run.id}" data-status="{run.status.value}">'
            f"<title>{escape(_tooltip(run))}</title>"
        )
        parts += _bar(run, x, bar_w, base, plot_h, top_count)
        # an invisible full-height target, so thin or empty bars can still be hovered and clicked
        parts.append(
            f'<rect x="{g.left + slot * i:.1f}" y="{g.top}" width="{slot:.1f}" height="{plot_h}" '
            'fill="transparent"/></a>'
        )
        if run.duration_s is not None:
            line.append((x + bar_w / 2, base - plot_h * run.duration_s / top_secs))
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{base + 18}" text-anchor="middle" font-size="10" '
                f'fill="{TEXT}">{run.id}</text>'
            )
    if line:
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in line)
        parts.append(
            f'<polyline class="duration" points="{points}" fill="none" stroke="{DURATION}" '
            'stroke-width="1.5"/>'
        )
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{DURATION}"/>' for px, py in line]
    parts += _legend(g)
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(runs: Sequence[RunRecord], width: int = 120, height: int = 26) -> Markup:
    """Rows sent per run (the rejected part red; a failed run a red tick), oldest to newest."""
    done = sorted((r for r in runs if r.finished), key=lambda r: r.id)
    if not done:
        return Markup('<span class="muted">no runs</span>')
    top = max(r.counts.sent for r in done) or 1
    slot = width / len(done)
    bar = max(1.0, slot - 1)
    parts = [
        f'<svg xmlns="{SVG_NS}" class="spark" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" data-test="sparkline" data-runs="{len(done)}">'
        f"<title>Last {len(done)} runs: rows sent (rejected in red)</title>"
    ]
    for i, run in enumerate(done):
        x = i * slot
        c = run.counts
        sent_h = max(1.0, (height - 2) * c.sent / top) if c.sent else 1.0
        rej_h = (height - 2) * c.rejected / top
        color = "#c4c9d1" if not c.sent else UPDATED
        if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            color, sent_h = REJECTED, height - 2.0
        parts.append(f"<g><title>{escape(_tooltip(run))}</title>")
        parts.append(
            f'<rect x="{x:.1f}" y="{height - sent_h:.1f}" width="{bar:.1f}" height="{sent_h:.1f}" '
            f'fill="{color}"/>'
        )
        if rej_h > 0 and run.status not in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            parts.append(
                f'<rect class="rejected" x="{x:.1f}" y="{height - rej_h:.1f}" width="{bar:.1f}" '
                f'height="{rej_h:.1f}" fill="{REJECTED}"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["SVG_NS", "ChartSize", "history_chart", "sparkline"]
