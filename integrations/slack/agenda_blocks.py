"""Block Kit for the common agenda: from the initiative file, or the cached Notion page as mrkdwn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ci_slackbot.services.agenda import CommonAgenda
from ci_slackbot.store.models import AgendaCache
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, link_escaped

# Room for the header and the closing context in a 50-block message.
MAX_AGENDA_SECTIONS = bk.MAX_MESSAGE_BLOCKS - 4
INDENT = "\u2003\u2003"  # em spaces: Slack keeps them, so nested items stay indented


def age(since: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - since).total_seconds())
    if seconds < 90:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _run(run: dict[str, Any]) -> str:
    """One piece of Notion rich text as mrkdwn, escaped."""
    text = str(run.get("text", ""))
    core = text.strip()
    if not core:
        return escape(text)
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    shown = escape(core)
    if run.get("code"):
        shown = f"`{shown}`"
    else:
        if run.get("bold"):
            shown = f"*{shown}*"
        if run.get("italic"):
            shown = f"_{shown}_"
        if run.get("strike"):
            shown = f"~{shown}~"
    href = run.get("href")
    if isinstance(href, str) and href.startswith(("http://", "https://")):
        shown = link_escaped(href, shown)
    return f"{escape(lead)}{shown}{escape(trail)}"


def block_lines(content: Sequence[dict[str, Any]]) -> list[str]:
    """The cached page's blocks as mrkdwn lines: headings bold, lists, to-dos and toggles marked."""
    lines: list[str] = []
    numbers: dict[int, int] = {}  # depth → the number of the last numbered item at that depth
    for block in content:
        kind = str(block.get("type", ""))
        depth = int(block.get("depth", 0))
        text = "".join(_run(run) for run in block.get("runs") or [])
        if kind != "numbered_list_item":
            numbers.pop(depth, None)
        for deeper in [d for d in numbers if d > depth]:
            numbers.pop(deeper)
        pad = INDENT * depth
        if kind in ("heading_1", "heading_2", "heading_3"):
            line = f"*{text}*" if text.strip() else ""
            if kind == "heading_1" and lines:
                lines.append("")
        elif kind == "bulleted_list_item":
            line = f"• {text}"
        elif kind == "numbered_list_item":
            numbers[depth] = numbers.get(depth, 0) + 1
            line = f"{numbers[depth]}. {text}"
        elif kind == "to_do":
            line = f"{':ballot_box_with_check:' if block.get('checked') else ':white_square:'} {text}"
        elif kind == "toggle":
            line = f"▸ {text}"
        elif kind == "quote":
            line = f"> {text}" if depth == 0 else f"“{text}”"
        elif kind == "callout":
            line = f":bulb: {text}"
        elif kind == "code":
            line = f"```{text}```" if text else ""
        elif kind == "divider":
            line = "――――――――"
        elif kind == "child_page":
            line = f":page_facing_up: {text}"
        elif kind == "child_database":
            line = f":card_index_dividers: {text}"
        elif kind == "other":
            line = f"_({escape(str(block.get('kind', 'embedded content')).replace('_', ' '))} — see it in Notion)_"
        else:
            line = text
        lines.append(f"{pad}{line}" if line else "")
    return lines


def notion_agenda(cache: AgendaCache, now: datetime) -> tuple[str, list[bk.Block]]:
    title = cache.title or "Common agenda"
    sections = bk.sections([line if line else " " for line in block_lines(cache.content)])
    link = f"<{escape(cache.url)}|open it in Notion>" if cache.url else "see it in Notion"
    if len(sections) > MAX_AGENDA_SECTIONS:
        sections = [*sections[: MAX_AGENDA_SECTIONS - 1], bk.context(f"The page goes on: {link}.")]
    note = f"From the agenda page in Notion, read {age(cache.fetched_at, now)} ({link})."
    if cache.failed_at is not None and cache.failed_at >= cache.fetched_at:
        note = (
            f":warning: Notion could not be reached {age(cache.failed_at, now)}: this is the last copy, "
            f"read {age(cache.fetched_at, now)} ({link})."
        )
    if not sections:
        sections = [bk.section("_The agenda page is empty._")]
    return f"{title}: the common agenda", [bk.header(title), *sections, bk.context(note)]


def file_agenda(agenda: CommonAgenda, note: str | None = None) -> tuple[str, list[bk.Block]]:
    """Vision, problem, goals and strategies, as the initiative file states them."""
    body: list[bk.Block] = [bk.header(f"{agenda.name}: the common agenda")]
    if agenda.vision:
        body.append(bk.section(f"*Vision*\n{bk.clip(escape(agenda.vision), 2900)}"))
    if agenda.problem:
        body.append(bk.section(f"*The problem*\n{bk.clip(escape(agenda.problem), 2900)}"))
    goals = list(agenda.goals)
    room = bk.MAX_MESSAGE_BLOCKS - len(body) - 2
    for goal in goals[:room]:
        head = f"*{escape(goal.key)} — {escape(goal.title)}*"
        if goal.description:
            head += f"\n{escape(goal.description)}"
        body.append(
            bk.capped_section(
                head, [f"• {escape(s)}" for s in goal.strategies], more="see the initiative file for the rest"
            )
        )
    if len(goals) > room:
        body.append(bk.context(f"…and {len(goals) - room} more goals in the initiative file."))
    if not goals:
        body.append(bk.section("_No goals yet: the backbone team adds them to the initiative file._"))
    if note:
        body.append(bk.context(note))
    return f"{agenda.name}: the common agenda", body
