"""Nothing fails silently: why an outbox item was parked, in words, and telling the backbone team.

A parked item (a permanent error, or too many failed attempts) has a cause, a key that
items parked for one reason share. The first item parked for a cause, and each again after
a day or after a retry that did not fix it, makes a DM to each backbone staff member:
what failed and what to do. DMs rather than the initiative's channels, because a channel
the app was removed from is one of the things that fail. The DM is a Web API call made
right away, not an outbox item, so that it cannot be parked unseen in turn; when it cannot
be posted either, the log says so at ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from ci_slackbot.outbox import DeliveryError, Parked, claim_notice, untold
from ci_slackbot.outbox.rows import utcnow
from ci_slackbot.services.people import who_is
from ci_slackbot.store.models import Initiative, OutboxItem
from integrations.slack import blocks as bk
from integrations.slack.escape import escape
from integrations.slack.partners import dm_each

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

# The retry button of App Home, whose value is the cause.
RETRY_PARKED = "retry_parked"

_RETRY = "then press *Retry* in the app's Home tab (or run `ci-slackbot outbox retry`)"


def _where(channel: str) -> str:
    return f"<@{channel}>" if channel.startswith(("U", "W")) else f"<#{channel}>"


def slack_cause(code: str, channel: str) -> str:
    return f"slack:{code}:{channel}"


def _slack_advice(code: str, channel: str) -> str:
    where = _where(channel)
    if code == "not_in_channel":
        return f"The app is not in {where}: invite @ci-slackbot to {where} (`/invite @ci-slackbot` there), {_RETRY}."
    if code == "channel_not_found":
        return (
            f"Slack knows no channel {channel} that the app can see: if {where} is private, invite @ci-slackbot "
            f"to it; otherwise correct the channel in the initiative file and run `ci-slackbot init` again; {_RETRY}."
        )
    if code == "is_archived":
        return (
            f"{where} is archived: unarchive it, or name another channel in the initiative file and run "
            f"`ci-slackbot init` again; {_RETRY}."
        )
    if code in ("msg_blocks_too_long", "msg_too_long", "invalid_blocks", "invalid_arguments", "no_text"):
        return (
            f"Slack refused the message to {where} as malformed or too long (`{code}`): a fault of ci-slackbot, "
            f"not of the setup. Tell whoever runs ci-slackbot; once a fixed version runs, {_RETRY}."
        )
    if code == "cannot_dm_bot":
        return (
            f"{where} is a bot user, and Slack lets no bot send a direct message to another: name the person "
            f"instead in the initiative file and run `ci-slackbot init` again (or correct it in App Home)."
        )
    if code in ("token_revoked", "invalid_auth", "account_inactive", "not_installed"):
        return f"The app is no longer installed in this workspace: install it again, {_RETRY}."
    return f"Slack answered `{code}` to a message for {where}; {_RETRY} once that is fixed."


def explain(error: DeliveryError, exc: SlackApiError, channel: str) -> DeliveryError:
    """A Slack refusal with its cause, and what to do, when it parks the item."""
    code = str(exc.response.get("error", "")) if exc.response.data else ""
    if not code or error.retryable:
        return error  # parked only after its attempts: kept failing, whatever each answer was
    error.cause = slack_cause(code, channel)
    error.args = (f"{error} (posting to {channel})",)
    return error


def advice(service: str, cause: str, message: str) -> str:
    """What failed and what to do, in mrkdwn, for App Home and the notice."""
    kind, _, rest = cause.partition(":")
    if kind == "slack":
        code, _, channel = rest.partition(":")
        # A workspace the app was removed from parks every post, whatever the channel: its cause names none.
        if code == "not_installed" or (channel and channel != "failed"):
            return _slack_advice(code, channel)
    text = escape(bk.clip(message, 600)) if message else f"Delivery to {escape(service)} kept failing."
    return f"{text}\nFix that, {_RETRY}."


def notice_message(parked: Parked, count: int) -> dict[str, Any]:
    """The DM: which writes failed, why, and what to do."""
    items = "1 item is" if count == 1 else f"{count} items are"
    head = f":rotating_light: *ci-slackbot could not deliver to {escape(parked.service.capitalize())}*"
    body = advice(parked.service, parked.cause, parked.message)
    text = f"ci-slackbot could not deliver to {parked.service}: {items} parked. {body}"
    return {
        "text": bk.clip(text, 3000),
        "blocks": [
            bk.section(f"{head} — {items} parked until then.\n{body}"),
            bk.context(f"Cause: `{escape(parked.cause)}` · told once per cause; App Home lists every parked item."),
        ],
    }


def tell_backbone(services: Services, parked: Sequence[Parked]) -> None:
    """The outbox's hook for parked items: a DM to each backbone staff member, once per cause."""
    first: dict[tuple[int, str, str], Parked] = {}
    for item in parked:
        first.setdefault((item.initiative_id, item.service, item.cause), item)
    for item in first.values():
        _tell(services, item)


def _tell(services: Services, item: Parked) -> None:
    with services.db.unit_of_work() as session:
        if not claim_notice(session, item, utcnow()):
            return
        initiative = session.get(Initiative, item.initiative_id)
        staff = who_is(session, initiative, "").backbone_contacts if initiative is not None else ()
        count = (
            session.query(OutboxItem)
            .filter(
                OutboxItem.initiative_id == item.initiative_id,
                OutboxItem.status == "failed",
                OutboxItem.cause == item.cause,
            )
            .count()
        )
    message = notice_message(item, max(1, count))
    if dm_each(services, item.initiative_id, staff, f"parked items ({item.cause})", **message):
        return
    log.error(
        "outbox items of initiative %s are parked and nobody could be told (%s): %s",
        item.initiative_id,
        item.cause,
        item.message,
    )
    with services.db.unit_of_work() as session:
        untold(session, item)  # the next item parked for this cause tries to tell again
