"""Block Kit for `/ci indicator <key>`: one indicator's history, and the message that shows its chart."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from ci_slackbot.domain.measurement import Direction, Reported, Rollup, format_number, format_value
from ci_slackbot.services.equity import IndicatorEquity
from ci_slackbot.services.measurement_views import (
    BreakdownShown,
    HistoryEntry,
    IndicatorHistory,
    PeriodHistory,
    breakdown_label,
    visible_breakdowns,
)
from integrations.slack import blocks as bk
from integrations.slack import measurement_blocks
from integrations.slack.equity_blocks import gap_text
from integrations.slack.escape import escape

# A history reply stays readable and well inside Slack's 50 blocks: the newest periods
# first, at most this many, and within a period at most this many values.
MAX_PERIODS = 24
MAX_HISTORY_SECTIONS = 20
MAX_VALUES_PER_PERIOD = 30
MAX_NOTE = 300

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def reporter_name(reporter: str) -> str:
    """A Slack user as a mention (an ephemeral reply notifies nobody); an imported name as text."""
    return f"<@{reporter}>" if _USER_ID.match(reporter) else escape(reporter)


def _when(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%-d %b %Y %H:%M")


def _how(entry: HistoryEntry) -> str:
    parts = []
    if entry.entered_via == "import":
        parts.append("imported")
    elif entry.entered_via == "modal":
        parts.append("via the form")
    if entry.revision > 1:
        parts.append(f"corrected, revision {entry.revision}")
    return f" · {', '.join(parts)}" if parts else ""


def _note(note: str) -> str:
    flat = " / ".join(line.strip() for line in note.splitlines() if line.strip())
    return f"\n        _{escape(bk.clip(flat, MAX_NOTE))}_" if flat else ""


def _entry_line(entry: HistoryEntry, shown_value: str, timezone: str) -> str:
    where = escape(entry.organization_name)
    if entry.breakdown_key:
        where += f" · {escape(entry.breakdown_key.replace('=', ' ').replace(',', ', '))}"
    who = f"{reporter_name(entry.reporter)}, {_when(entry.recorded_at, timezone)}{_how(entry)}"
    return f"    • {where}: *{shown_value}* — {who}{_note(entry.note)}"


def _breakdown_value(shown: BreakdownShown, unit: str, threshold: float | None) -> str:
    if shown.value is None:
        if shown.below_threshold and threshold is not None:
            return f"under {format_number(threshold)} (hidden: small number)"
        return "hidden (so a small number can't be worked out)"
    text = format_value(shown.value, unit)
    if shown.below_threshold:
        text += " :lock: _hidden from channel posts_"
    return text


def _whole_value(entry: HistoryEntry, unit: str) -> str:
    text = format_value(entry.value, unit)
    if entry.numerator is not None and entry.denominator is not None:
        text += f" ({format_number(entry.numerator)} of {format_number(entry.denominator)})"
    return text


def _combined(history: IndicatorHistory, period: PeriodHistory) -> str:
    """` all partners: *62.75% (502 of 800)* · 1 of 2 partners reported`, or why there is no figure."""
    figure, unit = period.figure, history.indicator.unit
    if figure is None or period.population is None:
        if not period.whole():
            return " _by breakdown only: no figure for the whole population_"
        reported = [Reported(e.organization_key, e.value, e.numerator, e.denominator) for e in period.whole()]
        why = history.indicator.combine(reported).why
        return f" _{escape(why)}_" if why else ""
    several = figure.expected > 1 and figure.rollup is not Rollup.OWNER
    text = f"{' all partners' if several else ''}: *{measurement_blocks.figure_text(figure, unit)}*"
    missing = figure.partners_phrase()
    return text + (f" · _{missing}_" if missing and several else "")


def period_lines(history: IndicatorHistory, period: PeriodHistory, *, in_channel: bool, timezone: str) -> list[str]:
    """One period: the combined value, then each organization's values with who reported them and when."""
    indicator = history.indicator
    unit = indicator.unit
    lines = [f"*{period.period.label()}*{_combined(history, period)}"]
    entries: list[str] = [_entry_line(e, _whole_value(e, unit), timezone) for e in period.whole()]
    by_org: dict[str, list[HistoryEntry]] = defaultdict(list)
    for entry in period.by_breakdown():
        by_org[entry.organization_key].append(entry)
    for org_entries in by_org.values():
        shown = {
            s.key: s
            for s in visible_breakdowns(
                indicator, {e.breakdown_key: e.value for e in org_entries}, in_channel=in_channel
            )
        }
        for entry in org_entries:
            value = _breakdown_value(shown[entry.breakdown_key], unit, indicator.small_number_threshold)
            entries.append(_entry_line(entry, value, timezone))
    if len(entries) > MAX_VALUES_PER_PERIOD:
        hidden = len(entries) - MAX_VALUES_PER_PERIOD
        entries = [*entries[:MAX_VALUES_PER_PERIOD], f"    …and {hidden} more values for {period.period.label()}"]
    return lines + entries


def _summary(history: IndicatorHistory, now: datetime) -> list[str]:
    ind = history.indicator
    better = "lower is better" if ind.direction is Direction.DECREASE else "higher is better"
    facts = [f"`{escape(ind.key)}`", f"reported {ind.frequency.value}", better]
    if ind.unit:
        facts.insert(1, escape(ind.unit))
    if ind.goal_key:
        facts.append(f"goal {escape(ind.goal_key)}: {escape(ind.goal_title or '')}")
    lines = [" · ".join(facts)]
    if ind.baseline is not None or ind.target is not None:
        parts = []
        if ind.baseline is not None:
            parts.append(f"Baseline {format_value(ind.baseline.value, ind.unit)} ({ind.baseline.period.label()})")
        if ind.target is not None:
            parts.append(f"target {format_value(ind.target.value, ind.unit)} by {ind.target.period.label()}")
        lines.append(" → ".join(parts))
    lines.append(measurement_blocks.standing_line(history.standing, now, breakdowns=False))
    return lines


def indicator_blocks(
    history: IndicatorHistory,
    *,
    in_channel: bool,
    timezone: str,
    now: datetime,
    chart_coming: bool,
    equity: IndicatorEquity | None = None,
) -> list[bk.Block]:
    """The `/ci indicator` reply: what the indicator is, where it stands and every period reported."""
    ind = history.indicator
    summary = _summary(history, now)
    if equity is not None:
        summary.append(gap_text(equity, ind.unit))
    out: list[bk.Block] = [bk.header(ind.name), bk.section(bk.clip("\n".join(summary), 3000))]
    about = []
    if ind.reporters:
        about.append("Reported by " + ", ".join(escape(r.name) for r in ind.reporters))
    if ind.source:
        about.append(f"Source: {escape(ind.source)}")
    if ind.breakdowns:
        about.append("Split by " + ", ".join(f"`{escape(d)}`" for d in ind.breakdowns))
    if ind.lens is not None and len(ind.breakdowns) > 1:
        about.append(f"equity lens `{escape(ind.lens)}`")
    if ind.group_targets:
        targets = ", ".join(f"{escape(breakdown_label(k))} {format_number(v)}" for k, v in ind.group_targets[:10])
        about.append(f"group targets: {targets}")
    if about:
        out.append(bk.context(" · ".join(about)))
    out.append(bk.divider())

    if not history.periods:
        out.append(bk.section(f"No values yet. Report one with `/ci update {escape(ind.key)} <value>`."))
    else:
        newest_first = list(reversed(history.periods))
        sections: list[bk.Block] = []
        shown_periods = 0
        # Room for what comes before and after the periods (the "…earlier" line and the notes).
        room = bk.Room()
        room.reserve(*out, bk.context("x" * 200), bk.context("x" * 300))
        for period in newest_first[:MAX_PERIODS]:
            chunk = bk.sections(period_lines(history, period, in_channel=in_channel, timezone=timezone))
            if len(sections) + len(chunk) > MAX_HISTORY_SECTIONS or not room.take(*chunk):
                break
            sections.extend(chunk)
            shown_periods += 1
        out.extend(sections)
        earlier = len(newest_first) - shown_periods
        if earlier:
            out.append(
                bk.context(
                    f"…and {earlier} earlier period{'s' if earlier != 1 else ''}. "
                    "The chart shows them all; `ci-slackbot export` writes every value."
                )
            )
    notes = []
    if ind.small_number_threshold is not None and ind.breakdowns:
        limit = format_number(ind.small_number_threshold)
        if in_channel:
            notes.append(f":lock: Breakdown values under {limit} are hidden to protect small groups.")
        else:
            notes.append(f":lock: Breakdown values under {limit} are shown to partners only, never in channels.")
    if chart_coming:
        notes.append(":chart_with_upwards_trend: The chart follows in a moment.")
    if notes:
        out.append(bk.context(*notes))
    return out


def chart_alt(history: IndicatorHistory) -> str:
    """What the chart shows, in words, for screen readers and for when the image cannot load."""
    ind = history.indicator
    latest = history.standing.latest
    described = f"latest {format_value(latest.value, ind.unit)} in {latest.period.label()}" if latest else "no values"
    alt = f"Chart of {ind.name}: {described}"
    if ind.target is not None:
        alt += f"; target {format_value(ind.target.value, ind.unit)} by {ind.target.period.label()}"
    return alt
