"""`/ci remind` (backbone): send the reporting reminders now; and the reminder DM's "Snooze" button.

The scheduled reminders run at `schedule.reminders` (see `ci_slackbot.jobs`);
`/ci remind` runs the same thing by hand, in a slot of its own named after the
current second (`manual:2026-11-23T09:20:26Z`), and leaves out whoever any run
reminded in the last `NOT_AGAIN_WITHIN`: the command typed twice, or by two
people, sends each person one DM. The "Report …" buttons of the DM are
`/ci update`'s (they open its modal).
"""

from __future__ import annotations

from datetime import UTC, timedelta

from ci_slackbot.services.reminders import parse_snooze_periods, queue_reminders, snooze
from commands.grammar import UsageError
from commands.router import Interaction, Invocation, Reply, Router, Subcommand
from integrations.slack import blocks as bk
from integrations.slack.escape import mention
from integrations.slack.reminders import SNOOZE_REMINDERS

USAGE = "/ci remind"
MAX_NAMED = 30
# Long enough to cover the command sent again, short enough that a run later in the day reminds anew.
NOT_AGAIN_WITHIN = timedelta(minutes=10)


def remind(invocation: Invocation) -> Reply:
    invocation.person.require_backbone("send the reporting reminders by hand")
    if invocation.words:
        raise UsageError("`/ci remind` takes nothing after it: it reminds everyone who has something due.", USAGE)
    now = invocation.services.now()
    slot = f"manual:{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    run = queue_reminders(invocation.session, invocation.initiative, slot, now, not_within=NOT_AGAIN_WITHIN)
    if not run.sent:
        text = ":white_check_mark: Nobody needs a reminder right now: everything due is reported"
        text += f" (or snoozed by {len(run.snoozed)})." if run.snoozed else "."
        if run.already_reminded:
            text = (
                f":information_source: Those due were reminded in the last {NOT_AGAIN_WITHIN.seconds // 60} minutes "
                f"({len(run.already_reminded)} people): nobody gets the same reminder twice."
            )
        return Reply(text=text)
    names = ", ".join(mention(user) for user in run.sent[:MAX_NAMED])
    if len(run.sent) > MAX_NAMED:
        names += f" and {len(run.sent) - MAX_NAMED} more"
    lines = [f":bell: Reminders are on their way to {len(run.sent)} people: {names}."]
    if run.snoozed:
        lines.append(f"{len(run.snoozed)} snoozed this period and are left alone.")
    return Reply(text=lines[0], blocks=bk.sections(lines))


def snooze_reminders(interaction: Interaction) -> Reply:
    """The DM's "Snooze for this period" button: no more reminders about those periods for this person."""
    periods = parse_snooze_periods(interaction.action_value)
    snooze(interaction.session, interaction.initiative, interaction.user_id, periods)
    labels = " and ".join(p.label() for p in periods)
    return Reply(
        text=f":zzz: Snoozed: no more reminders to report for {labels}. "
        "Reminders start again when the next period opens; you can report any time with `/ci update`."
    )


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "remind",
            USAGE,
            "send the reporting reminders now to everyone who has something due",
            remind,
            ("/ci remind",),
            who="backbone staff",
        )
    )
    router.on_action(SNOOZE_REMINDERS, snooze_reminders)
