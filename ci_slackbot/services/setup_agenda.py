"""The common agenda and its links, changed from App Home: goals and strategies, indicators, and the
initiative's own fields, channels, schedule, Notion and Sheets.

Each form's input becomes an edit of the initiative file (`services/setup.py` `change_setup`), so it
is held to exactly what `init` accepts. What the file cannot say itself (a number typed as `twelve`,
a Notion link instead of an id) is read here, and refused at the file path of its field, as the
file's own checks refuse theirs: the forms map paths to their fields the same way for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ci_slackbot.domain import pasted_ids
from ci_slackbot.services.setup import Edit, SetupDocument, SetupError, check_document, find_section

# -- reading what was typed ------------------------------------------------------------------------


def number(text: str | None, path: str) -> float | int | None:
    """A number typed in a text field (`12`, `12.5`, `1,000`), None when left empty; refused at `path`."""
    raw = (text or "").strip()
    if not raw:
        return None
    cleaned = raw.replace(",", "").replace("_", "").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise SetupError({path: f"`{raw[:40]}` is not a number: write it with digits, like 12 or 12.5"}) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise SetupError({path: f"`{raw[:40]}` is not a number: write it with digits, like 12 or 12.5"})
    # Whole numbers as the file writes them (`22`, not `22.0`).
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def whole_number(text: str | None, path: str) -> int | None:
    value = number(text, path)
    if value is not None and not float(value).is_integer():
        raise SetupError({path: f"`{text}` is not a whole number of days: write it like 15"})
    return None if value is None else int(value)


def lines(text: str | None) -> list[str]:
    """One item a line, blank lines and bullets people paste (`- `, `• `, `1. `) left out."""
    out = []
    for line in (text or "").splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", line).strip()
        if line:
            out.append(line)
    return out


def comma_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def group_targets(text: str | None, path: str) -> dict[str, float | int]:
    """`zip=75216: 10`, one a line (or separated by commas), as the file's `group_targets`."""
    out: dict[str, float | int] = {}
    for entry in [part for line in (text or "").splitlines() for part in line.split(",")]:
        if not entry.strip():
            continue
        group, sep, value = entry.rpartition(":")
        if not sep or not group.strip():
            raise SetupError({path: f"`{entry.strip()[:40]}`: write each as `<breakdown>=<group>: <target>`"})
        parsed = number(value, path)
        if parsed is None:
            raise SetupError({path: f"`{entry.strip()[:40]}` has no target after the colon"})
        out[group.strip()] = parsed
    return out


def notion_id(text: str | None, path: str) -> str | None:
    """A Notion page or database id from what was pasted (the id, or a link to it); refused at `path`."""
    try:
        return pasted_ids.notion_id(text)
    except pasted_ids.PastedIdError as exc:
        raise SetupError({path: str(exc)}) from None


def spreadsheet_id(text: str | None, path: str) -> str | None:
    """A Google spreadsheet id from what was pasted (its link, or the id); refused at `path`."""
    try:
        return pasted_ids.spreadsheet_id(text)
    except pasted_ids.PastedIdError as exc:
        raise SetupError({path: str(exc)}) from None


# -- goals and strategies ------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalDraft:
    """A goal as its form gives it: strategies one a line."""

    title: str
    description: str = ""
    strategies: str = ""
    key: str = ""  # only when adding; a goal's key never changes


def save_goal(draft: GoalDraft, editing: str | None) -> Edit:
    """Add the goal (`editing` None) or change the goal `editing`, keeping its place in the order."""

    def edit(document: SetupDocument) -> None:
        goals: list[dict[str, Any]] = document.setdefault("goals", [])
        section: dict[str, Any] = {"key": draft.key.strip(), "title": draft.title.strip()}
        if editing is not None:
            index, old = find_section(document, "goals", editing)
            section["key"] = old["key"]
        else:
            index = len(goals)
            if not section["key"]:
                raise SetupError({f"goals[{index}].key": "give the goal a short key, like G4"})
            if any(g.get("key") == section["key"] for g in goals):
                raise SetupError({f"goals[{index}].key": f"`{section['key']}` is taken: give the goal another key"})
        if draft.description.strip():
            section["description"] = draft.description.strip()
        strategies = lines(draft.strategies)
        if strategies:
            section["strategies"] = strategies
        if editing is None:
            goals.append(section)
        else:
            goals[index] = section

    return edit


def retire_goal(key: str) -> Edit:
    def edit(document: SetupDocument) -> None:
        index, _ = find_section(document, "goals", key)
        used = [i["key"] for i in document.get("indicators", []) if i.get("goal") == key]
        if used:
            raise SetupError(
                {f"goals[{index}]": f"{key} still has indicators ({', '.join(used)}): give them another goal first"}
            )
        doing = [
            o["key"]
            for o in document.get("organizations", [])
            if any(a.get("goal") == key for a in o.get("activities", []))
        ]
        if doing:
            raise SetupError(
                {f"goals[{index}]": f"activities of {', '.join(doing)} belong to {key}: move or end them first"}
            )
        del document["goals"][index]

    return edit


def move_goal(key: str, step: int) -> Edit:
    """One place up (-1) or down (+1); at either end it stays."""

    def edit(document: SetupDocument) -> None:
        index, _ = find_section(document, "goals", key)
        goals = document["goals"]
        other = index + step
        if 0 <= other < len(goals):
            goals[index], goals[other] = goals[other], goals[index]

    return edit


# -- indicators ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorDraft:
    """An indicator as its form gives it: numbers still as typed, lists as chosen."""

    name: str
    goal: str
    direction: str
    frequency: str
    reporters: list[str]
    key: str = ""  # only when adding
    unit: str = ""
    minimum: str = ""
    maximum: str = ""
    baseline_period: str = ""
    baseline_value: str = ""
    target_period: str = ""
    target_value: str = ""
    breakdowns: str = ""
    small_number_threshold: str = ""
    source: str = ""
    headline: bool = True
    rollup: str = ""
    owner: str = ""
    due_after_days: str = ""
    equity_lens: str = ""
    group_targets: str = ""


def _point(period: str, value: str, at: str) -> dict[str, Any] | None:
    """A baseline or target: both halves or neither."""
    period = period.strip()
    parsed = number(value, f"{at}.value")
    if not period and parsed is None:
        return None
    if not period:
        raise SetupError({f"{at}.period": "give the period this value is for, like 2025-12 or 2025-Q4"})
    if parsed is None:
        raise SetupError({f"{at}.value": f"give the value for {period}"})
    return {"period": period, "value": parsed}


def refuse_with_the_rest(document: SetupDocument, problems: dict[str, str]) -> None:
    """Refuse what could not be read together with what the file's own rules find in the rest of the
    document (the unreadable fields left out), so that a form shows every error at once."""
    if not problems:
        return
    try:
        check_document(document)
    except SetupError as exc:
        problems = {**exc.problems, **problems}
    raise SetupError(problems)


def indicator_section(draft: IndicatorDraft, key: str, at: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The file's mapping for the indicator, without the fields that cannot be read, and what is wrong
    with those (by path)."""
    section: dict[str, Any] = {"key": key, "name": draft.name.strip(), "goal": draft.goal}
    problems: dict[str, str] = {}

    def read(path: str, reader: Any, *args: Any) -> Any:
        try:
            return reader(*args, f"{at}.{path}")
        except SetupError as exc:
            problems.update(exc.problems)
            return None

    if draft.unit.strip():
        section["unit"] = draft.unit.strip()
    section["direction"] = draft.direction
    section["frequency"] = draft.frequency
    for name, text in (("min", draft.minimum), ("max", draft.maximum)):
        value = read(name, number, text)
        if value is not None:
            section[name] = value
    for name, period, value in (
        ("baseline", draft.baseline_period, draft.baseline_value),
        ("target", draft.target_period, draft.target_value),
    ):
        try:
            point = _point(period, value, f"{at}.{name}")
        except SetupError as exc:
            problems.update(exc.problems)
            point = None
        if point is not None:
            section[name] = point
    section["reporters"] = list(draft.reporters)
    breakdowns = comma_list(draft.breakdowns)
    if breakdowns:
        section["breakdowns"] = breakdowns
    if draft.source.strip():
        section["source"] = draft.source.strip()
    threshold = read("small_number_threshold", number, draft.small_number_threshold)
    if threshold is not None:
        section["small_number_threshold"] = threshold
    if not draft.headline:
        section["headline"] = False
    if draft.rollup:
        section["rollup"] = draft.rollup
    if draft.owner:
        section["owner"] = draft.owner
    days = read("due_after_days", whole_number, draft.due_after_days)
    if days is not None:
        section["due_after_days"] = days
    if draft.equity_lens.strip():
        section["equity_lens"] = draft.equity_lens.strip()
    targets = read("group_targets", group_targets, draft.group_targets)
    if targets:
        section["group_targets"] = targets
    return section, problems


def save_indicator(draft: IndicatorDraft, editing: str | None) -> Edit:
    """Add the indicator (`editing` None) or change the indicator `editing` in its place."""

    def edit(document: SetupDocument) -> None:
        indicators: list[dict[str, Any]] = document.setdefault("indicators", [])
        if editing is not None:
            index, old = find_section(document, "indicators", editing)
            key = old["key"]
        else:
            index, key = len(indicators), draft.key.strip()
            if not key:
                raise SetupError({f"indicators[{index}].key": "give the indicator a short key, like er-visits"})
            if any(i.get("key") == key for i in indicators):
                raise SetupError(
                    {f"indicators[{index}].key": f"`{key}` is taken (or retired: its history stays under it)"}
                )
        section, problems = indicator_section(draft, key, f"indicators[{index}]")
        if editing is None:
            indicators.append(section)
        else:
            indicators[index] = section
        refuse_with_the_rest(document, problems)

    return edit


def retire_indicator(key: str) -> Edit:
    """Out of the file: the indicator is retired with its values kept, and comes back if its key is added."""

    def edit(document: SetupDocument) -> None:
        index, _ = find_section(document, "indicators", key)
        del document["indicators"][index]

    return edit


# -- the initiative and its links ----------------------------------------------------------------

NOTION_FIELDS = (
    "agenda_page",
    "decisions_database",
    "actions_database",
    "systems_changes_database",
    "community_voice_database",
)


@dataclass(frozen=True)
class LinksDraft:
    """The initiative's own fields and what it is linked to, as the links form gives them."""

    name: str
    timezone: str
    vision: str = ""
    problem: str = ""
    digest_channel: str | None = None
    decisions_channel: str | None = None
    digest_schedule: str = ""
    reminders_schedule: str = ""
    notion: dict[str, str] = field(default_factory=dict)  # NOTION_FIELDS → link or id as pasted
    spreadsheet: str = ""
    # The workspaces of partners (team IDs) whose people act as members; None: not asked (one workspace).
    partner_workspaces: list[str] | None = None


def save_links(draft: LinksDraft) -> Edit:
    def edit(document: SetupDocument) -> None:
        problems: dict[str, str] = {}
        initiative = document.setdefault("initiative", {})
        initiative["name"] = draft.name.strip()
        initiative["timezone"] = draft.timezone.strip()
        for name, text in (("vision", draft.vision), ("problem", draft.problem)):
            if text.strip():
                initiative[name] = text.strip()
            else:
                initiative.pop(name, None)
        channels = {
            name: channel
            for name, channel in (("digest", draft.digest_channel), ("decisions", draft.decisions_channel))
            if channel
        }
        document["channels"] = channels
        schedule = dict(document.get("schedule") or {})
        for name, text in (("digest", draft.digest_schedule), ("reminders", draft.reminders_schedule)):
            if text.strip():
                schedule[name] = text.strip()
            else:
                problems[f"schedule.{name}"] = "give a day and time, like `mon 09:00`, or a 5-field cron line"
        document["schedule"] = schedule
        notion: dict[str, str] = {}
        for name in NOTION_FIELDS:
            try:
                value = notion_id(draft.notion.get(name), f"notion.{name}")
            except SetupError as exc:
                problems.update(exc.problems)
                continue
            if value:
                notion[name] = value
        if notion:
            document["notion"] = notion
        else:
            document.pop("notion", None)
        try:
            sheet = spreadsheet_id(draft.spreadsheet, "sheets.spreadsheet_id")
        except SetupError as exc:
            problems.update(exc.problems)
            sheet = None
        if sheet:
            document["sheets"] = {"spreadsheet_id": sheet}
        else:
            document.pop("sheets", None)
        if draft.partner_workspaces is not None:
            if draft.partner_workspaces:
                initiative["partner_workspaces"] = list(dict.fromkeys(draft.partner_workspaces))
            else:
                initiative.pop("partner_workspaces", None)
        refuse_with_the_rest(document, problems)

    return edit
