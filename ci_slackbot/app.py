"""The Bolt app factory: thin listeners that parse, check rights, call a service and render.

Listeners ack at once. Slow work (Web API calls, answers through `response_url`)
is handed to `AfterAck`'s pool, and mirror writes go later through the outbox.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.bootstrap import Services, web_client
from ci_slackbot.domain.errors import InputError
from ci_slackbot.inbound import REPLAY_CHECK, ReplayCheck
from ci_slackbot.observability import command_label, request_id, request_scope
from ci_slackbot.services.people import NotAllowedError
from ci_slackbot.store.models import Initiative, SlackEvent
from commands.grammar import Words
from commands.payload import Payload
from commands.router import (
    Founding,
    Interaction,
    InteractionHandler,
    Invocation,
    Reply,
    ViewAnswer,
    trusted_response_url,
)
from integrations.slack import home_blocks
from integrations.slack.delivery import answer_through, post_to_person
from integrations.slack.founders import founder

log = logging.getLogger(__name__)

NO_INITIATIVE = (
    "This workspace has no collective impact initiative loaded yet. "
    "Whoever installed the app, or a workspace admin, sets one up from the app's Home tab; "
    "or the backbone team loads one with `ci-slackbot init --config initiative.yml`."
)
ALREADY_SET_UP = "This workspace has an initiative now, so nothing was set up. Open the app's Home tab again."

WORKSPACE_UNKNOWN = (
    "I cannot confirm which Slack workspace this is right now (Slack did not answer me), "
    "so nothing was shown or changed. Please try again in a minute."
)
OTHER_WORKSPACE = "ci-slackbot here serves another Slack workspace's initiative; none is set up in this workspace."


def no_initiative(services: Services, team_id: str) -> str:
    """The answer in a workspace without an initiative; with many workspaces, it names this one's team ID."""
    if services.workspaces is None:
        identity = services.token_identity
        if identity is not None and identity.known is None:
            # Without auth.test's answer the app cannot tell whether this is SLACK_BOT_TOKEN's workspace.
            return WORKSPACE_UNKNOWN
        owner = identity.known if identity is not None else None
        if owner is not None and team_id != owner.team_id:
            return OTHER_WORKSPACE
        return NO_INITIATIVE
    if not team_id:
        return NO_INITIATIVE
    return (
        "This workspace has no collective impact initiative loaded yet. "
        "Whoever installed the app, or a workspace admin, sets one up from the app's Home tab; "
        f"or the backbone team loads one with `ci-slackbot init --config initiative.yml --team {team_id}`."
    )


@dataclass
class Replayed(Reply):
    """A slash command seen before (`inbound.ReplayCheck`): answered with an empty ack, and nothing done."""


@dataclass
class NoInitiative(Reply):
    """The answer where the workspace has no initiative; `may_set_up`: one may be set up from Slack here
    (not so in a workspace SLACK_BOT_TOKEN does not belong to, or while Slack has not said which it is)."""

    may_set_up: bool = False


def _oops(error_id: str) -> Reply:
    return Reply(
        text=f":warning: Something went wrong on our side and nothing was changed. "
        f"Please try again; if it keeps happening, tell the backbone team (error `{error_id}`).",
        failed=True,
    )


_request_transaction = threading.local()


def in_request_transaction() -> bool:
    """True on a thread running a request's transaction: no Web API call may be made there.

    Slack may take seconds to answer, and on SQLite the transaction holds the write turn that every
    other request queues behind; a handler hands such calls back in its `Reply.after` instead.
    """
    return bool(getattr(_request_transaction, "open", False))


class Dispatcher:
    """Turns Slack payloads into invocations of the router, one transaction each."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.router = services.router

    def _in_transaction(
        self,
        team_id: str,
        user_id: str,
        work: Callable[[Session, Initiative], Reply],
        replay_check: ReplayCheck | None = None,
    ) -> Reply:
        # Which workspace SLACK_BOT_TOKEN is may take one auth.test (the first request after start-up):
        # asked once, before the write turn is taken, never while it is held.
        token_team = self.services.token_team()
        with self.services.db.serialised():
            _request_transaction.open = True
            try:
                return self._run(team_id, token_team, work, replay_check)
            finally:
                _request_transaction.open = False

    def _run(
        self,
        team_id: str,
        token_team: str | None,
        work: Callable[[Session, Initiative], Reply],
        replay_check: ReplayCheck | None = None,
    ) -> Reply:
        riding = replay_check if replay_check is not None and replay_check.rides_along else None

        def guarded(session: Session) -> Reply:
            if riding is None:
                initiative = self.services.initiative_of(session, team_id, token_team)
            else:
                initiative, remembered = self.services.initiative_along(session, team_id, token_team, *riding.along())
                if not riding.noted(remembered):
                    return Replayed(text="", failed=True)
            if initiative is None:
                text = no_initiative(self.services, team_id)
                return NoInitiative(text=text, failed=True, may_set_up=self._may_set_up(team_id, text))
            return work(session, initiative)

        return self._guarded(guarded, replay_check, check_first=riding is None)

    def _may_set_up(self, team_id: str, answer: str) -> bool:
        return bool(team_id) and answer not in (WORKSPACE_UNKNOWN, OTHER_WORKSPACE)

    def _guarded(
        self, work: Callable[[Session], Reply], replay_check: ReplayCheck | None = None, *, check_first: bool = True
    ) -> Reply:
        """`work` in one transaction: committed unless its reply failed; refusals and errors answered.
        With a `replay_check`, the transaction first remembers the request's signature, and a
        request seen before does nothing more; with `check_first` False, `work`'s own first
        statement remembers it (`ReplayCheck.rides_along`) and answers `Replayed` for a replay.

        A connection the database dropped (a restart, a failover) is met once more on a fresh one:
        the pool pings only connections that sat idle (`store/db.py`), so a busy one learns of a
        restart from its next statement. Nothing was committed then, and no Web API call is made
        inside the transaction, so running the work again does nothing twice.
        """
        for attempt in (1, 2):
            session = self.services.db.sessions()
            try:
                if replay_check is not None and check_first and not replay_check.first_time_in(session):
                    session.rollback()
                    return Replayed(text="", failed=True)
                reply = work(session)
                if reply.failed:
                    session.rollback()
                else:
                    session.commit()
                    if replay_check is not None:
                        replay_check.committed()
                return reply
            except (InputError, NotAllowedError) as exc:
                session.rollback()
                return Reply(text=f":warning: {exc}", failed=True)
            except DBAPIError as exc:
                session.rollback()
                if exc.connection_invalidated and attempt == 1:
                    log.warning("the database connection was lost; running the request again on a fresh one")
                    continue
                return self._failed()
            except Exception:
                session.rollback()
                return self._failed()
            finally:
                session.close()
        return self._failed()

    @staticmethod
    def _failed() -> Reply:
        error_id = uuid.uuid4().hex[:8]
        log.exception("command failed", extra={"error_id": error_id})
        return _oops(error_id)

    def command(self, body: dict[str, Any], replay_check: ReplayCheck | None = None) -> Reply:
        read = Payload(body)
        team_id, user_id, text = read.text("team_id"), read.text("user_id"), read.text("text")

        def work(session: Session, initiative: Initiative) -> Reply:
            person = self.services.config.person(session, initiative, user_id)

            def build(words: Words) -> Invocation:
                return Invocation(
                    session=session,
                    initiative=initiative,
                    person=person,
                    user_id=user_id,
                    team_id=team_id,
                    channel_id=read.text("channel_id"),
                    words=words,
                    services=self.services,
                    trigger_id=read.text("trigger_id") or None,
                    response_url=trusted_response_url(self.services.settings, read.text("response_url") or None),
                    text=text,
                )

            return self.router.dispatch(text, build)

        return self._in_transaction(team_id, user_id, work, replay_check)

    def interaction(self, body: dict[str, Any], handler: Callable[[Interaction], Any]) -> Any:
        read = Payload(body)
        team_id = _team_of(body)
        user_id = read.text("user", "id")
        channel = read.text("channel", "id") or None
        result: dict[str, Any] = {}

        def work(session: Session, initiative: Initiative) -> Reply:
            interaction = Interaction(
                session=session,
                initiative=initiative,
                person=self.services.config.person(session, initiative, user_id),
                user_id=user_id,
                team_id=team_id,
                payload=body,
                services=self.services,
                trigger_id=read.text("trigger_id") or None,
                response_url=trusted_response_url(self.services.settings, read.text("response_url") or None),
                channel_id=channel,
            )
            answer = handler(interaction)
            result["answer"] = answer
            if isinstance(answer, ViewAnswer):
                return Reply(text="", failed=bool(answer.errors))
            return answer if isinstance(answer, Reply) else Reply(text="")

        reply = self._in_transaction(team_id, user_id, work)
        return result.get("answer", reply)

    def first_run(self, body: dict[str, Any], handler: Callable[[Founding], Any]) -> Any:
        """A click or submission of a workspace's first set-up, where it has no initiative yet.

        Whether this person may set one up is asked of Slack here, before the transaction; inside
        it, a workspace that has an initiative meanwhile is told so and nothing is set up.
        """
        read = Payload(body)
        team_id, user_id = _team_of(body), read.text("user", "id")
        # As in `_in_transaction`: SLACK_BOT_TOKEN's workspace is learned before any transaction.
        token_team = self.services.token_team()
        refusal = no_initiative(self.services, team_id)
        if not self._may_set_up(team_id, refusal) or not user_id:
            return Reply(text=refusal, failed=True)
        verdict = founder(self.services, team_id, user_id)
        result: dict[str, Any] = {}

        def work(session: Session) -> Reply:
            if self.services.initiative_of(session, team_id, token_team) is not None:
                return Reply(text=ALREADY_SET_UP, failed=True)
            founding = Founding(
                session=session,
                team_id=team_id,
                user_id=user_id,
                payload=body,
                services=self.services,
                may_set_up=verdict.allowed,
                refusal=verdict.refusal,
                installer=verdict.installer,
                user_zone=verdict.zone,
                trigger_id=read.text("trigger_id") or None,
            )
            answer = handler(founding)
            result["answer"] = answer
            if isinstance(answer, ViewAnswer):
                return Reply(text="", failed=bool(answer.errors))
            return answer if isinstance(answer, Reply) else Reply(text="")

        with self.services.db.serialised():
            _request_transaction.open = True
            try:
                reply = self._guarded(work)
            finally:
                _request_transaction.open = False
        return result.get("answer", reply)


def first_delivery(services: Services, event_id: str | None) -> bool:
    """Record an Events API delivery; False when Slack is retrying one already handled."""
    if not event_id:
        return True
    try:
        with services.db.unit_of_work() as session:
            session.add(SlackEvent(event_id=event_id))
        return True
    except IntegrityError:
        return False


class AfterAck:
    """Runs work after the ack has gone back to Slack, on a pool of its own.

    Listeners run to their end before Bolt answers the request (`process_before_response`):
    that spares every request Bolt's hop to another thread and its 10 ms polling for the ack,
    so whatever comes after the ack — Web API calls, answers through `response_url` — is
    handed over here instead.
    """

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    def __call__(self, work: Callable[[], Any] | None) -> None:
        if work is None:
            return
        rid = request_id.get()

        def run() -> None:
            with request_scope(rid):
                try:
                    work()
                except Exception:
                    log.exception("work after ack failed")

        self.executor.submit(run)


class BotIdentity:
    """Who the bot is, learned from auth.test in the background so that no request waits on Slack.

    Bolt's default single-team authorization calls auth.test on the first
    request; if Slack is slow then, that command would miss its 3-second ack.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        if services.token_identity is not None:
            services.token_identity.learn_in_background()

    def authorizer(self) -> Callable[..., AuthorizeResult]:
        # Bolt passes arguments by parameter name, so it needs a plain function, not a bound method.
        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            identity = self.services.token_identity
            owner = identity.known if identity is not None else None
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id,
                bot_token=self.services.settings.slack_bot_token,
                bot_user_id=owner.bot_user_id if owner is not None else None,
                bot_id=owner.bot_id if owner is not None else None,
            )

        return authorize


def _team_of(body: dict[str, Any]) -> str:
    read = Payload(body)
    return read.text("team", "id") or read.text("team_id")


def _authorization(services: Services) -> dict[str, Any]:
    """How Bolt learns each request's token: SLACK_BOT_TOKEN's, or the workspace's installation (OAuth)."""
    workspaces = services.workspaces
    if workspaces is None:
        identity = BotIdentity(services)
        return {"client": services.slack, "authorize": identity.authorizer()}
    from integrations.slack.installations import (
        NOT_INSTALLED_ANSWER,
        InstallFlow,
        WorkspaceAuthorize,
        oauth_settings,
    )

    return {
        # A client without a token: each request's client gets its workspace's token from the authorizer.
        "client": web_client(services.settings, None),
        "authorize": WorkspaceAuthorize(workspaces),
        "installation_store": workspaces.store,
        "user_facing_authorize_error_message": NOT_INSTALLED_ANSWER,
        # GET /slack/install and GET /slack/oauth_redirect (reachable in HTTP mode only). Given in Socket
        # Mode too, or Bolt would build its own file-based install settings from SLACK_CLIENT_ID/SECRET.
        "oauth_flow": InstallFlow(settings=oauth_settings(services.settings, workspaces)),
    }


def count_command(services: Services, body: dict[str, Any], outcome: str) -> None:
    services.metrics.count_command(command_label(body.get("text") or "", services.router.subcommands), outcome)


def create_app(
    services: Services,
    *,
    executor_threads: int | None = None,
    socket_mode: bool = False,
    executor: ThreadPoolExecutor | None = None,
) -> App:
    """The Bolt app. Over HTTP (`serve`) every request must carry a valid signature, which `WebApp`
    checks before Bolt parses anything (ci_slackbot/inbound.py); in Socket Mode (`run`) requests
    arrive on the WebSocket opened with the app token and carry none. `executor` runs the listeners
    and the work after each ack (made here unless given: `WebApp` keeps its own, to wait for it)."""
    # Bolt's default pool has 5 threads shared with lazy listeners; a burst of
    # commands would queue behind slow Web API calls.
    executor = executor or after_ack_pool(executor_threads or services.settings.listener_threads)
    app = _bolt_app(services, executor, socket_mode)
    dispatcher = Dispatcher(services)
    after_ack = AfterAck(executor)
    _register_command(app, services, dispatcher, after_ack)
    _register_interactions(app, services, dispatcher, after_ack)
    _register_app_home(app, services, dispatcher, after_ack)
    app.error(_on_error)
    return app


def after_ack_pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="after")


def _bolt_app(services: Services, executor: ThreadPoolExecutor, socket_mode: bool) -> App:
    """Bolt's App with our authorization, running its listeners on `executor` before it responds."""
    settings = services.settings
    if not socket_mode:
        # An empty secret would make HMAC checks pass for requests anyone can sign.
        settings.require("SLACK_SIGNING_SECRET")
    app = App(
        # Never None: Bolt would then read SLACK_SIGNING_SECRET from the environment behind the settings' back.
        signing_secret=settings.slack_signing_secret or "",
        # WebApp verifies every request before parsing it; Bolt's own check came after its parser, and
        # logged the whole body of every request that failed it.
        request_verification_enabled=False,
        # A request no listener takes goes to `_on_error`, not to Bolt's warning that prints its body.
        raise_error_for_unhandled_request=True,
        process_before_response=True,
        listener_executor=executor,
        **_authorization(services),
    )
    if services.workspaces is not None:
        # tokens_revoked and app_uninstalled delete the workspace's installation (and drop its cached token).
        app.enable_token_revocation_listeners()
    return app


def _register_command(app: App, services: Services, dispatcher: Dispatcher, after_ack: AfterAck) -> None:
    """/ci: carried out in one transaction, its answer in the ack; slow work follows on `after_ack`."""

    @app.command("/ci")
    def on_ci(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        # Listeners run on the thread that took the request (`process_before_response`), in its request
        # scope (`WebApp`); Socket Mode's requests have none, and get one here. Not by a Bolt middleware:
        # one cost 0.07 ms of CPU a request, more than Bolt's whole dispatch (0.05 ms, in process).
        with request_scope(request_id.get(None)):
            reply = dispatcher.command(body, context.get(REPLAY_CHECK))
            if isinstance(reply, Replayed):
                ack()
                return
            ack(**reply.payload())
            count_command(services, body, "refused" if reply.failed else "ok")
            after_ack(reply.after)


def _respond(services: Services, reply: Reply | None, body: dict[str, Any]) -> None:
    """An interaction's answer, after its ack: through its response_url, else to the user's DM."""
    if reply is None:
        return
    if reply.text or reply.blocks:
        url = trusted_response_url(services.settings, Payload(body).text("response_url") or None)
        # Through the response_url; else, or when Slack does not take it there, in the person's DM.
        if not (url and answer_through(url, **{**reply.payload(), "replace_original": False})):
            user = Payload(body).text("user", "id")
            if user:
                message = reply.payload()
                message.pop("response_type", None)
                post_to_person(services.slack_for(_team_of(body)), user, **message)
    if reply.after is not None:
        reply.after()


def _register_interactions(app: App, services: Services, dispatcher: Dispatcher, after_ack: AfterAck) -> None:
    """The router's buttons and selects, form submissions and shortcuts."""

    # Bolt fills listener arguments by name, so each handler is bound by a factory, not a default argument.
    # `run` is the dispatcher's way in for the handler: `interaction` in an initiative, `first_run` without.
    Run = Callable[[dict[str, Any]], Any]

    def action_listener(run: Run) -> Callable[..., None]:
        def on_action(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            after_ack(lambda: _respond(services, run(body), body))

        return on_action

    def view_listener(run: Run) -> Callable[..., None]:
        def on_view(ack: Ack, body: dict[str, Any]) -> None:
            answer = run(body)
            if isinstance(answer, ViewAnswer):
                ack(**answer.ack_payload())
                if not answer.errors:
                    after_ack(answer.after)
            else:
                ack()
                after_ack(lambda: _respond(services, answer, body))

        return on_view

    def options_listener(run: Run) -> Callable[..., None]:
        # The options are the ack itself (Slack waits 3 s for them); someone not allowed gets none.
        def on_options(ack: Ack, body: dict[str, Any]) -> None:
            answer = run(body)
            ack(options=answer if isinstance(answer, list) else [])

        return on_options

    def in_initiative(handler: Callable[[Interaction], Any]) -> Run:
        return lambda body: dispatcher.interaction(body, handler)

    def founding(handler: Callable[[Founding], Any]) -> Run:
        return lambda body: dispatcher.first_run(body, handler)

    router = services.router
    for action_id, first_handler in router.first_run_actions.items():
        app.action(action_id)(action_listener(founding(first_handler)))
    for callback_id, first_view in router.first_run_views.items():
        app.view(callback_id)(view_listener(founding(first_view)))
    for action_id, action_handler in router.actions.items():
        app.action(action_id)(action_listener(in_initiative(action_handler)))
    for callback_id, view_handler in router.views.items():
        app.view(callback_id)(view_listener(in_initiative(view_handler)))
    for callback_id, shortcut_handler in router.shortcuts.items():
        app.shortcut(callback_id)(action_listener(in_initiative(shortcut_handler)))
    for action_id, options_handler in router.options.items():
        app.options(action_id)(options_listener(in_initiative(options_handler)))


def _register_app_home(app: App, services: Services, dispatcher: Dispatcher, after_ack: AfterAck) -> None:
    """The App Home tab, published after the ack each time a user opens it."""

    router = services.router

    def publish_home(home: InteractionHandler, event: dict[str, Any], body: dict[str, Any]) -> None:
        user, team = Payload(event).text("user"), _team_of(body)
        if not user:
            return
        request = {"team": {"id": team}, "user": {"id": user}}
        answer = dispatcher.interaction(request, home)
        if isinstance(answer, NoInitiative) and answer.may_set_up and router.first_run_home is not None:
            # No initiative here yet: the first set-up, for whoever may do it; who can, for anyone else.
            answer = dispatcher.first_run(request, router.first_run_home)
        if not isinstance(answer, Reply):
            return
        if answer.blocks:
            view = {"type": "home", "blocks": answer.blocks[:100]}
        elif answer.text:
            view = home_blocks.notice_view(answer.text)  # no initiative here: Home says so, as commands do
        else:
            return
        try:
            services.slack_for(team).views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            # A user Slack does not know here (or a tab it will not take): nothing to show anyone.
            log.warning("the Home tab was not published: %s", exc.response.get("error"))

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], body: dict[str, Any]) -> None:
        home = router.home
        if home is None or event.get("tab", "home") != "home":
            return
        if not first_delivery(services, Payload(body).text("event_id")):
            return  # a retry of an event already handled
        after_ack(lambda: publish_home(home, event, body))


def _on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
    """Bolt's last resort, and never with the request's body in the log."""
    if isinstance(error, BoltUnhandledRequestError):
        kind = Payload(body).text("type") or ("command" if "command" in body else "unknown")
        log.info("no listener for a %s request", kind[:40])
        return BoltResponse(status=404, body="")
    error_id = uuid.uuid4().hex[:8]
    log.error("unhandled error in a listener (error %s)", error_id, exc_info=error)
    # Slack shows the person a failure for any answer but 200. Not a 5xx, which would read as the
    # server being down; and Slack is told not to retry an event: a retry would fail the same way.
    return BoltResponse(status=400, body="", headers={"X-Slack-No-Retry": "1"})
