"""Block Kit for the activities map: goals and strategies against organizations, gaps and overlaps.

The overview names organizations only; `/ci map <goal>` shows one goal with
each activity's text. Both stay within 50 blocks and 3000 characters a section
for any number of goals, strategies, organizations and activities.
"""

from __future__ import annotations

from collections.abc import Sequence

from ci_slackbot.services.activities import ActivitiesMap, ActivityView, GoalRow, StrategyCell
from ci_slackbot.services.people import OrgRef
from integrations.slack import blocks as bk
from integrations.slack.escape import escape

MAX_GOALS = 20  # in the overview; the rest are one `/ci map <goal>` away
MAX_STRATEGIES = 15  # a goal's strategies listed in the overview
MAX_NAMES = 6  # organizations named on one strategy line
MAX_ORG_LINES = 25
MAX_LABELS = 15  # gap or overlap labels in the summary line
MAX_ACTIVITIES = 12  # activities under one strategy in the detail view
MAX_STRATEGY_TEXT = 120
MAX_ACTIVITY_TEXT = 200

GAP = ":warning: *gap*: nobody works on this yet"
# Command hints, escaped: `<goal>` would otherwise be read by Slack as a link.
ADD_HINT = escape("`/ci activity add <goal> <text> [strategy <n>]`")
GOAL_HINT = escape("`/ci map <goal>`")


def _names(orgs: Sequence[OrgRef]) -> str:
    names = [escape(o.name) for o in orgs[:MAX_NAMES]]
    if len(orgs) > MAX_NAMES:
        names.append(f"and {len(orgs) - MAX_NAMES} more")
    return ", ".join(names)


def _overlap_mark(cell: StrategyCell, threshold: int) -> str:
    count = len(cell.organizations)
    return f" · :busts_in_silhouette: *possible overlap* ({count} organizations)" if count >= threshold else ""


def _labels(cells: Sequence[StrategyCell]) -> str:
    labels = [escape(c.label) for c in cells[:MAX_LABELS]]
    if len(cells) > MAX_LABELS:
        labels.append(f"and {len(cells) - MAX_LABELS} more")
    return ", ".join(labels)


def _strategy_line(cell: StrategyCell, threshold: int) -> str:
    who = _names(cell.organizations) if cell.activities else GAP
    text = escape(bk.clip(cell.text, MAX_STRATEGY_TEXT))
    return f"`{cell.number}` {text} — {who}{_overlap_mark(cell, threshold)}"


def _goal_lines(goal: GoalRow, threshold: int) -> list[str]:
    lines = [f"*{escape(goal.key)} · {escape(bk.clip(goal.title, 200))}*"]
    strategy_lines = [_strategy_line(cell, threshold) for cell in goal.strategies]
    lines.extend(strategy_lines[:MAX_STRATEGIES])
    if len(strategy_lines) > MAX_STRATEGIES:
        lines.append(f"…and {len(strategy_lines) - MAX_STRATEGIES} more strategies: `/ci map {escape(goal.key)}`")
    if goal.goal_level:
        orgs = tuple({a.organization.id: a.organization for a in goal.goal_level}.values())
        lines.append(f"_Toward the goal as a whole:_ {_names(orgs)}")
    if not goal.strategies and not goal.goal_level:
        lines.append(":warning: no activities toward this goal yet")
    return lines


def summary_lines(activities_map: ActivitiesMap) -> list[str]:
    """Gaps and overlaps in two lines; the digest can carry these too."""
    lines = []
    gaps, overlaps = activities_map.gaps, activities_map.overlaps
    if gaps:
        lines.append(f":warning: *Gaps* ({len(gaps)}): {_labels(gaps)} — strategies nobody works on yet")
    else:
        lines.append(":white_check_mark: *No gaps*: every strategy has at least one organization on it")
    if overlaps:
        lines.append(
            f":busts_in_silhouette: *Possible overlaps* ({len(overlaps)}): {_labels(overlaps)} — "
            f"{activities_map.overlap_threshold} or more organizations on one strategy; worth a conversation"
        )
    return lines


def _organization_lines(activities_map: ActivitiesMap) -> list[str]:
    lines = []
    for org in activities_map.organizations:
        where = activities_map.contributions(org.id)
        lines.append(f"*{escape(org.name)}*: " + (escape(", ".join(where)) if where else "_nothing yet_"))
    return ["*Where each organization contributes*", *bk.bulleted(lines, limit=MAX_ORG_LINES, more="see above")]


def map_blocks(activities_map: ActivitiesMap) -> list[bk.Block]:
    head: list[bk.Block] = [bk.header("Who does what: the activities map")]
    if not activities_map.goals:
        return [*head, bk.section("The initiative has no goals yet: they come from the initiative file.")]
    head.extend(bk.sections(summary_lines(activities_map)))
    head.append(bk.divider())
    tail = [
        bk.divider(),
        *bk.sections(_organization_lines(activities_map)),
        bk.context(f"`G1.2` is goal G1's strategy 2. One goal in detail: `/ci map G1` · add yours: {ADD_HINT}"),
    ]
    # Goals fill what is left of the message; the ones that do not fit are one command away.
    budget = bk.MAX_MESSAGE_BLOCKS - len(head) - len(tail) - 1
    body: list[bk.Block] = []
    shown = 0
    for goal in activities_map.goals[:MAX_GOALS]:
        goal_sections = bk.sections(_goal_lines(goal, activities_map.overlap_threshold))
        if len(body) + len(goal_sections) > budget:
            break
        body.extend(goal_sections)
        shown += 1
    if shown < len(activities_map.goals):
        body.append(bk.context(f"…and {len(activities_map.goals) - shown} more goals: {GOAL_HINT} shows one"))
    return [*head, *body, *tail]


def _activity_line(activity: ActivityView) -> str:
    line = f"{escape(activity.organization.name)} — {escape(bk.clip(activity.text, MAX_ACTIVITY_TEXT))}"
    # Activities added in Slack show the number that ends them; the file's are changed in the file.
    return line if activity.from_file else f"{line} `#{activity.id}`"


def goal_blocks(goal: GoalRow, threshold: int) -> list[bk.Block]:
    """One goal in detail: each strategy with every organization's activity text."""
    blocks: list[bk.Block] = [bk.header(f"{goal.key} · {goal.title}")]
    lines: list[str] = []
    for cell in goal.strategies:
        lines.append(f"*{cell.number}. {escape(bk.clip(cell.text, 300))}*{_overlap_mark(cell, threshold)}")
        if not cell.activities:
            lines.append(GAP)
            continue
        lines.extend(
            bk.bulleted(
                [_activity_line(a) for a in cell.activities], limit=MAX_ACTIVITIES, more="too many to list here"
            )
        )
    if goal.goal_level:
        lines.append("*Toward the goal as a whole*")
        lines.extend(
            bk.bulleted(
                [_activity_line(a) for a in goal.goal_level], limit=MAX_ACTIVITIES, more="too many to list here"
            )
        )
    if not lines:
        lines.append(":warning: no strategies and no activities toward this goal yet")
    blocks.extend(bk.sections(lines))
    blocks.append(bk.context(f"Add yours: {ADD_HINT} · the whole map: `/ci map`"))
    if len(blocks) > bk.MAX_MESSAGE_BLOCKS:
        blocks = [*blocks[: bk.MAX_MESSAGE_BLOCKS - 1], bk.context("…more than fits in one message.")]
    return blocks


def activity_added(activity: ActivityView) -> list[bk.Block]:
    return [
        bk.section(
            f":white_check_mark: On the map for *{escape(activity.organization.name)}* under {_where(activity)}:\n"
            f">{escape(bk.clip(activity.text, 2000))}"
        ),
        bk.context(
            f"See who does what: `/ci map` · `/ci map {escape(activity.goal_key)}` · "
            f"when it stops: `/ci activity end {activity.id}`"
        ),
    ]


def _where(activity: ActivityView) -> str:
    where = f"goal {escape(activity.goal_key)}"
    if activity.strategy_number is not None:
        where += f", strategy {activity.strategy_number}"
        if activity.strategy_text:
            where += f" ({escape(bk.clip(activity.strategy_text, MAX_STRATEGY_TEXT))})"
    return where


def activity_ended(activity: ActivityView) -> list[bk.Block]:
    return [
        bk.section(
            f":white_check_mark: Taken off the map for *{escape(activity.organization.name)}* "
            f"under {_where(activity)}:\n>{escape(bk.clip(activity.text, 2000))}"
        ),
        bk.context(f"The map now: `/ci map {escape(activity.goal_key)}` · add another: {ADD_HINT}"),
    ]
