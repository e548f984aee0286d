"""App Home's "Indicators": the shared measurement system, paged, and the indicator form.

Action ids in the list modal (value in brackets): `setup_indicator_add` ("new"), `setup_indicator_edit`
and `setup_indicator_retire` (the indicator's key; Retire asks to confirm), `setup_indicators_page_previous` /
`setup_indicators_page_next` (the page they show). The form's callback_id is `setup_indicator_save`;
its block_ids are the IND_* names below, each with one element whose action_id is `value`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ci_slackbot.domain.measurement import Direction, Rollup
from ci_slackbot.domain.periods import Frequency
from integrations.slack import blocks as bk
from integrations.slack import form_kit as kit
from integrations.slack.escape import escape

INDICATORS_LIST = "setup_indicators_list"
INDICATOR_SAVE = "setup_indicator_save"
ADD_INDICATOR = "setup_indicator_add"
EDIT_INDICATOR = "setup_indicator_edit"
RETIRE_INDICATOR = "setup_indicator_retire"
INDICATORS_PAGE = "setup_indicators_page"

IND_KEY = "ind_key"
IND_NAME = "ind_name"
IND_GOAL = "ind_goal"
IND_UNIT = "ind_unit"
IND_DIRECTION = "ind_direction"
IND_FREQUENCY = "ind_frequency"
IND_MIN = "ind_min"
IND_MAX = "ind_max"
IND_BASELINE_PERIOD = "ind_baseline_period"
IND_BASELINE_VALUE = "ind_baseline_value"
IND_TARGET_PERIOD = "ind_target_period"
IND_TARGET_VALUE = "ind_target_value"
IND_REPORTERS = "ind_reporters"
IND_BREAKDOWNS = "ind_breakdowns"
IND_THRESHOLD = "ind_threshold"
IND_SOURCE = "ind_source"
IND_HEADLINE = "ind_headline"
IND_ROLLUP = "ind_rollup"
IND_OWNER = "ind_owner"
IND_DUE_AFTER = "ind_due_after_days"
IND_EQUITY_LENS = "ind_equity_lens"
IND_GROUP_TARGETS = "ind_group_targets"
HEADLINE_CHOSEN = "headline"
DEFAULT_ROLLUP = "default"
NO_OWNER = "-"

# The file's field under `indicators[i]` → the block that shows it.
FIELD_BLOCKS = {
    "key": IND_KEY,
    "name": IND_NAME,
    "goal": IND_GOAL,
    "unit": IND_UNIT,
    "direction": IND_DIRECTION,
    "frequency": IND_FREQUENCY,
    "min": IND_MIN,
    "max": IND_MAX,
    "baseline.period": IND_BASELINE_PERIOD,
    "baseline.value": IND_BASELINE_VALUE,
    "baseline": IND_BASELINE_PERIOD,
    "target.period": IND_TARGET_PERIOD,
    "target.value": IND_TARGET_VALUE,
    "target": IND_TARGET_PERIOD,
    "reporters": IND_REPORTERS,
    "breakdowns": IND_BREAKDOWNS,
    "small_number_threshold": IND_THRESHOLD,
    "source": IND_SOURCE,
    "headline": IND_HEADLINE,
    "rollup": IND_ROLLUP,
    "owner": IND_OWNER,
    "due_after_days": IND_DUE_AFTER,
    "equity_lens": IND_EQUITY_LENS,
    "group_targets": IND_GROUP_TARGETS,
}


def _number(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _summary(indicator: dict[str, Any], goal_titles: dict[str, str]) -> str:
    goal = str(indicator.get("goal", ""))
    parts = [f"*{escape(str(indicator.get('name', '')))}*  `{escape(str(indicator['key']))}`"]
    detail = [escape(f"{goal} · {goal_titles.get(goal, '')}".strip(" ·")), str(indicator.get("frequency", ""))]
    if indicator.get("unit"):
        detail.append(escape(str(indicator["unit"])))
    target = indicator.get("target")
    if isinstance(target, dict):
        detail.append(escape(f"target {_number(target.get('value'))} by {target.get('period')}"))
    parts.append(" · ".join(d for d in detail if d))
    parts.append("Reported by " + escape(", ".join(str(r) for r in indicator.get("reporters") or [])))
    return bk.clip("\n".join(parts), bk.MAX_SECTION_TEXT)


def indicators_list(
    indicators: Sequence[dict[str, Any]], goal_titles: dict[str, str], *, page: int = 0, notice: str = ""
) -> dict[str, Any]:
    """Every current indicator, twenty a page (any number fits: Previous/Next)."""
    page, start, end = kit.page_of(len(indicators), page)
    blocks = kit.list_head(
        "The shared measurement system. An indicator is retired, never deleted: its values and "
        "history stay, and adding its key again brings it back.",
        bk.button("Add an indicator", ADD_INDICATOR, "new", style="primary"),
        notice,
    )
    if not indicators:
        blocks.append(bk.context("No indicators yet." if goal_titles else "Add a goal first: every indicator has one."))
    for index in range(start, end):
        indicator = indicators[index]
        key = str(indicator["key"])
        retire = bk.button("Retire", RETIRE_INDICATOR, key, style="danger")
        retire["confirm"] = kit.confirm(
            "Retire this indicator?",
            f"{key} is no longer asked for or shown. Its values stay, and adding {key} again brings it back.",
            "Retire",
        )
        blocks.append(bk.section(_summary(indicator, goal_titles)))
        blocks.append(bk.actions(bk.button("Edit", EDIT_INDICATOR, key), retire))
    blocks.extend(kit.pager(INDICATORS_PAGE, len(indicators), page))
    return kit.modal(INDICATORS_LIST, "Indicators", blocks, {"page": page}, submit=None)


def indicator_form(
    indicator: dict[str, Any] | None,
    *,
    goals: Sequence[tuple[str, str]],
    organizations: Sequence[tuple[str, str]],
    list_view: str | None,
) -> dict[str, Any]:
    """Every field the initiative file has for an indicator; `indicator` None to add one."""
    current = indicator or {}
    baseline = current.get("baseline") or {}
    target = current.get("target") or {}
    blocks: list[bk.Block] = []
    if indicator is None:
        blocks.append(
            kit.field(
                IND_KEY,
                "Key",
                kit.text_input(max_length=60, placeholder="er-visits"),
                hint="Lower-case letters, digits and dashes; partners type it in /ci update, and it never changes.",
            )
        )
    else:
        blocks.append(bk.context(f"Indicator `{escape(str(indicator['key']))}`"))
    text = kit.text_input
    blocks += [
        kit.field(IND_NAME, "Name", text(current.get("name"), max_length=200)),
        kit.field(
            IND_GOAL,
            "Goal",
            kit.static_select([(k, f"{k} · {t}") for k, t in goals], current.get("goal"), placeholder="Choose a goal"),
        ),
        kit.field(IND_UNIT, "Unit", text(current.get("unit"), max_length=100, placeholder="percent"), optional=True),
        kit.field(
            IND_DIRECTION,
            "Better is",
            kit.static_select(
                [(Direction.INCREASE.value, "Higher (increase)"), (Direction.DECREASE.value, "Lower (decrease)")],
                current.get("direction"),
            ),
        ),
        kit.field(
            IND_FREQUENCY,
            "Reported",
            kit.static_select([(f.value, f.value.capitalize()) for f in Frequency], current.get("frequency")),
        ),
        kit.field(IND_MIN, "Lowest possible value", text(_number(current.get("min")), max_length=40), optional=True),
        kit.field(IND_MAX, "Highest possible value", text(_number(current.get("max")), max_length=40), optional=True),
        kit.field(
            IND_BASELINE_PERIOD,
            "Baseline period",
            text(str(baseline.get("period", "")), max_length=20, placeholder="2025-12"),
            hint="As partners report it: 2025-12 monthly, 2025-Q4 quarterly, 2025-W49 weekly, 2025 yearly.",
            optional=True,
        ),
        kit.field(
            IND_BASELINE_VALUE, "Baseline value", text(_number(baseline.get("value")), max_length=40), optional=True
        ),
        kit.field(
            IND_TARGET_PERIOD,
            "Target period",
            text(str(target.get("period", "")), max_length=20, placeholder="2027-12"),
            optional=True,
        ),
        kit.field(IND_TARGET_VALUE, "Target value", text(_number(target.get("value")), max_length=40), optional=True),
        kit.field(
            IND_REPORTERS,
            "Reporting organizations",
            kit.multi_select(organizations, current.get("reporters") or (), placeholder="Who reports it"),
        ),
        kit.field(
            IND_BREAKDOWNS,
            "Breakdowns",
            text(", ".join(current.get("breakdowns") or []), max_length=300, placeholder="zip, age"),
            hint="Comma-separated: values may be split by these (equity).",
            optional=True,
        ),
        kit.field(
            IND_THRESHOLD,
            "Small-number threshold",
            text(_number(current.get("small_number_threshold")), max_length=40),
            hint="Breakdown values below this are hidden from channel posts.",
            optional=True,
        ),
        kit.field(IND_SOURCE, "Data source", text(current.get("source"), max_length=500), optional=True),
        kit.field(
            IND_HEADLINE,
            "Headline",
            kit.checkbox(
                HEADLINE_CHOSEN, "Shown among the digest's headline indicators", current.get("headline", True)
            ),
            optional=True,
        ),
        kit.field(
            IND_ROLLUP,
            "How partners' values combine",
            kit.static_select(
                [(DEFAULT_ROLLUP, "As the unit says (rate for %, per-N; sum for counts)")]
                + [(r.value, r.value) for r in Rollup],
                current.get("rollup") or DEFAULT_ROLLUP,
            ),
            optional=True,
        ),
        kit.field(
            IND_OWNER,
            "Whose value counts (with “owner”)",
            kit.static_select(
                [(NO_OWNER, "Nobody (not an owner roll-up)"), *organizations],
                current.get("owner"),
                placeholder="An organization",
            ),
            optional=True,
        ),
        kit.field(
            IND_DUE_AFTER,
            "Due days after the period ends",
            text(_number(current.get("due_after_days")), max_length=10),
            hint="Leave empty for the initiative's default for this frequency.",
            optional=True,
        ),
        kit.field(
            IND_EQUITY_LENS,
            "Equity lens",
            text(current.get("equity_lens"), max_length=100, placeholder="zip"),
            hint="The breakdown whose groups' gap is pointed out; empty: the first breakdown.",
            optional=True,
        ),
        kit.field(
            IND_GROUP_TARGETS,
            "Group targets",
            text(
                "\n".join(f"{k}: {_number(v)}" for k, v in (current.get("group_targets") or {}).items()),
                multiline=True,
                placeholder="zip=75216: 10",
            ),
            hint="One a line, <breakdown>=<group>: <target>.",
            optional=True,
        ),
    ]
    metadata = {"key": indicator["key"] if indicator is not None else None, "list": list_view}
    return kit.modal(INDICATOR_SAVE, "Edit indicator" if indicator else "Add an indicator", blocks, metadata)
