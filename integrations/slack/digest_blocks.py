"""The weekly digest in Block Kit, within Slack's limits for an initiative of any size.

Every part of the digest is exactly one block (a header, a context or one
section built with `blocks.capped_section`), so the number of blocks is
bounded by the layout, not by the data: at most `MAX_GOAL_SECTIONS` goal
sections plus a fixed handful. Long lists end with "…and N more" and the
command that shows them all. Organizations and people are named, never
@-mentioned: a weekly post must not ping anyone — except the teller of a story,
who told it for partners to read in the digest: the mention shows whose words
they are, and pings that one person once, for their own story.

A digest is posted whole, every indicator in it. When it all fits in one
message (Slack's total for a message's blocks is about 12,000 characters), it
is one message. Otherwise (`digest_messages`) the channel gets a headline
message — where each goal stands in one line, reporting, action items,
decisions, links — and its thread gets every goal's indicators, and whatever
of the headline did not fit, in as many replies as they need.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from ci_slackbot.domain.measurement import format_number, format_value, is_improvement, progress_phrase, sign
from ci_slackbot.services.change_log import by_person
from ci_slackbot.services.digest import ActionLine, Digest, GoalDigest, IndicatorLine, Reporting
from ci_slackbot.services.stories import StoryLine
from integrations.slack import blocks as bk
from integrations.slack import systems_change_blocks
from integrations.slack.community_voice_blocks import digest_community_voice_block
from integrations.slack.equity_blocks import gap_text
from integrations.slack.escape import escape, link, mention, plain_name

# The layout's blocks besides the goals: header, preview note, context, stories, 2 dividers,
# reporting, 3 action lists, decisions, community voice, agenda, set-up changes, gaps, systems
# changes, data we still need, footer — 18, with room to spare.
FIXED_BLOCKS = 20
MAX_GOAL_SECTIONS = bk.MAX_MESSAGE_BLOCKS - FIXED_BLOCKS
ITEM_TEXT = 160  # an action item's or decision's text in a list line
NAME_TEXT = 90  # an indicator's name in its line
STORY_TEXT = 300  # a story in the digest; the meeting-prep page shows it whole
CURVE_TEXT = 120  # each Turn-the-Curve note after it

# The marks of `/ci update`'s answer: ✅/⚠️ say on or off track; a coloured dot after the change
# says better or worse. One colour for both would paint a falling ER rate red next to "↓ −1.7".
MARK = {True: ":white_check_mark:", False: ":warning:", None: ":white_circle:"}
ON_TRACK = {True: "on track", False: "off track", None: ""}


def _safe_url(url: str | None) -> str | None:
    """A URL fit for `<url|text>`: characters that would break the link syntax rule it out."""
    if not url or any(c in url for c in "<>| \n"):
        return None
    return url


def _link(url: str | None, text: str) -> str | None:
    safe = _safe_url(url)
    return link(safe, text) if safe else None


def _day(value: date) -> str:
    return f"{value:%a %b} {value.day}"


def _signed(delta: float) -> str:
    return ("+" if delta > 0 else "−" if delta < 0 else "±") + format_number(abs(delta))


def indicator_line(line: IndicatorLine) -> str:
    """`• ✅ *key* — name: *value* (period) ↓ −1.5 since … 🟢 · 30% of the way to target · on track`."""
    name = escape(bk.clip(line.name, NAME_TEXT))
    if line.latest is None and line.per_partner:
        return f"• {MARK[None]} *{escape(line.key)}* — {name}: per partner, not combined: {escape(line.per_partner)}"
    if line.latest is None and line.equity is not None:
        return f"• {MARK[None]} *{escape(line.key)}* — {name}: by group only\n      {gap_text(line.equity, line.unit)}"
    if line.latest is None:
        return f"• {MARK[None]} *{escape(line.key)}* — {name}: no value reported yet"
    text = (
        f"• {MARK[line.on_track]} *{escape(line.key)}* — {name}: "
        f"*{escape(format_value(line.latest.value, line.unit))}* ({line.latest.period.label()})"
    )
    if line.previous is not None:
        delta = line.latest.value - line.previous.value
        better = sign(is_improvement(line.direction, delta))
        text += f" {line.trend.arrow} {_signed(delta)} since {line.previous.period.label()} {better}"
    if line.progress is not None:
        text += f" · {progress_phrase(line.progress)}"
    if line.on_track is not None:
        text += f" · {ON_TRACK[line.on_track]}"
    if line.partners:
        text += f" · _{line.partners}_"
    if line.equity is not None:
        text += f"\n      {gap_text(line.equity, line.unit)}"
    return text


def _goal_title(goal: GoalDigest) -> str:
    return f"*{escape(goal.key)} · {escape(goal.title)}*" if goal.key else f"*{escape(goal.title)}*"


def _goal_section(goal: GoalDigest) -> bk.Block:
    title = _goal_title(goal)
    if not goal.indicators:
        return bk.section(f"{title}\n_No indicators for this goal yet._")
    return bk.capped_section(
        title, [indicator_line(i) for i in goal.indicators], more="see every indicator with `/ci indicators`"
    )


def goal_blocks(goals: Sequence[GoalDigest]) -> list[bk.Block]:
    if not goals:
        return [bk.section("No indicators yet: the backbone team adds them to the initiative file.")]
    if len(goals) <= MAX_GOAL_SECTIONS:
        return [_goal_section(g) for g in goals]
    shown = [_goal_section(g) for g in goals[: MAX_GOAL_SECTIONS - 1]]
    rest = goals[MAX_GOAL_SECTIONS - 1 :]
    titles = [f"• {escape(g.key or '')} {escape(g.title)} ({len(g.indicators)} indicators)" for g in rest]
    shown.append(
        bk.capped_section(
            f"*…and {len(rest)} more goals* — see every indicator with `/ci indicators`",
            titles,
            more="see every indicator with `/ci indicators`",
        )
    )
    return shown


def _one_line(text: str, limit: int) -> str:
    return escape(bk.clip(" ".join(text.split()), limit))


def story_line(story: StoryLine, *, limit: int = STORY_TEXT) -> str:
    """`• *key* (Oct 2026, Dallas ISD): “the story…” — @teller · _What works:_ …`: user text escaped and cut."""
    where = ", ".join(p for p in (story.period.label(), story.organization, story.breakdown) if p)
    said = _one_line(story.text, limit)
    text = f"• *{escape(story.indicator_key)}* ({escape(where)}): “{said}” — {mention(story.told_by)}"
    for label, note in story.curve.items():
        text += f" · _{label}:_ {_one_line(note, CURVE_TEXT)}"
    return text


def stories_block(stories: Sequence[StoryLine], *, head: str, more: str) -> bk.Block:
    return bk.capped_section(head, [story_line(s) for s in stories], more=more)


def reporting_block(reporting: Reporting) -> bk.Block:
    """Who owes a report past its due date: organizations named, never @-mentioned. Reports not
    due yet are counted, not named."""
    if reporting.due == 0:
        return bk.section("*Reporting:* no indicator asks for a report this period.")
    head = f"*Reporting for the periods due:* {reporting.reported} of {reporting.due} reports are in."
    if reporting.pending:
        first = f", the first by {_day(reporting.next_due)}" if reporting.next_due else ""
        head += f" {reporting.pending} more {'are' if reporting.pending != 1 else 'is'} not due yet{first}."
    if not reporting.missing:
        if reporting.pending:
            return bk.section(head)
        return bk.section(f"{head}\n:tada: Every organization has reported.")
    lines = [f"• {escape(m.organization)}: {escape(', '.join(m.indicators))}" for m in reporting.missing]
    return bk.capped_section(f"{head}\nMissing, past the due date:", lines, more="`/ci status` lists them all")


def _owner(item: ActionLine) -> str:
    # The organization's name reads better than an ID, and neither pings anyone.
    return escape(item.organization) if item.organization else plain_name(item.owner)


def action_line(item: ActionLine, today: date, kind: str) -> str:
    text = f"• #{item.id} {escape(bk.clip(item.text, ITEM_TEXT))} — {_owner(item)}"
    if kind == "overdue" and item.due is not None:
        days = (today - item.due).days
        text += f", due {_day(item.due)} ({days} day{'s' if days != 1 else ''} late)"
    elif kind == "due" and item.due is not None:
        text += f", due {_day(item.due)}"
    return text


def action_blocks(digest: Digest) -> list[bk.Block]:
    actions = digest.actions
    more = "`/ci actions` lists them all"
    if not (actions.overdue or actions.due_next_week or actions.done_this_week):
        return [bk.section(f"*Action items:* {actions.open_count} open, none due this coming week and none overdue.")]
    out = []
    for title, items, kind in (
        (":rotating_light: *Overdue action items*", actions.overdue, "overdue"),
        (":calendar: *Due in the coming week*", actions.due_next_week, "due"),
        (":white_check_mark: *Done this week*", actions.done_this_week, "done"),
    ):
        if items:
            lines = [action_line(i, digest.today, kind) for i in items]
            out.append(bk.capped_section(f"{title} ({len(items)})", lines, more=more))
    return out


def decisions_block(digest: Digest) -> bk.Block | None:
    if not digest.decisions_total:
        return None
    lines = []
    for decision in digest.decisions:
        line = f"• {escape(bk.clip(' '.join(decision.text.split()), ITEM_TEXT))}"
        link = _link(decision.link, "details")
        lines.append(f"{line} ({link})" if link else line)
    where = f"<#{digest.links.decisions_channel}>" if digest.links.decisions_channel else "the decisions channel"
    since = digest.since.astimezone(ZoneInfo(digest.timezone)).date()
    return bk.capped_section(
        f":scales: *Decisions since {_day(since)}* ({digest.decisions_total})",
        lines,
        more=f"all of them are in {where}",
        hidden=digest.decisions_total - len(digest.decisions),
    )


def agenda_block(digest: Digest) -> bk.Block | None:
    if not digest.agenda_changed:
        return None
    link = _link(digest.agenda_url, "open it in Notion")
    where = link or "see it with `/ci agenda`"
    return bk.section(f":memo: *The common agenda changed* since the last digest: {where}.")


def setup_changes_block(digest: Digest) -> bk.Block | None:
    if not digest.setup_changes:
        return None
    lines = []
    for change in digest.setup_changes:
        who = f"by {mention(change.author)}" if by_person(change.author) else escape(change.author)
        shown = f"from {escape(change.before)} to {escape(change.after)}"
        lines.append(f"• Target for {escape(change.key)} changed {shown} ({who})")
    return bk.capped_section(":gear: *Changes to the set-up*", lines, more="App Home lists the recent changes")


def gaps_block(digest: Digest) -> bk.Block | None:
    if not digest.gaps:
        return None
    lines = [f"• {escape(g.goal_key)}.{g.number} {escape(bk.clip(g.text, ITEM_TEXT))}" for g in digest.gaps]
    return bk.capped_section(
        f":jigsaw: *Strategies nobody works on yet* ({len(digest.gaps)})",
        lines,
        more="`/ci map` shows who works on what",
    )


def footer(digest: Digest, *, preview: bool) -> bk.Block:
    parts = []
    hub = _link(digest.links.notion_hub, "Notion agenda hub")
    if hub:
        parts.append(hub)
    sheet = _link(digest.links.sheet, "data sheet")
    if sheet:
        parts.append(sheet)
    if digest.chart:
        parts.append("the chart of headline indicators " + ("is posted with the digest" if preview else "follows"))
    parts.append("report with `/ci update` · preview the next digest with `/ci digest`")
    return bk.context(" · ".join(parts))


def fallback_text(digest: Digest) -> str:
    # The fallback text is mrkdwn too (notifications show it): names are escaped here as well.
    parts = [f"{escape(digest.initiative_name)}: weekly digest"]
    if digest.reporting.due:
        parts.append(f"{digest.reporting.reported} of {digest.reporting.due} reports in")
    if digest.actions.overdue:
        parts.append(f"{len(digest.actions.overdue)} overdue action items")
    if digest.decisions_total:
        parts.append(f"{digest.decisions_total} decisions")
    return bk.clip(" · ".join(parts), bk.MAX_FALLBACK_TEXT)


def digest_stories_block(digest: Digest) -> bk.Block | None:
    if not digest.stories:
        return None
    return stories_block(
        digest.stories,
        head=f":speech_balloon: *The stories behind the numbers* ({len(digest.stories)})",
        more="the meeting-prep page (`/ci prep`) has them all, whole",
    )


def _outlasting(digest: Digest) -> tuple[bk.Block | None, bk.Block | None]:
    """The systems changes confirmed since the last digest, and the data we still need."""
    return (
        systems_change_blocks.digest_changes_block(digest.systems_changes),
        systems_change_blocks.wishes_block(digest.wishes, more="`/ci indicators` lists them all"),
    )


def digest_blocks(digest: Digest, *, preview: bool = False) -> list[bk.Block]:
    local = digest.as_of.astimezone(ZoneInfo(digest.timezone))
    out: list[bk.Block] = [bk.header(f"{digest.initiative_name} — weekly digest")]
    if preview:
        where = f"<#{digest.digest_channel}>" if digest.digest_channel else "the digest channel"
        out.append(
            bk.context(f":eyes: A preview only you can see. Backbone staff post it to {where} with `/ci digest post`.")
        )
    out.append(bk.context(f"{_day(local.date())}, {local:%H:%M} {local.tzname() or ''} · where our goals stand"))
    out.extend(goal_blocks(digest.goals))
    stories = digest_stories_block(digest)
    if stories is not None:
        out.append(stories)
    out.append(bk.divider())
    out.append(reporting_block(digest.reporting))
    out.extend(action_blocks(digest))
    for optional in (
        decisions_block(digest),
        digest_community_voice_block(digest.community_stories),
        agenda_block(digest),
        setup_changes_block(digest),
        gaps_block(digest),
        *_outlasting(digest),
    ):
        if optional is not None:
            out.append(optional)
    out.append(bk.divider())
    out.append(footer(digest, preview=preview))
    return out


def _whole(goals: Sequence[GoalDigest]) -> bool:
    """Whether every goal's one section shows every one of its indicators, none cut short."""
    return all(
        _goal_section(g)["text"]["text"] == "\n".join([_goal_title(g), *(indicator_line(i) for i in g.indicators)])
        for g in goals
        if g.indicators
    )


def _one_message(digest: Digest, *, preview: bool) -> list[bk.Block] | None:
    """The whole digest as one message's blocks, or None when it does not fit in one."""
    if len(digest.goals) > MAX_GOAL_SECTIONS or not _whole(digest.goals):
        return None
    blocks = digest_blocks(digest, preview=preview)
    if len(blocks) > bk.MAX_MESSAGE_BLOCKS or bk.size(blocks) > bk.MESSAGE_BUDGET:
        return None
    return blocks


def _goal_counts(goal: GoalDigest) -> str:
    on = sum(1 for i in goal.indicators if i.on_track is True)
    off = sum(1 for i in goal.indicators if i.on_track is False)
    parts = [f"{len(goal.indicators)} indicator{'s' if len(goal.indicators) != 1 else ''}"]
    if on:
        parts.append(f"{MARK[True]} {on} on track")
    if off:
        parts.append(f"{MARK[False]} {off} off track")
    return " · ".join(parts)


def goals_overview(goals: Sequence[GoalDigest]) -> bk.Block:
    """One line a goal, for the headline of a digest whose indicators are in its thread."""
    if not goals:
        return bk.section("No indicators yet: the backbone team adds them to the initiative file.")
    lines = []
    for goal in goals:
        title = bk.clip(goal.title, NAME_TEXT)
        name = f"*{escape(goal.key)} · {escape(title)}*" if goal.key else f"*{escape(title)}*"
        lines.append(f"• {name}: {_goal_counts(goal)}")
    return bk.capped_section(
        ":bar_chart: *Where our goals stand* — every indicator is in the thread below",
        lines,
        more="every goal is in the thread below",
    )


def goal_detail_blocks(goals: Sequence[GoalDigest]) -> list[bk.Block]:
    """Every indicator of every goal, as many sections as they need (for the digest's thread)."""
    out: list[bk.Block] = []
    for goal in goals:
        title = _goal_title(goal)
        if not goal.indicators:
            out.append(bk.section(f"{title}\n_No indicators for this goal yet._"))
            continue
        out.extend(bk.sections([title, *(indicator_line(i) for i in goal.indicators)]))
    return out


def _headline_blocks(digest: Digest, *, preview: bool) -> tuple[list[bk.Block], list[bk.Block]]:
    """The headline message's blocks, and those of its news that did not fit (for the thread)."""
    local = digest.as_of.astimezone(ZoneInfo(digest.timezone))
    head: list[bk.Block] = [bk.header(f"{digest.initiative_name} — weekly digest")]
    if preview:
        where = f"<#{digest.digest_channel}>" if digest.digest_channel else "the digest channel"
        head.append(
            bk.context(
                f":eyes: A preview only you can see. Backbone staff post it to {where} with `/ci digest post`; "
                "each goal's indicators follow in its thread."
            )
        )
    head.append(bk.context(f"{_day(local.date())}, {local:%H:%M} {local.tzname() or ''} · where our goals stand"))
    head.extend([goals_overview(digest.goals), bk.divider(), reporting_block(digest.reporting)])
    stories = digest_stories_block(digest)
    news: list[bk.Block] = [*([stories] if stories is not None else []), *action_blocks(digest)]
    optional = (
        decisions_block(digest),
        digest_community_voice_block(digest.community_stories),
        agenda_block(digest),
        setup_changes_block(digest),
        gaps_block(digest),
        *_outlasting(digest),
    )
    news.extend(b for b in optional if b is not None)
    tail = [bk.divider(), footer(digest, preview=preview)]
    spill_note = bk.context(":thread: More of this digest is in the thread below.")
    shown: list[bk.Block] = []
    for index, block in enumerate(news):
        rest = len(news) - index - 1
        candidate = [*head, *shown, block, *([spill_note] if rest else []), *tail]
        if bk.size(candidate) > bk.MESSAGE_BUDGET or len(candidate) > bk.MAX_MESSAGE_BLOCKS:
            return [*head, *shown, spill_note, *tail], news[index:]
        shown.append(block)
    return [*head, *shown, *tail], []


def digest_messages(digest: Digest, *, preview: bool = False) -> list[dict[str, Any]]:
    """The digest as `{"text", "blocks"}` messages: the first for the channel, the others for its thread.

    Every indicator is in one of them, and each message is within Slack's limits.
    """
    text = fallback_text(digest)
    whole = _one_message(digest, preview=preview)
    if whole is not None:
        return [{"text": text, "blocks": whole}]
    headline, spilled = _headline_blocks(digest, preview=preview)
    replies = bk.pages([*spilled, *goal_detail_blocks(digest.goals)])
    messages = [bk.Message(text, headline, keep_tail=2).build("See every indicator with `/ci indicators`.")]
    for number, page in enumerate(replies, start=1):
        reply_text = f"{escape(digest.initiative_name)}: weekly digest, part {number + 1} of {len(replies) + 1}"
        messages.append({"text": bk.clip(reply_text, bk.MAX_FALLBACK_TEXT), "blocks": page})
    return messages


def digest_message(digest: Digest, *, preview: bool = False) -> dict[str, Any]:
    """The digest's first message (all of it when it fits in one): for a private preview, say."""
    return digest_messages(digest, preview=preview)[0]


def chart_title(digest: Digest) -> str:
    return f"{digest.initiative_name}: headline indicators, {_day(digest.today)}"


def chart_alt_text(digest: Digest) -> str:
    parts = []
    for panel in digest.chart:
        latest = panel.points[-1] if panel.points else None
        if latest is not None:
            parts.append(f"{panel.key} {format_value(latest.value, panel.unit)} ({latest.period.label()})")
    return bk.clip("Headline indicators: " + "; ".join(parts), 1000)
