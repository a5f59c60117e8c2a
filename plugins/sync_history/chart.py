"""Inline SVG charts on a real time axis: each run is placed by its start, on a log scale.

A linear scale let one 2,655-create run flatten every normal run to nothing; on ``log10(1 + n)`` a run of 3
and a run of 3,000 are both readable, and the ticks (1, 10, 100, ...) say which scale it is. Runs that failed
or were cancelled are marked under the axis at their start (a red or grey triangle), whether they wrote
anything or not. No JavaScript: each bar and mark has a ``<title>`` tooltip with the run id and the number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from sync_history.runs import RunSummary

WIDTH, HEIGHT = 460, 150
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 8, 34
#: Run statuses marked under the axis, and their colour.
MARKED_STATUSES = {"failed": "#c53030", "cancelled": "#718096"}
PLANNED_OPACITY = 0.35
#: A trend line is broken where no run started for this long (the schedule runs every 30 minutes).
LINE_GAP = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Series:
    """One thing drawn per run: ``value(run)`` is the number (``None``: nothing for that run)."""

    name: str
    colour: str
    value: Callable[[RunSummary], int | None]


@dataclass(frozen=True)
class TimeAxis:
    """Maps instants to x; spans the runs shown (or the view's date range, when it has one)."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def over(cls, runs: Sequence[RunSummary], start: dt.datetime | None = None,
             end: dt.datetime | None = None) -> TimeAxis:
        times = [t for t in (_time(r) for r in runs) if t is not None]
        first = start or (min(times) if times else dt.datetime.now(dt.UTC))
        last = end or (max(times) if times else first)
        if last <= first:
            first, last = first - dt.timedelta(hours=1), last + dt.timedelta(hours=1)
        return cls(first, last)

    def x(self, when: dt.datetime) -> float:
        share = (when - self.start) / (self.end - self.start)
        return LEFT + min(max(share, 0.0), 1.0) * (WIDTH - LEFT - RIGHT)

    def ticks(self, count: int = 5) -> list[dt.datetime]:
        step = (self.end - self.start) / (count - 1)
        return [self.start + step * i for i in range(count)]

    def label(self, when: dt.datetime) -> str:
        """``12-07 14:30`` over less than three days, ``2026-12-07`` beyond."""
        return when.strftime("%m-%d %H:%M") if self.end - self.start < dt.timedelta(days=3) else when.strftime("%Y-%m-%d")


def _time(run: RunSummary) -> dt.datetime | None:
    return dt.datetime.fromisoformat(run.started_at) if run.started_at else None


def log_y(n: float, top: float) -> float:
    """y of ``n`` on the log scale whose axis reaches ``top`` (0 sits on the axis)."""
    plot = HEIGHT - TOP - BOTTOM
    return TOP + plot - plot * math.log10(1 + max(n, 0)) / math.log10(1 + max(top, 1))


def _log_ticks(top: int) -> list[int]:
    """0, 1, 10, 100 ... up to ``top``; 1 is left out when it would sit on the 0 (four decades or more)."""
    ticks, n = ([0] if top >= 10_000 else [0, 1]), 10
    while n <= top:
        ticks.append(n)
        n *= 10
    return ticks


def time_chart(chart_id: str, title: str, runs: Sequence[RunSummary], series: Sequence[Series], axis: TimeAxis,
               *, lines: bool = False) -> str:
    """A chart of ``series`` per run on ``axis``: bars side by side (or ``lines`` for a trend), log scale."""
    values = [(s, run, s.value(run)) for s in series for run in runs]
    top = max([v for _, _, v in values if v is not None] + [1])
    top_tick = 10 ** math.ceil(math.log10(top + 1))
    bar_w = 3.0
    marks: list[str] = []
    for i, s in enumerate(series):
        points: list[tuple[dt.datetime, str]] = []
        for run in runs:
            when, n = _time(run), s.value(run)
            if when is None or n is None:
                continue
            x, y = axis.x(when), log_y(n, top_tick)
            label = escape(f"{run.run_id} ({run.started_at[:16] if run.started_at else ''}): {n} {s.name}"
                           + (" (planned)" if run.dry_run else ""))
            opacity = PLANNED_OPACITY if run.dry_run else 1.0
            if lines:
                points.append((when, f"{x:.1f},{y:.1f}"))
                marks.append(f"<circle cx=\"{x:.1f}\" cy=\"{y:.1f}\" r=\"2\" fill=\"{s.colour}\" "
                             f"fill-opacity=\"{opacity}\" data-run-id=\"{escape(run.run_id)}\" "
                             f"data-series=\"{escape(s.name)}\" data-value=\"{n}\"><title>{label}</title></circle>")
            elif n > 0:
                offset = (i - (len(series) - 1) / 2) * bar_w
                base = log_y(0, top_tick)
                marks.append(f"<rect x=\"{x + offset - bar_w / 2:.1f}\" y=\"{y:.1f}\" width=\"{bar_w}\" "
                             f"height=\"{base - y:.1f}\" fill=\"{s.colour}\" fill-opacity=\"{opacity}\" "
                             f"data-run-id=\"{escape(run.run_id)}\" data-series=\"{escape(s.name)}\" "
                             f"data-value=\"{n}\"><title>{label}</title></rect>")
        for segment in _segments(points):
            marks.insert(0, f"<polyline points=\"{' '.join(segment)}\" fill=\"none\" "
                            f"stroke=\"{s.colour}\" stroke-width=\"1\" stroke-opacity=\"0.7\"/>")
    legend = "".join(f"<span><span class=\"swatch\" style=\"background:{s.colour}\"></span>{escape(s.name)}</span>"
                     for s in series)
    return (f"<div class=\"chart\"><h2>{escape(title)} <small>(log scale)</small></h2>"
            f"<svg id=\"{chart_id}\" role=\"img\" aria-label=\"{escape(title)} per run, log scale, by start time\" "
            f"width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" data-scale=\"log\">"
            f"{_axes(axis, top_tick)}{''.join(marks)}{_status_marks(runs, axis)}</svg>"
            f"<p class=\"legend\">{legend}</p></div>")


def _segments(points: list[tuple[dt.datetime, str]]) -> list[list[str]]:
    """The trend line's pieces, oldest first: broken where no run started for :data:`LINE_GAP` (a paused
    schedule), so that a line never suggests a trend over days without runs."""
    pieces: list[list[str]] = []
    last: dt.datetime | None = None
    for when, point in sorted(points):
        if last is None or when - last > LINE_GAP:
            pieces.append([])
        pieces[-1].append(point)
        last = when
    return [piece for piece in pieces if len(piece) > 1]


def _axes(axis: TimeAxis, top: int) -> str:
    base = log_y(0, top)
    parts = [f"<line x1=\"{LEFT}\" y1=\"{base:.1f}\" x2=\"{WIDTH - RIGHT}\" y2=\"{base:.1f}\" stroke=\"#a0aec0\"/>"]
    for n in _log_ticks(top):
        y = log_y(n, top)
        parts.append(f"<text class=\"y-tick\" x=\"{LEFT - 4}\" y=\"{y + 3:.1f}\" font-size=\"9\" text-anchor=\"end\" "
                     f"fill=\"#4a5568\">{n:,}</text>")
        if n:
            parts.append(f"<line x1=\"{LEFT}\" y1=\"{y:.1f}\" x2=\"{WIDTH - RIGHT}\" y2=\"{y:.1f}\" stroke=\"#edf2f7\"/>")
    ticks = axis.ticks()
    for i, when in enumerate(ticks):
        x = axis.x(when)
        anchor = "end" if i == len(ticks) - 1 else "middle"  # the last label would be cut at the right edge
        parts.append(f"<text class=\"x-tick\" x=\"{x:.1f}\" y=\"{HEIGHT - 4}\" font-size=\"9\" text-anchor=\"{anchor}\" "
                     f"fill=\"#4a5568\" data-time=\"{when.isoformat()}\">{escape(axis.label(when))}</text>")
    return "".join(parts)


def _status_marks(runs: Sequence[RunSummary], axis: TimeAxis) -> str:
    """A triangle under the axis at the start of every failed or cancelled run."""
    y = HEIGHT - BOTTOM + 4
    marks = []
    for run in runs:
        when = _time(run)
        colour = MARKED_STATUSES.get(run.status)
        if when is None or colour is None:
            continue
        x = axis.x(when)
        why = f"{run.run_id}: {run.status}"
        marks.append(f"<path class=\"run-mark\" d=\"M{x:.1f},{y:.1f} l-4,8 h8 z\" fill=\"{colour}\" "
                     f"data-run-id=\"{escape(run.run_id)}\" data-status=\"{run.status}\"><title>{escape(why)}</title>"
                     "</path>")
    return "".join(marks)
