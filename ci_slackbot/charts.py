"""Charts drawn as PNG bytes with matplotlib's Agg backend.

Every function here is pure: it takes plain data (no session, no Slack) and
returns the bytes of a PNG, so it can be tested directly and run after the
ack, off the request path. Figures are built with `matplotlib.figure.Figure`
and rendered by the Agg canvas, never through `pyplot`: pyplot keeps global
state (the "current figure") that is not safe across Bolt's listener threads.

Whichever thread calls them, the charts are drawn on the process's one chart
thread (`ci_slackbot.chart_drawer`), one at a time: matplotlib is not
thread-safe, and drawing on many threads at once grew a worker's memory for good.
The caller waits for the bytes, `timeout` seconds at most (then `ChartTimeout`).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ci_slackbot import chart_drawer
from ci_slackbot.chart_drawer import DEFAULT_TIMEOUT
from ci_slackbot.domain.measurement import Direction, Point, format_number, is_percent_unit
from ci_slackbot.domain.periods import Period

__all__ = ["ChartSeries", "HeadlinePanel", "headline_chart", "indicator_chart", "period_x"]

# 9 × 5 inches at 110 dpi: 990 × 550 pixels, sharp in Slack's image preview and small to upload.
FIGURE_SIZE = (9.0, 5.0)
DPI = 110
# More lines than this and a chart stops being readable; the legend says how many were left out.
MAX_BREAKDOWN_SERIES = 8

ACTUAL_COLOR = "#1f3b73"
TRACK_COLOR = "#7a7a7a"
BASELINE_COLOR = "#6b6b6b"
TARGET_COLOR = "#d62728"
# Colour-blind-safe palette (Okabe–Ito), without the dark blue used for the actuals.
BREAKDOWN_COLORS = ("#e69f00", "#56b4e9", "#009e73", "#cc79a7", "#d55e00", "#0072b2", "#f0e442", "#999999")


@dataclass(frozen=True)
class ChartSeries:
    """One line on a chart, e.g. the values of one breakdown (`zip 75216`)."""

    label: str
    points: Sequence[Point]
    target: float | None = None  # this group's own target (targeted universalism), drawn as a dotted line


# The years a chart draws. Whatever the store holds (a value filed under 0001-01 before periods were
# checked, a baseline typed as 1026), a point outside them is left out and named in a footnote: matplotlib
# cannot place dates outside 0001–9999, and its margins and tick locator reach beyond a point's own date.
CHART_YEARS = (1900, 2199)


def _drawable(point: Point | None) -> bool:
    if point is None:
        return False
    return (
        CHART_YEARS[0] <= point.period.start.year
        and point.period.end.year <= CHART_YEARS[1]
        and (math.isfinite(point.value))
    )


def _kept(points: Sequence[Point]) -> tuple[list[Point], int]:
    kept = [p for p in points if _drawable(p)]
    return kept, len(points) - len(kept)


def _skipped_note(skipped: int) -> str:
    return f"{skipped} value{'s' if skipped != 1 else ''} outside {CHART_YEARS[0]}–{CHART_YEARS[1]} not drawn"


def period_x(period: Period) -> date:
    """Where a period sits on a time axis: its middle day, so months and quarters line up."""
    return period.start + timedelta(days=(period.end - period.start).days // 2)


def _text(value: str) -> str:
    """User text made safe for matplotlib: `$` would start mathtext, a leading `_` hides a legend entry."""
    value = value.replace("$", r"\$")
    return " " + value if value.startswith("_") else value


def _xs(points: Sequence[Point]) -> list[float]:
    return [float(date2num(period_x(p.period))) for p in points]


def _ys(points: Sequence[Point]) -> list[float]:
    return [p.value for p in points]


def _chosen_breakdowns(series: Sequence[ChartSeries], limit: int) -> tuple[list[ChartSeries], int]:
    """The series to draw: those with values, the ones with the most recent and most points first."""
    usable = [s for s in series if s.points]
    if len(usable) <= limit:
        return usable, 0

    def weight(s: ChartSeries) -> tuple[int, int, float]:
        latest = max(p.period.ordinal for p in s.points)
        return latest, len(s.points), max(abs(p.value) for p in s.points)

    kept = sorted(usable, key=weight, reverse=True)[:limit]
    kept.sort(key=lambda s: s.label)
    return kept, len(usable) - limit


def indicator_chart(
    *,
    title: str,
    unit: str,
    direction: Direction,
    actuals: Sequence[Point],
    baseline: Point | None = None,
    target: Point | None = None,
    breakdowns: Sequence[ChartSeries] = (),
    actual_label: str = "All partners",
    max_breakdown_series: int = MAX_BREAKDOWN_SERIES,
    timeout: float = DEFAULT_TIMEOUT,
    counts: Mapping[str, tuple[float, float]] | None = None,
) -> bytes:
    """One indicator over time as a PNG: actuals, baseline, target and the on-track line.

    The on-track line is the straight line from the baseline to the target (the
    same line `domain.measurement.expected_value` uses); breakdowns are drawn as
    separate, thinner series. Points must be in one frequency; they are sorted here.
    `counts` gives, by period (`2026-10`), the numerator and denominator a rate was weighted by:
    the latest value's label shows them (`62.75% (502/800)`).
    """
    drawing = partial(
        _draw_indicator_chart,
        title=title,
        unit=unit,
        direction=direction,
        actuals=actuals,
        baseline=baseline,
        target=target,
        breakdowns=breakdowns,
        actual_label=actual_label,
        max_breakdown_series=max_breakdown_series,
        counts=dict(counts or {}),
    )
    return chart_drawer.draw(drawing, timeout=timeout)


def _draw_indicator_chart(
    *,
    title: str,
    unit: str,
    direction: Direction,
    actuals: Sequence[Point],
    baseline: Point | None,
    target: Point | None,
    breakdowns: Sequence[ChartSeries],
    actual_label: str,
    max_breakdown_series: int,
    counts: Mapping[str, tuple[float, float]],
) -> bytes:
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    kept, skipped = _kept(actuals)
    actual_points = sorted(kept, key=lambda p: p.period.ordinal)
    _indicator_heading(axes, title, unit, direction, baseline, target)
    skipped += sum(1 for p in (baseline, target) if p is not None and not _drawable(p))
    baseline = baseline if _drawable(baseline) else None
    target = target if _drawable(target) else None
    series = []
    for one in breakdowns:
        points, dropped = _kept(one.points)
        series.append(
            ChartSeries(one.label, points, one.target if one.target is None or math.isfinite(one.target) else None)
        )
        skipped += dropped
    # The legend lists what is drawn in the order it is drawn: on-track line and target, breakdowns, actuals.
    _baseline_and_target(axes, baseline, target)
    drawn, left_out = _chosen_breakdowns(series, max_breakdown_series)
    _breakdown_lines(axes, drawn)
    if actual_points:
        _actual_line(axes, actual_points, unit, actual_label, counts.get(str(actual_points[-1].period)))
    elif not drawn:
        _no_values(axes, bare=baseline is None and target is None)
    if actual_points or drawn or baseline is not None or target is not None:
        _time_and_value_axes(axes, unit)
    axes.grid(True, axis="y", color="#e5e5e5", linewidth=0.8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.04, y=0.15)
    _legend(axes, left_out)
    if skipped:
        figure.supxlabel(_skipped_note(skipped), x=0.01, ha="left", fontsize=8, color="#555555")
    return _png(figure)


def _indicator_heading(
    axes: Any, title: str, unit: str, direction: Direction, baseline: Point | None, target: Point | None
) -> None:
    """The title, and below it the unit, which way is better, and the baseline and target in words."""
    better = "lower is better" if direction is Direction.DECREASE else "higher is better"
    heading = textwrap.fill(_text(title), width=70, max_lines=2, placeholder="…")
    axes.set_title(f"{heading}\n", loc="left", fontsize=12, fontweight="bold")
    subtitle = [unit or "value", better]
    if baseline is not None:
        subtitle.append(f"baseline {_short(baseline.value, unit)} ({baseline.period.label()})")
    if target is not None:
        subtitle.append(f"target {_short(target.value, unit)} ({target.period.label()})")
    axes.text(0.0, 1.01, _text(" · ".join(subtitle)), transform=axes.transAxes, fontsize=9, color="#555555")


def _baseline_and_target(axes: Any, baseline: Point | None, target: Point | None) -> None:
    """The baseline and target markers, and the on-track line between them when there are both."""
    if baseline is not None and target is not None:
        axes.plot(
            _xs([baseline, target]),
            _ys([baseline, target]),
            linestyle="--",
            linewidth=1.4,
            color=TRACK_COLOR,
            label="On track (baseline → target)",
            zorder=2,
        )
    if baseline is not None:
        axes.scatter(_xs([baseline]), _ys([baseline]), s=55, marker="o", color=BASELINE_COLOR, zorder=4)
        _annotate(axes, baseline, "Baseline", align="left")
    if target is not None:
        axes.scatter(_xs([target]), _ys([target]), s=140, marker="*", color=TARGET_COLOR, label="Target", zorder=4)
        _annotate(axes, target, f"Target {format_number(target.value)}", align="right")


def _breakdown_lines(axes: Any, drawn: Sequence[ChartSeries]) -> None:
    for index, series in enumerate(drawn):
        points = sorted(series.points, key=lambda p: p.period.ordinal)
        axes.plot(
            _xs(points),
            _ys(points),
            marker=".",
            markersize=5,
            linewidth=1.1,
            alpha=0.85,
            color=BREAKDOWN_COLORS[index % len(BREAKDOWN_COLORS)],
            label=_text(series.label),
            zorder=3,
        )
        if series.target is not None and points:
            axes.axhline(
                series.target,
                linestyle=":",
                linewidth=1.2,
                color=BREAKDOWN_COLORS[index % len(BREAKDOWN_COLORS)],
                label=_text(f"{series.label} target {format_number(series.target)}"),
                zorder=2,
            )


def _actual_line(
    axes: Any, points: Sequence[Point], unit: str, label: str, counts: tuple[float, float] | None = None
) -> None:
    """The actuals, on top of everything else, with the latest value (and its counts) beside its point."""
    axes.plot(
        _xs(points),
        _ys(points),
        marker="o",
        markersize=4 if len(points) > 36 else 6,
        linewidth=2.4,
        color=ACTUAL_COLOR,
        label=_text(label),
        zorder=5,
    )
    latest = points[-1]
    text = _short(latest.value, unit)
    if counts is not None:
        text += f" ({format_number(counts[0])}/{format_number(counts[1])})"
    axes.annotate(
        text,
        (_xs([latest])[0], latest.value),
        textcoords="offset points",
        xytext=(6, 6),
        fontsize=9,
        fontweight="bold",
        color=ACTUAL_COLOR,
    )


def _no_values(axes: Any, *, bare: bool) -> None:
    if bare:
        # Nothing to place on the axes: ticks would only show a meaningless 1970 time line.
        axes.set_xticks([])
        axes.set_yticks([])
    axes.text(
        0.5,
        0.5,
        "No values reported yet",
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=13,
        color="#888888",
    )


def _time_and_value_axes(axes: Any, unit: str) -> None:
    """Date ticks along x; along y, values written as the labels write them (a percent sign, no other unit)."""
    locator = AutoDateLocator(minticks=3, maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v, unit)))


def _legend(axes: Any, left_out: int) -> None:
    """The legend beside the axes, never over a line; it says how many breakdowns were left out."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        legend_title = f"{left_out} more breakdowns not drawn" if left_out else None
        axes.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            title=legend_title,
            title_fontsize=8,
            frameon=False,
        )


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(value: float, unit: str) -> str:
    """A number for a label; the unit is named once in the subtitle, except for a percent sign."""
    return format_number(value) + ("%" if is_percent_unit(unit) else "")


def _annotate(axes: Any, point: Point, text: str, *, align: str) -> None:
    # Above the marker, and towards the inside of the chart so the text is never cut at an edge.
    axes.annotate(
        _text(text),
        (_xs([point])[0], point.value),
        textcoords="offset points",
        xytext=(-8 if align == "right" else 8, 9),
        ha=align,
        fontsize=8,
        color="#444444",
    )


# -- the digest's chart: the headline indicators side by side ------------------------------


@dataclass(frozen=True)
class HeadlinePanel:
    """One small chart of the digest's picture: an indicator's values, baseline and target."""

    key: str
    unit: str
    direction: Direction
    actuals: Sequence[Point]
    baseline: Point | None = None
    target: Point | None = None


def headline_chart(
    panels: Sequence[HeadlinePanel], *, title: str, left_out: int = 0, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    """The headline indicators as small multiples in one PNG, one panel each (at most 3 a row).

    Indicators have different units, so each gets its own axes; every panel shows
    the same things as `indicator_chart` in brief: actuals, the on-track line from
    baseline to target, and the target. `left_out` headline indicators not drawn
    are named in a footnote.
    """
    drawing = partial(_draw_headline_chart, panels, title=title, left_out=left_out)
    return chart_drawer.draw(drawing, timeout=timeout)


def _draw_headline_chart(panels: Sequence[HeadlinePanel], *, title: str, left_out: int) -> bytes:
    count = max(1, len(panels))
    columns = min(3, count)
    rows = (count + columns - 1) // columns
    width = max(8.0, 4.0 * columns)  # one panel alone still gets room for the title
    figure = Figure(figsize=(width, 2.9 * rows + 0.7), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    heading = textwrap.fill(_text(title), width=int(width * 7), max_lines=2, placeholder="…")
    figure.suptitle(heading, x=0.01, ha="left", fontsize=13, fontweight="bold")
    if not panels:
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.text(0.5, 0.5, "No values reported yet", ha="center", va="center", fontsize=13, color="#888888")
    skipped = 0
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        skipped += _headline_panel(axes, panel)
    footnotes = [f"{left_out} more headline indicators: /ci indicators"] if left_out else []
    if skipped:
        footnotes.append(_skipped_note(skipped))
    if footnotes:
        # A figure-level x label, so that the constrained layout makes room for it below the panels.
        figure.supxlabel(" · ".join(footnotes), x=0.01, ha="left", fontsize=8, color="#555555")
    return _png(figure)


def _headline_panel(axes: Any, panel: HeadlinePanel) -> int:
    """Draw one panel; the number of its values that could not be drawn."""
    kept, skipped = _kept(panel.actuals)
    points = sorted(kept, key=lambda p: p.period.ordinal)
    skipped += sum(1 for p in (panel.baseline, panel.target) if p is not None and not _drawable(p))
    baseline = panel.baseline if _drawable(panel.baseline) else None
    target = panel.target if _drawable(panel.target) else None
    better = "↓ better" if panel.direction is Direction.DECREASE else "↑ better"
    heading = textwrap.shorten(_text(panel.key), width=40, placeholder="…")
    axes.set_title(f"{heading}  ({better})", loc="left", fontsize=10, fontweight="bold")
    if baseline is not None and target is not None:
        axes.plot(
            _xs([baseline, target]),
            _ys([baseline, target]),
            linestyle="--",
            linewidth=1.0,
            color=TRACK_COLOR,
            zorder=2,
        )
    if target is not None:
        axes.scatter(_xs([target]), _ys([target]), s=70, marker="*", color=TARGET_COLOR, zorder=4)
    if points:
        axes.plot(_xs(points), _ys(points), marker="o", markersize=3.5, linewidth=2.0, color=ACTUAL_COLOR, zorder=5)
        latest = points[-1]
        axes.annotate(
            _short(latest.value, panel.unit),
            (_xs([latest])[0], latest.value),
            textcoords="offset points",
            xytext=(4, 5),
            fontsize=8,
            fontweight="bold",
            color=ACTUAL_COLOR,
        )
    locator = AutoDateLocator(minticks=2, maxticks=5)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v, panel.unit)))
    axes.set_ylabel(textwrap.shorten(_text(panel.unit), width=30, placeholder="…"), fontsize=7, color="#555555")
    axes.tick_params(labelsize=7)
    axes.grid(True, axis="y", color="#e5e5e5", linewidth=0.7)
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.06, y=0.2)
    return skipped
