"""`/ci action add|done|push`: record an action item, close it, or give it another week."""

from __future__ import annotations

from ci_slackbot.outbox import enqueue
from ci_slackbot.services.actions import (
    action_view,
    add_action,
    close_action,
    local_today,
    parse_action_id,
    push_action,
)
from commands.grammar import UsageError, Words
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import action_blocks as views
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, unescape

ADD_USAGE = "/ci action add <text> [@owner] [due <date>] [goal <key>]"
DONE_USAGE = "/ci action done <id>"
PUSH_USAGE = "/ci action push <id>"
USAGE = "/ci action add|done|push …"


def add(invocation: Invocation, words: Words) -> Reply:
    invocation.person.require_member()
    owners = words.take_mentions()
    if len(owners) > 1:
        raise UsageError("An action item has one owner: mention only one person.", words.usage)
    now = invocation.services.now()
    session, initiative = invocation.session, invocation.initiative
    # Due dates are days where the initiative is: "tomorrow" in Dallas, whatever the server's clock says.
    today = local_today(initiative, now)
    due = words.take_date_after("due", today)
    goal_key = words.take_keyword_value("goal")
    text = words.rest()
    if not text:
        raise UsageError("Say what needs doing.", words.usage)
    item = add_action(session, initiative, invocation.person, text, owners[0] if owners else None, due, goal_key, now)
    view = action_view(session, item, today)
    someone_else = item.owner != invocation.user_id
    if someone_else:
        # Queued with the item, in the same transaction: the owner hears of it once, after the ack.
        enqueue(
            session,
            initiative_id=initiative.id,
            service="slack",
            kind="post",
            key=f"slack:action:{item.id}:assigned",
            payload={"channel": item.owner, **views.assignment_dm(view, invocation.user_id, today)},
        )
    return Reply(
        text=f"Added action item #{item.id}",
        blocks=views.added_blocks(view, today, assigned_by_someone_else=someone_else),
    )


def done(invocation: Invocation, words: Words) -> Reply:
    action_id = parse_action_id(words.take("the number of the action item"))
    now = invocation.services.now()
    item = close_action(invocation.session, invocation.initiative, invocation.person, action_id, now)
    view = action_view(invocation.session, item, local_today(invocation.initiative, now))
    return Reply(text=f"Closed action item #{item.id}", blocks=[bk.section(views.closed_note(view))])


def push(invocation: Invocation, words: Words) -> Reply:
    action_id = parse_action_id(words.take("the number of the action item"))
    now = invocation.services.now()
    item = push_action(invocation.session, invocation.initiative, invocation.person, action_id, now)
    view = action_view(invocation.session, item, local_today(invocation.initiative, now))
    return Reply(text=f"Action item #{item.id} moved", blocks=[bk.section(views.pushed_note(view))])


VERBS = {"add": (add, ADD_USAGE), "done": (done, DONE_USAGE), "push": (push, PUSH_USAGE)}


def action(invocation: Invocation) -> Reply:
    words = invocation.words
    verb = (words.peek() or "").lower()
    if verb not in VERBS:
        shown = f"`{escape(unescape(bk.clip(verb, 20)))}` is not" if verb else "Say"
        raise UsageError(
            f"{shown} what to do with an action item: `add`, `done` or `push`.\n"
            f"Write it like: `{ADD_USAGE}`, `{DONE_USAGE}` or `{PUSH_USAGE}`"
        )
    words.take(verb)
    handler, usage = VERBS[verb]
    return handler(invocation, Words(words.tokens, usage))


def register(router: Router) -> None:
    router.register(
        Subcommand("action", USAGE, "add, close or push an action item", action, who="members"),
        listed=(
            Subcommand(
                "action",
                ADD_USAGE,
                "add an action item; the owner defaults to you, and gets a DM when it is someone else; "
                "the due date is `2026-12-01`, `tomorrow`, `friday`, `next friday`, `in 2 weeks` or `dec 12`",
                action,
                ("/ci action add Send the nurse survey @Maria due next friday goal G2",),
                who="members",
            ),
            Subcommand(
                "action",
                DONE_USAGE,
                "close an action item",
                action,
                ("/ci action done 12",),
                who="the owner or backbone staff",
            ),
            Subcommand(
                "action",
                PUSH_USAGE,
                "move an action item's due date a week on",
                action,
                who="the owner or backbone staff",
            ),
        ),
    )
