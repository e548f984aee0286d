"""Block Kit for shared measurement: the context reply, the update modal, the scoreboard, the status."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from ci_slackbot.domain.measurement import (
    Combined,
    Point,
    Rollup,
    format_number,
    format_value,
    progress_phrase,
    progress_stage,
    sign,
)
from ci_slackbot.domain.periods import Period
from ci_slackbot.domain.stories import CURVE_FIELDS
from ci_slackbot.services.measurement import (
    DueReport,
    IndicatorView,
    RecordedValue,
    Standing,
    UndoneReport,
    describe_breakdown,
)
from ci_slackbot.services.measurement_views import visible_breakdowns
from ci_slackbot.services.people import OrgRef
from integrations.slack import blocks as bk
from integrations.slack.escape import escape

UPDATE_MODAL = "update_value"
STORY_MODAL = "value_story"
# The Turn-the-Curve notes that take a paragraph; the others take a line.
MULTILINE_CURVE_FIELDS = frozenset({"curve_story", "what_works"})
OPEN_UPDATE_MODAL = "open_update_modal"
ADD_STORY = "add_story"
UNDO_VALUE = "undo_value"
PICK_INDICATOR = "update_pick_indicator"


def _signed_change(delta: float, relative: float | None) -> str:
    text = ("+" if delta > 0 else "−" if delta < 0 else "±") + format_number(abs(delta))
    if relative is not None:
        text += f" ({'+' if relative > 0 else '−' if relative < 0 else '±'}{abs(relative) * 100:.0f}%)"
    return text


def context_lines(rec: RecordedValue) -> list[str]:
    """How the value compares with the previous one, the baseline and the target."""
    ind, ctx = rec.indicator, rec.context
    lines = []
    if ctx.previous is not None and ctx.delta is not None:
        verdict = {True: "better", False: "worse", None: "no change"}[ctx.improving]
        lines.append(
            f"{sign(ctx.improving)} Change from {ctx.previous.period.label()}: "
            f"{_signed_change(ctx.delta, ctx.relative)} — {verdict}"
        )
    else:
        lines.append(":white_circle: First value in this series: nothing earlier to compare with.")
    if ctx.progress is not None and ind.baseline and ind.target:
        baseline = f"{format_value(ind.baseline.value, ind.unit)}, {ind.baseline.period.label()}"
        target = f"{format_value(ind.target.value, ind.unit)} by {ind.target.period.label()}"
        stage = progress_stage(ctx.progress)
        if stage == "behind":
            lines.append(f":dart: Further from the target ({target}) than the baseline ({baseline})")
        elif stage == "reached":
            lines.append(f":dart: Target reached ({target}); the baseline was {baseline}")
        else:
            lines.append(
                f":dart: {round(ctx.progress)}% of the way from the baseline ({baseline}) to the target ({target})"
            )
    if ctx.on_track is not None and ctx.expected is not None:
        mark = ":white_check_mark: On track" if ctx.on_track else ":warning: Off track"
        lines.append(f"{mark}: the line from baseline to target expects {format_value(ctx.expected, ind.unit)} by now")
    return lines


def figure_text(figure: Combined, unit: str) -> str:
    """`62.75% (502 of 800)`: a coalition figure, with the counts that weigh it."""
    text = format_value(figure.value, unit) if figure.value is not None else "none"
    if figure.rollup is Rollup.RATE and figure.numerator is not None and figure.denominator is not None:
        text += f" ({format_number(figure.numerator)} of {format_number(figure.denominator)})"
    return text


def coalition_line(rec: RecordedValue) -> str:
    """What the value makes of the coalition's figure for its period, and who is still missing."""
    figure, ind = rec.coalition, rec.indicator
    if figure is None:
        return ""
    period = rec.period.label()
    if figure.value is None:
        if rec.breakdown and figure.reported == 0:
            return (
                f":bar_chart: No coalition figure for {period} yet: a breakdown's value does not stand for the "
                f"whole population; report the total with `/ci update {escape(ind.key)} <value> {rec.period}`."
            )
        return f":bar_chart: {period} has no coalition figure: {escape(figure.why)}."
    if figure.rollup is Rollup.OWNER or (figure.expected == 1 and figure.complete):
        return ""
    missing = figure.partners_phrase()
    return f":bar_chart: Coalition figure for {period}: *{figure_text(figure, ind.unit)}*" + (
        f" · {missing}" if missing else f" · all {figure.expected} partners reported"
    )


def recorded_reply(rec: RecordedValue, *, assumed: str | None = None) -> list[bk.Block]:
    ind = rec.indicator
    where = f"{rec.period.label()}, {escape(rec.organization.name)}"
    if rec.breakdown:
        where += f", {escape(describe_breakdown(rec.breakdown))}"
    recorded = format_value(rec.value, ind.unit)
    if rec.numerator is not None and rec.denominator is not None:
        recorded += f" ({format_number(rec.numerator)} of {format_number(rec.denominator)})"
    headline = f":white_check_mark: Recorded *{recorded}* for *{escape(ind.name)}* ({where})."
    if rec.replaced is not None:
        headline += f" This corrects the earlier {format_value(rec.replaced, ind.unit)} (revision {rec.revision})."
    out = [bk.section(headline), bk.section("\n".join(context_lines(rec)))]
    coalition = coalition_line(rec)
    if coalition:
        out.append(bk.context(coalition))
    if assumed:
        # Which period a word without a year was read as (`December`, `Q3`), so a wrong guess is seen.
        out.append(bk.context(escape(assumed)))
    if rec.note:
        out.append(bk.context(f"Note: {escape(rec.note)}"))
    if rec.context.needs_story:
        why = "moved the wrong way" if rec.context.improving is False else "changed by more than half"
        out.append(
            bk.section(
                f"This value {why}. What's the story behind the number? Partners read it in the digest.",
                accessory=bk.button("Add the story", ADD_STORY, str(rec.value_id)),
            )
        )
    out.append(bk.actions(bk.button("Undo", UNDO_VALUE, undo_value(rec.value_id, rec.revision))))
    return out


def undo_value(value_id: int, revision: int) -> str:
    """The Undo button's value: which value, and the revision the message shows (a later one is not undone)."""
    return f"{value_id}:{revision}"


def undone_message(undone: UndoneReport) -> bk.Message:
    """What replaces the recorded value's message once it is undone."""
    ind = undone.indicator
    where = f"{undone.period.label()}, {escape(undone.organization.name)}"
    if undone.breakdown:
        where += f", {escape(describe_breakdown(undone.breakdown))}"
    taken_back = format_value(undone.taken_back, ind.unit)
    if undone.restored is not None:
        restored = format_value(undone.restored, ind.unit)
        text = (
            f":leftwards_arrow_with_hook: Undone: *{escape(ind.name)}* ({where}) is back to *{restored}*, "
            f"the value before {taken_back}."
        )
    else:
        text = (
            f":leftwards_arrow_with_hook: Withdrawn: *{taken_back}* for *{escape(ind.name)}* ({where}). "
            "It no longer counts in the indicators, the digest or the charts."
        )
    again = f"/ci update {ind.key} <value> {undone.period}"
    if undone.breakdown:
        again += " " + " ".join(f"{k}={v}" for k, v in undone.breakdown.items())
    return bk.Message(
        text.replace("*", ""),
        [bk.section(text), bk.context(f"Report the right value with `{escape(again)}` · revision {undone.revision}")],
    )


def story_modal(value_id: int, indicator: IndicatorView, period: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": STORY_MODAL,
        "private_metadata": json.dumps({"value_id": value_id}),
        "title": bk.plain("The story behind it", bk.MAX_MODAL_TITLE),
        "submit": bk.plain("Save", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Cancel", bk.MAX_MODAL_TITLE),
        "blocks": [
            bk.section(f"*{escape(indicator.name)}*, {escape(period)}"),
            {
                "type": "input",
                "block_id": "story",
                "label": bk.plain("What is behind this number?", 2000),
                "element": {"type": "plain_text_input", "action_id": "story", "multiline": True, "max_length": 2000},
            },
            bk.context("Optional, for the Turn-the-Curve conversation at the next meeting:"),
            *(
                {
                    "type": "input",
                    "block_id": name,
                    "optional": True,
                    "label": bk.plain(label, 2000),
                    "element": {
                        "type": "plain_text_input",
                        "action_id": name,
                        "multiline": name in MULTILINE_CURVE_FIELDS,
                        "max_length": limit,
                    },
                }
                for name, (label, limit) in CURVE_FIELDS.items()
            ),
        ],
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": bk.plain(text, 75), "value": value[:150]}


def indicator_option(indicator: IndicatorView) -> dict[str, Any]:
    return _option(f"{indicator.key} — {indicator.name}", indicator.key)


# A static select holds at most 100 options, and its initial option must be one of them (Block Kit
# reference, static_select): past 100 indicators the form uses an external select, whose options
# the app gives as the person types (`indicator_options`), so it is valid for any number.
MAX_STATIC_OPTIONS = 100


def indicator_options(indicators: Sequence[IndicatorView], query: str) -> list[dict[str, Any]]:
    """The indicators whose key or name holds `query`, keys that start with it first, at most 100."""
    wanted = query.strip().lower()
    found = [i for i in indicators if wanted in i.key.lower() or wanted in i.name.lower()]
    found.sort(key=lambda i: not i.key.lower().startswith(wanted))
    return [indicator_option(i) for i in found[:MAX_STATIC_OPTIONS]]


def _indicator_select(indicators: Sequence[IndicatorView], selected: IndicatorView | None) -> dict[str, Any]:
    select: dict[str, Any] = {"action_id": PICK_INDICATOR, "placeholder": bk.plain("Choose an indicator", 150)}
    if len(indicators) > MAX_STATIC_OPTIONS:
        # Options load from the app (the manifest's message_menu_options_url) from the first keystroke.
        select.update(type="external_select", min_query_length=0)
    else:
        select.update(type="static_select", options=[indicator_option(i) for i in indicators])
    if selected is not None:
        select["initial_option"] = indicator_option(selected)
    return select


def update_modal(
    indicators: Sequence[IndicatorView],
    selected: IndicatorView | None,
    organizations: Sequence[OrgRef],
    period: Period | None,
    *,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `/ci update` modal; choosing an indicator rebuilds it with that indicator's breakdown fields."""
    values = values or {}
    indicator_select = _indicator_select(indicators, selected)
    blocks: list[bk.Block] = [
        {
            "type": "input",
            "block_id": "indicator",
            "dispatch_action": True,
            "label": bk.plain("Indicator", 2000),
            "element": indicator_select,
        }
    ]
    if len(organizations) > 1:
        blocks.append(
            {
                "type": "input",
                "block_id": "organization",
                "label": bk.plain("Reporting for", 2000),
                "element": {
                    "type": "static_select",
                    "action_id": "organization",
                    "options": [_option(o.name, o.key) for o in organizations[:100]],
                    **(
                        {"initial_option": _option(organizations[0].name, organizations[0].key)}
                        if organizations
                        else {}
                    ),
                },
            }
        )
    unit = f" ({selected.unit})" if selected is not None and selected.unit else ""
    fractions = selected is not None and selected.takes_fractions
    blocks.append(
        _text_input(
            "value",
            f"Value{unit}",
            values.get("value"),
            placeholder="e.g. 17.5",
            optional=fractions,
            hint="Or leave it empty and give the numerator and the denominator below." if fractions else None,
        )
    )
    if fractions:
        # A rate weighted by its denominator: 412 screened of 700 students.
        blocks.append(
            _text_input("numerator", "Numerator (optional)", values.get("numerator"), optional=True, placeholder="412")
        )
        blocks.append(
            _text_input(
                "denominator",
                "Denominator (optional)",
                values.get("denominator"),
                optional=True,
                placeholder="700",
                hint="How many were counted: 412 of 700 is recorded as 412/700 and weighs 700 in the total.",
            )
        )
    blocks.append(
        _text_input(
            "period",
            "Period",
            values.get("period") or (str(period) if period else None),
            hint="2026 (year), 2026-Q3 (quarter), 2026-10 (month) or 2026-W44 (ISO week)",
        )
    )
    if selected is not None:
        for dimension in selected.breakdowns:
            blocks.append(
                _text_input(
                    f"breakdown:{dimension}",
                    f"Only for one {dimension}? (optional)",
                    values.get(f"breakdown:{dimension}"),
                    optional=True,
                    hint=f"Leave empty for the whole population; fill it to report one {dimension}.",
                )
            )
    blocks.append(_text_input("note", "Note (optional)", values.get("note"), optional=True, multiline=True))
    return {
        "type": "modal",
        "callback_id": UPDATE_MODAL,
        "private_metadata": json.dumps({"indicator": selected.key if selected else None}),
        "title": bk.plain("Report a value", bk.MAX_MODAL_TITLE),
        "submit": bk.plain("Record", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Cancel", bk.MAX_MODAL_TITLE),
        "blocks": blocks,
    }


def _text_input(
    block_id: str,
    label: str,
    initial: str | None,
    *,
    optional: bool = False,
    multiline: bool = False,
    placeholder: str | None = None,
    hint: str | None = None,
) -> bk.Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id.replace(":", "_"),
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = bk.plain(placeholder, 150)
    block: bk.Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": bk.plain(label, 2000),
        "element": element,
    }
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never reported"
    days = (now - when).days
    if days <= 0:
        return "reported today"
    if days == 1:
        return "reported yesterday"
    return f"reported {days} days ago"


def standing_line(standing: Standing, now: datetime, *, breakdowns: bool = True, in_channel: bool = True) -> str:
    """One indicator's line; small breakdown values are hidden unless `in_channel` is False."""
    ind = standing.indicator
    latest = standing.latest
    if latest is None and standing.per_partner:
        text = f"*{escape(ind.key)}* — {per_partner_text(standing)} · {_ago(standing.last_reported, now)}"
    elif latest is None:
        text = f"*{escape(ind.key)}* — {escape(ind.name)}: no values yet"
        if standing.breakdown_latest:
            text += " for the whole population"
    else:
        text = _figure_line(standing, latest, now)
    if breakdowns and standing.breakdown_latest:
        shown = visible_breakdowns(ind, standing.breakdown_latest, in_channel=in_channel)
        parts = [
            f"{escape(b.label)}: {'hidden (small number)' if b.value is None else format_number(b.value)}"
            for b in shown
        ]
        more = f" (+{len(parts) - 8} more)" if len(parts) > 8 else ""
        text += "\n    _by " + ", ".join(parts[:8]) + more + "_"
    return text


def per_partner_text(standing: Standing) -> str:
    """`per partner, not combined: Children's Health 45% (Oct 2026), Neighbors United 60%`."""
    unit = standing.indicator.unit
    first = standing.per_partner[0].point.period.label() if standing.per_partner else ""
    parts = [f"{escape(p.organization)} {format_value(p.point.value, unit)}" for p in standing.per_partner[:6]]
    more = f" (+{len(standing.per_partner) - 6} more)" if len(standing.per_partner) > 6 else ""
    return f"per partner, not combined ({first}): " + ", ".join(parts) + more


def _figure_line(standing: Standing, latest: Point, now: datetime) -> str:
    ind = standing.indicator
    trend = standing.trend
    text = (
        f"*{escape(ind.key)}* {trend.arrow} {format_value(latest.value, ind.unit)} ({latest.period.label()}) "
        f"{sign(trend.improving)}"
    )
    missing = standing.partners_phrase()
    if missing:
        text += f" · _{missing}_"
    if standing.progress is not None:
        text += f" · {progress_phrase(standing.progress)}"
    if standing.on_track is not None:
        text += " · on track" if standing.on_track else " · off track"
    text += f" · {_ago(standing.last_reported, now)}"
    return text


def scoreboard(standings: Sequence[Standing], now: datetime, *, partner: bool = False) -> list[bk.Block]:
    """`/ci indicators`: every indicator, grouped by goal."""
    if not standings:
        return [bk.section("No indicators yet: the backbone team adds them to the initiative file.")]
    by_goal: dict[str, list[Standing]] = defaultdict(list)
    titles: dict[str, str] = {}
    for standing in standings:
        goal = standing.indicator.goal_key or "—"
        by_goal[goal].append(standing)
        titles[goal] = standing.indicator.goal_title or "Other indicators"
    out: list[bk.Block] = [bk.header("Where our indicators stand")]
    goal_budget = max(1, (bk.MAX_MESSAGE_BLOCKS - 3) // max(1, len(by_goal)))
    for goal, items in by_goal.items():
        lines = [standing_line(s, now, in_channel=not partner) for s in items]
        chunk = bk.sections([f"*{escape(goal)} · {escape(titles[goal])}*", *lines])
        if len(chunk) > goal_budget:
            chunk = [*chunk[: goal_budget - 1], bk.context("…more in `/ci indicator <key>`")]
        out.extend(chunk)
    out.append(
        bk.context("Report with `/ci update <indicator> <value>` · one indicator's history: `/ci indicator <key>`")
    )
    return out


def due_day(day: date | None) -> str:
    """A due date as partners read it: "Tue 15 Dec"."""
    return day.strftime("%a %-d %b") if day else "its due date"


def status_blocks(reports: Sequence[DueReport], extra: Sequence[str] = ()) -> list[bk.Block]:
    """`/ci status`: per organization, each indicator reported, due by a date, or missing (past its
    due date), and missed streaks."""
    by_org: dict[str, list[DueReport]] = defaultdict(list)
    for report in reports:
        by_org[report.organization.name].append(report)
    reported = sum(1 for r in reports if r.reported)
    missing = sum(1 for r in reports if r.missing)
    summary = f"{reported} of {len(reports)} reports are in for the periods due"
    summary += f"; {missing} missing past their due date." if missing else "."
    out: list[bk.Block] = [bk.header("Reporting status"), bk.section(summary)]
    lines = []
    for org, items in by_org.items():
        lines.append(f"*{escape(org)}*")
        for r in items:
            if r.reported:
                lines.append(f"    :white_check_mark: {escape(r.indicator.key)} — {r.period.label()} reported")
            elif r.missing:
                streak = f" · {r.missed_in_a_row + 1} periods in a row" if r.missed_in_a_row else ""
                was_due = f" (was due {due_day(r.due)})" if r.due else ""
                lines.append(f"    :hourglass: {escape(r.indicator.key)} — {r.period.label()} missing{was_due}{streak}")
            else:
                lines.append(
                    f"    :spiral_calendar_pad: {escape(r.indicator.key)} — {r.period.label()} due by {due_day(r.due)}"
                )
    out.extend(bk.sections(lines)[: bk.MAX_MESSAGE_BLOCKS - 4])
    if extra:
        out.append(bk.context(*extra))
    return out
