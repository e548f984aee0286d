"""The equity lens in words: one line under an indicator's line, in a digest, App Home or `/ci indicator`.

`:scales: Gap by zip (Apr 2026): furthest from the target zip 75216 (22.1 per 1,000 children, target 12),
best off zip 75201 (15.3): the gap between them widened from 4 to 6.8 per 1,000 children since Mar 2026`.
Only values that may be shown in a channel are in it (`ci_slackbot.domain.equity`).
"""

from __future__ import annotations

from ci_slackbot.domain.equity import gap_amount
from ci_slackbot.domain.measurement import format_number, format_value
from ci_slackbot.services.equity import IndicatorEquity
from ci_slackbot.services.measurement_views import breakdown_label
from integrations.slack import blocks as bk
from integrations.slack.escape import escape

GROUP_TEXT = 60  # a group's label (`zip 75216`); reported text, so cut and escaped


def _group(key: str) -> str:
    return escape(bk.clip(breakdown_label(key), GROUP_TEXT))


def gap_text(equity: IndicatorEquity, unit: str) -> str:
    """The gap between the group furthest from its target and the one best off, and how it moved."""
    gap = equity.gap
    worst = f"{format_value(gap.worst_value, unit)}"
    if gap.worst_target is not None:
        worst += f", target {format_number(gap.worst_target)}"
    text = (
        f":scales: Gap by {escape(bk.clip(equity.lens, GROUP_TEXT))} ({equity.period.label()}): "
        f"furthest from the target {_group(gap.worst)} ({escape(worst)}), "
        f"best off {_group(gap.best)} ({escape(format_value(gap.best_value, unit))})"
    )
    size = escape(gap_amount(gap.size, unit))
    since = f" since {equity.previous_period.label()}" if equity.previous_period is not None else ""
    if gap.change in ("widened", "narrowed") and gap.previous_size is not None:
        text += f": the gap {gap.change} from {format_number(gap.previous_size)} to {size}{since}"
    elif gap.change == "held":
        text += f": the gap held at {size}{since}"
    else:
        text += f": a gap of {size}"
    if gap.hidden:
        text += f" · {gap.hidden} group{'s' if gap.hidden != 1 else ''} not shown (small numbers)"
    return text
