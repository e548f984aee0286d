"""`/ci indicator <key>`: one indicator's history at once, and its chart right after the ack.

The history is the ack itself. The chart is drawn after the ack (matplotlib
takes a few hundred milliseconds, its first import about a second), uploaded
without being shared to any channel, and shown to the user alone in an
ephemeral reply through the command's response_url.

Small numbers: the reply is private, so members of the partner organizations
see breakdown values under the indicator's small-number threshold (marked as
hidden from channel posts); anyone else sees them hidden, as in a channel.
See `ci_slackbot.services.measurement_views`.
"""

from __future__ import annotations

import logging

from ci_slackbot.services.community_voice import visible_community_stories
from ci_slackbot.services.equity import equity_by_indicator, lens_groups
from ci_slackbot.services.measurement import find_indicator, indicator_views
from ci_slackbot.services.measurement_views import breakdown_label, indicator_history
from commands.grammar import UsageError, refuse_split_key
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import indicator_blocks
from integrations.slack.community_voice_blocks import indicator_community_voice_block

log = logging.getLogger(__name__)

USAGE = "/ci indicator <key>"
# The latest community stories shown beside the numbers.
COMMUNITY_STORIES = 5


def indicator(invocation: Invocation) -> Reply:
    words = invocation.words
    session, initiative = invocation.session, invocation.initiative
    views = indicator_views(session, initiative.id)
    refuse_split_key(words, [(v.key, v.name) for v in views], "/ci indicator", "indicator")
    key = words.take("the indicator key (see them all with `/ci indicators`)")
    if words:
        raise UsageError("`/ci indicator` takes one indicator key and nothing else.", USAGE)
    found = find_indicator(views, key)
    history = indicator_history(session, initiative, found)
    equity = equity_by_indicator(session, [found]).get(found.id)
    # Partners see small breakdown values privately; everyone else as a channel would.
    in_channel = not invocation.person.is_member
    response_url = invocation.response_url
    blocks = indicator_blocks.indicator_blocks(
        history,
        in_channel=in_channel,
        timezone=initiative.timezone,
        now=invocation.services.now(),
        chart_coming=bool(response_url),
        equity=equity,
    )
    # Only stories shared with consent, whoever asks: a reply can be shown or forwarded.
    shared = visible_community_stories(session, initiative.id, None, indicator_id=found.id, limit=COMMUNITY_STORIES)
    voice = indicator_community_voice_block(shared)
    if voice is not None:
        blocks.append(voice)
    reply = Reply(text=f"{found.key}: {found.name}", blocks=blocks)
    if response_url:
        slack = invocation.slack
        # Everything the chart needs, read now: the session is closed once the ack is sent.
        breakdowns = history.breakdown_series(in_channel=in_channel)
        if found.lens is not None:
            # One line per group of the equity lens, each with its own target when it has one.
            breakdowns = {k: points for k, points in breakdowns.items() if lens_groups(found, k)}
        group_targets = dict(found.group_targets)
        counts = history.counts()
        missing = history.standing.partners_phrase()

        def send_chart() -> None:
            from ci_slackbot.charts import ChartSeries, indicator_chart
            from integrations.slack.private_files import show_file_privately

            png = indicator_chart(
                title=found.name,
                unit=found.unit,
                direction=found.direction,
                actuals=history.actuals,
                baseline=found.baseline,
                target=found.target,
                breakdowns=[
                    ChartSeries(breakdown_label(k), points, group_targets.get(k))
                    for k, points in sorted(breakdowns.items())
                ],
                counts=counts,
                actual_label=f"All partners ({missing})" if missing else "All partners",
            )
            show_file_privately(
                slack,
                response_url,
                content=png,
                filename=f"{found.key}.png",
                title=f"{found.key} — {found.name}",
                alt=indicator_blocks.chart_alt(history),
                message=lambda file_id: indicator_blocks.chart_message(file_id, history),
            )

        reply.after = send_chart
    return reply


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "indicator",
            USAGE,
            "one indicator's history, with a chart",
            indicator,
            ("/ci indicator er-visits",),
        )
    )
