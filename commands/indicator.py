"""`/ci indicator <key>`: one indicator's history at once, and its chart right after the ack.

The history is the ack itself. The chart is drawn after the ack (matplotlib
takes a few hundred milliseconds, its first import about a second) and shared
where the person can see it: into the conversation the command was typed in
when the app is there, else into their DM with the app (see
`integrations.slack.chart_sharing`; a file shared nowhere cannot be shown).

Small numbers: the reply is private, so members of the partner organizations
see breakdown values under the indicator's small-number threshold (marked as
hidden from channel posts); anyone else sees them hidden, as in a channel.
A chart shared into a conversation shows breakdowns as a channel post does.
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
from integrations.slack.chart_sharing import Chart, share_chart
from integrations.slack.community_voice_blocks import indicator_community_voice_block
from integrations.slack.escape import escape

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
        slack, user, channel = invocation.slack, invocation.user_id, invocation.channel_id
        # The chart is drawn from `history`, read already (the session is closed once the ack is sent):
        # its lines are worked out after the ack too, which with thousands of groups (a ZIP code
        # breakdown) took longer than the whole answer.
        chart = Chart(
            filename=f"{found.key}.png",
            title=f"{found.key} — {found.name}",
            alt=indicator_blocks.chart_alt(history),
            comment=f"`/ci indicator {escape(found.key)}`: {escape(found.name)}",
        )

        def send_chart() -> None:
            from ci_slackbot.charts import ChartSeries, indicator_chart

            seen_by_all = history.breakdown_series(in_channel=True)
            seen_by_person = history.breakdown_series(in_channel=in_channel)
            if found.lens is not None:
                # One line per group of the equity lens, each with its own target when it has one.
                seen_by_all = {k: points for k, points in seen_by_all.items() if lens_groups(found, k)}
                seen_by_person = {k: points for k, points in seen_by_person.items() if lens_groups(found, k)}
            group_targets = dict(found.group_targets)
            counts = history.counts()
            missing = history.standing.partners_phrase()

            def draw(for_a_conversation: bool) -> bytes:
                breakdowns = seen_by_all if for_a_conversation else seen_by_person
                return indicator_chart(
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

            share_chart(slack, channel=channel, user=user, response_url=response_url, chart=chart, draw=draw)

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
