"""The `/ci` router: subcommands register their grammar, help line and handler here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.links import is_response_url
from ci_slackbot.services.measurement import IndicatorView
from ci_slackbot.services.people import NotAllowedError, Person
from ci_slackbot.store.models import Initiative
from commands.grammar import Words
from commands.payload import Payload
from integrations.slack import blocks as bk
from integrations.slack.delivery import answer_through, post_to_person
from integrations.slack.escape import defang, escape, unescape

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services
    from ci_slackbot.settings import Settings

log = logging.getLogger(__name__)


def without_nul(text: str) -> str:
    """User text without NUL characters: PostgreSQL cannot store them in text, and they mean nothing in Slack."""
    return text.replace("\x00", "")


def trusted_response_url(settings: Settings, url: object) -> str | None:
    """The request's response_url when it is Slack's (or a trusted prefix's): the app posts nowhere else."""
    if isinstance(url, str) and is_response_url(url, settings.trusted_url_prefixes):
        return url
    if url:
        log.warning("ignored a response_url that is not Slack's")
    return None


# Tells the person who asked for a form that it could not open: the message to show them.
Teller = Callable[[str], None]


def open_view(
    slack: WebClient, trigger_id: str | None, view: dict[str, Any], what: str = "form", tell: Teller | None = None
) -> None:
    """Open a modal. Call it only after the commit (in a `Reply.after`), never inside the request's
    transaction: on SQLite that holds the write turn every other partner's command queues behind."""
    if not trigger_id:
        return
    try:
        slack.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        _not_opened(exc, what, "opened", tell)


def opening(
    request: Invocation | Interaction | Founding, view: dict[str, Any], what: str = "form", text: str = ""
) -> Reply:
    """A reply that opens `view` after the commit (`open_view`)."""
    slack, trigger_id, tell = request.slack, request.trigger_id, _teller(request)
    return Reply(text=text, after=lambda: open_view(slack, trigger_id, view, what, tell))


def push_view(
    slack: WebClient, trigger_id: str | None, view: dict[str, Any], what: str = "form", tell: Teller | None = None
) -> None:
    """Push `view` on the modal a click came from (views.push), after the commit as `open_view`."""
    if not trigger_id:
        return
    try:
        slack.views_push(trigger_id=trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        _not_opened(exc, what, "pushed", tell)


def pushing(request: Interaction, view: dict[str, Any], what: str = "form") -> Reply:
    """A reply that pushes `view` on the clicked modal after the commit (`push_view`)."""
    slack, trigger_id, tell = request.slack, request.trigger_id, _teller(request)
    return Reply(text="", after=lambda: push_view(slack, trigger_id, view, what, tell))


def _not_opened(exc: Exception, what: str, done: str, tell: Teller | None) -> None:
    """Slack opens a form only within 3 seconds of the command or click that asked for it (`expired_trigger_id`),
    and may refuse it or be out of reach: after the ack the person, left looking at nothing, is told."""
    error = str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
    log.warning("the %s could not be %s: %s", what, done, error)
    if tell is None:
        return
    why = "Slack gave it no time to open" if error == "expired_trigger_id" else f"Slack said `{escape(error)}`"
    try:
        tell(f":warning: The {escape(what)} could not open ({why}). Please try again.")
    except Exception:
        log.warning("nobody could be told that the %s did not open", what, exc_info=True)


def _teller(request: Invocation | Interaction | Founding) -> Teller:
    """Through the request's response_url, else in the person's DM."""
    response_url = getattr(request, "response_url", None)
    slack, user = request.slack, request.user_id

    def tell(text: str) -> None:
        if not (response_url and answer_through(response_url, text=text, response_type="ephemeral")):
            post_to_person(slack, user, text=text)

    return tell


def update_view(slack: WebClient, view_id: str | None, view: dict[str, Any], what: str = "form") -> None:
    """Replace an open modal (views.update), after the commit; one closed meanwhile is no failure."""
    if not view_id:
        return
    try:
        slack.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        log.warning("the %s could not be updated: %s", what, exc.response.get("error"))


def replacing(response_url: str | None, message: dict[str, Any]) -> Callable[[], None]:
    """After-ack work for a click: replace the message clicked, through the click's response_url."""

    def send() -> None:
        if response_url:
            answer_through(response_url, **message, replace_original=True, response_type="ephemeral")

    return send


@dataclass
class Reply:
    """What the command answers at once, and the slow work to do after the ack."""

    text: str
    blocks: list[bk.Block] | None = None
    in_channel: bool = False
    after: Callable[[], None] | None = None
    failed: bool = False  # the command was refused: its transaction is rolled back

    def payload(self) -> dict[str, Any]:
        message = bk.Message(self.text, list(self.blocks or [])).build()
        if not self.blocks:
            message.pop("blocks")
        message["response_type"] = "in_channel" if self.in_channel else "ephemeral"
        return cast(dict[str, Any], defang(message))


class _InInitiative:
    """What commands and interactions share: the workspace's Slack client and the initiative's indicators."""

    session: Session
    initiative: Initiative
    team_id: str
    services: Services

    @property
    def slack(self) -> WebClient:
        """The Web API client with this workspace's bot token: for every Slack call made for this request."""
        return cast(WebClient, self.services.slack_for(self.team_id))

    def indicators(self) -> list[IndicatorView]:
        """The initiative's current indicators, kept between requests while the initiative file is unchanged."""
        return cast(list[IndicatorView], self.services.config.indicators(self.session, self.initiative))


@dataclass
class Invocation(_InInitiative):
    """One `/ci …` call, with everything a handler may need."""

    session: Session
    initiative: Initiative
    person: Person
    user_id: str
    team_id: str
    channel_id: str
    words: Words
    services: Services
    trigger_id: str | None = None
    response_url: str | None = None
    # The whole text after `/ci`, as Slack sent it (escaped), with its line breaks and
    # spacing: for commands whose free text is kept as written (`/ci decide`).
    text: str = ""

    def __post_init__(self) -> None:
        self.text = without_nul(self.text)

    def free_text(self, subcommand: str) -> str:
        """What follows the subcommand, as typed: line breaks and spacing kept, Slack's escaping undone."""
        raw = self.text or " ".join([subcommand, *self.words.tokens])
        return unescape(_SUBCOMMAND.sub("", raw, count=1))


# The subcommand word and the one space or tab after it; what follows is kept as written.
_SUBCOMMAND = re.compile(r"^\s*\S+[ \t]?")

Handler = Callable[[Invocation], Reply]

HELP_ORDER = (
    "help",
    "update",
    "indicators",
    "indicator",
    "agenda",
    "action",
    "actions",
    "activity",
    "map",
    "decide",
    "status",
    "remind",
    "prep",
    "digest",
)


class _FromPayload:
    """Reading a click's or a submission's payload: what every interaction handler shares."""

    payload: dict[str, Any]

    @property
    def read(self) -> Payload:
        """The payload, read by type: a field of the wrong shape reads as empty (commands/payload.py)."""
        return Payload(self.payload)

    @property
    def action_value(self) -> str:
        """The clicked button's value, or the chosen option's."""
        action = self.read.obj("actions", 0)
        return action.text("value") or action.text("selected_option", "value")

    @property
    def view_id(self) -> str | None:
        return self.read.text("view", "id") or None

    def metadata(self) -> Payload:
        """The submitted modal's `private_metadata`, which the app wrote as a JSON object; refused if it is not one."""
        return self.read.json_object("view", "private_metadata")

    def view_state(self) -> dict[str, str | None]:
        """`{block_id: value}` from a submitted modal: text, selects, dates; None for no (or no textual) value."""
        values: dict[str, str | None] = {}
        for block_id, elements in self.read.obj("view", "state", "values").items():
            for _, element in elements.items():
                kind = element.text("type")
                if kind in ("static_select", "external_select"):
                    value = element.get("selected_option", "value")
                elif kind == "datepicker":
                    value = element.get("selected_date")
                elif kind == "users_select":
                    value = element.get("selected_user")
                elif kind == "conversations_select":
                    value = element.get("selected_conversation")
                elif kind == "channels_select":
                    value = element.get("selected_channel")
                else:
                    value = element.get("value")
                values[block_id] = without_nul(value) if isinstance(value, str) else None
        return values

    def selected_users(self, block_id: str) -> list[str]:
        """The people chosen in a submitted modal's multi_users_select at `block_id` (none: [])."""
        for _, element in self.read.obj("view", "state", "values", block_id).items():
            chosen = element.get("selected_users")
            if isinstance(chosen, list):
                return [without_nul(u) for u in chosen if isinstance(u, str)]
        return []


@dataclass
class Interaction(_InInitiative, _FromPayload):
    """A button press, a modal submission or a shortcut, with the same context as a command."""

    session: Session
    initiative: Initiative
    person: Person
    user_id: str
    team_id: str
    payload: dict[str, Any]
    services: Services
    trigger_id: str | None = None
    response_url: str | None = None
    channel_id: str | None = None


@dataclass
class Founding(_FromPayload):
    """A click or a submission in a workspace that has no initiative yet (the first set-up).

    Who may set one up (whoever installed the app, workspace admins and owners) needs Slack's
    answer (users.info), so the dispatcher asks before the transaction and hands the verdict in:
    `require_founder()` on every click and every submission.
    """

    session: Session
    team_id: str
    user_id: str
    payload: dict[str, Any]
    services: Services
    may_set_up: bool
    refusal: str  # why not, said to anyone who may not
    installer: str | None = None
    user_zone: str | None = None  # the person's time zone in Slack: the form's first choice
    trigger_id: str | None = None

    @property
    def slack(self) -> WebClient:
        return cast(WebClient, self.services.slack_for(self.team_id))

    def require_founder(self) -> None:
        if not self.may_set_up:
            raise NotAllowedError(self.refusal)


@dataclass
class ViewAnswer:
    """How a modal submission is answered: field errors, or close and do `after`."""

    errors: dict[str, str] | None = None
    after: Callable[[], None] | None = None
    update_view: dict[str, Any] | None = None

    def ack_payload(self) -> dict[str, Any]:
        if self.errors:
            return {"response_action": "errors", "errors": self.errors}
        if self.update_view is not None:
            return {"response_action": "update", "view": self.update_view}
        return {}


InteractionHandler = Callable[[Interaction], Reply | None]
ViewHandler = Callable[[Interaction], ViewAnswer]
FoundingHandler = Callable[[Founding], Reply]
FoundingViewHandler = Callable[[Founding], ViewAnswer]
# Answers a `block_suggestion` with at most 100 options (`{"text", "value"}`) for what was typed.
OptionsHandler = Callable[[Interaction], list[dict[str, Any]]]


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    handler: Handler
    examples: tuple[str, ...] = ()
    who: str = "anyone"


@dataclass
class Router:
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    help_lines: list[Subcommand] = field(default_factory=list)
    actions: dict[str, InteractionHandler] = field(default_factory=dict)
    views: dict[str, ViewHandler] = field(default_factory=dict)
    shortcuts: dict[str, InteractionHandler] = field(default_factory=dict)
    options: dict[str, OptionsHandler] = field(default_factory=dict)
    home: InteractionHandler | None = None
    # A workspace without an initiative: its App Home, and the clicks and forms of its first set-up.
    first_run_home: FoundingHandler | None = None
    first_run_actions: dict[str, FoundingHandler] = field(default_factory=dict)
    first_run_views: dict[str, FoundingViewHandler] = field(default_factory=dict)
    # What `/ci` alone answers (the few commands this person needs); the full help without it.
    starter: Handler | None = None

    def on_action(self, action_id: str, handler: InteractionHandler) -> None:
        """Buttons and selects, by `action_id`."""
        self.actions[action_id] = handler

    def on_view(self, callback_id: str, handler: ViewHandler) -> None:
        """Modal submissions, by `callback_id`."""
        self.views[callback_id] = handler

    def on_first_run_action(self, action_id: str, handler: FoundingHandler) -> None:
        """Buttons in a workspace without an initiative, by `action_id`."""
        self.first_run_actions[action_id] = handler

    def on_first_run_view(self, callback_id: str, handler: FoundingViewHandler) -> None:
        """Modal submissions in a workspace without an initiative, by `callback_id`."""
        self.first_run_views[callback_id] = handler

    def on_shortcut(self, callback_id: str, handler: InteractionHandler) -> None:
        """Global and message shortcuts, by `callback_id`."""
        self.shortcuts[callback_id] = handler

    def on_options(self, action_id: str, handler: OptionsHandler) -> None:
        """The options of an external select as the person types (`block_suggestion`), by `action_id`."""
        self.options[action_id] = handler

    def register(self, sub: Subcommand, *, listed: tuple[Subcommand, ...] = ()) -> None:
        """Register a first word; `listed` are the help lines it answers (default: itself)."""
        if sub.name in self.subcommands:
            raise ValueError(f"/ci {sub.name} is registered twice")
        self.subcommands[sub.name] = sub
        self.help_lines.extend(listed or (sub,))

    def names(self) -> list[str]:
        return sorted(self.subcommands)

    def ordered_help(self) -> list[Subcommand]:
        """Help lines in the order a partner meets them: reporting first, backbone tools last."""
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(self.help_lines, key=lambda s: rank.get(s.name, len(rank)))

    def help_reply(self, prefix: str = "") -> Reply:
        lines = [
            f"*`{escape(s.usage)}`* — {s.summary}" + (f" _({s.who})_" if s.who != "anyone" else "")
            for s in self.ordered_help()
        ]
        examples = [f"`{escape(e)}`" for s in self.ordered_help() for e in s.examples]
        body = bk.sections(lines)
        if examples:
            body.append(bk.context("Examples: " + " · ".join(examples)))
        head = [bk.section(prefix)] if prefix else []
        return Reply(
            text=prefix or "ci-slackbot commands", blocks=[*head, bk.header("ci-slackbot: /ci commands"), *body]
        )

    def dispatch(self, text: str, build: Callable[[Words], Invocation]) -> Reply:
        words = without_nul(text).split()
        if not words and self.starter is not None:
            invocation = build(Words([], "/ci help"))
            return self.starter(invocation)
        if not words or words[0].lower() in ("help", "?"):
            return self.help_reply()
        name = words[0].lower()
        sub = self.subcommands.get(name)
        if sub is None:
            return self.help_reply(f"I don't know `/ci {name[:40]}`. Here is what I can do:")
        invocation = build(Words(words[1:], sub.usage))
        try:
            return sub.handler(invocation)
        except (InputError, NotAllowedError) as exc:
            return Reply(text=f":warning: {exc}", failed=True)
