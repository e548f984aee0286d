"""Many workspaces: Slack's OAuth install flow, and a bot token per workspace.

With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set, each coalition installs the app
into its own workspace at `/slack/install`; slack_sdk's SQLAlchemy stores keep the
installations and the OAuth states in the app's own database (tables made by
migration 0007). `Workspaces.client(team_id)` is the one place a Web API client for
a workspace comes from: the request path (through `Services.slack_for`), the outbox
deliverers (through `Services.slack_for_initiative`) and Bolt's authorization all ask
it, so they never disagree about a workspace's token.

Without those settings nothing here is used: the app serves the one workspace of
SLACK_BOT_TOKEN, as before.
"""

from __future__ import annotations

import copy
import html
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_flow import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, Table, and_, delete, desc, func, select, update
from sqlalchemy.orm import Session

from ci_slackbot.services.initiatives import DEFAULT_TEAM
from ci_slackbot.settings import MissingSettingError, Settings
from ci_slackbot.store.models import Initiative, Workspace
from integrations.slack.identity import TokenIdentity
from integrations.slack.manifest import ManifestError, bot_scopes, find_manifest, load_manifest
from integrations.slack.token_cipher import TokenCipher, TokenKeyError

log = logging.getLogger(__name__)

_T = TypeVar("_T", Installation, Bot)

# How long a process trusts a token it looked up. An uninstall handled by this process drops it at
# once; one handled by another process is seen here within this time (until then Slack answers
# `token_revoked`, which the outbox does not retry either).
TOKEN_CACHE_SECONDS = 60.0
STATE_EXPIRATION_SECONDS = 600
# Anyone may open the install page, and each visit stores an OAuth state until it expires: a process
# issues at most this many a minute, and no more are issued while this many live ones are stored
# (far above real installs, which are a handful a day), so that the table stays small.
STATES_PER_MINUTE = 30
MAX_LIVE_STATES = 1000
INSTALL_PATH = "/slack/install"

NOT_INSTALLED_ANSWER = (
    ":warning: ci-slackbot is not installed in this workspace any more, so it cannot answer here. "
    "Someone who can add apps installs it again from the app's install page (`/slack/install`)."
)


class NotInstalledError(RuntimeError):
    """The app holds no bot token for this workspace: never installed there, or uninstalled."""

    def __init__(self, team_id: str | None) -> None:
        super().__init__(
            f"ci-slackbot is not installed in the Slack workspace {team_id or '(none)'} "
            f"(it was uninstalled, or never installed): install it again at {INSTALL_PATH}, "
            "then `ci-slackbot outbox retry` sends what was parked"
        )
        self.team_id = team_id


@dataclass(frozen=True)
class BotToken:
    """What a workspace's installation gives us: its bot token and who the bot is there."""

    team_id: str
    token: str
    bot_id: str | None = None
    bot_user_id: str | None = None
    scopes: str | None = None


_BOT_TOKENS = ("bot_token", "bot_refresh_token")
_INSTALLATION_TOKENS = (*_BOT_TOKENS, "user_token", "user_refresh_token")


@dataclass(frozen=True)
class _Reseal:
    table: Table
    row_id: int
    column: str
    stored: str
    plain: str


class InstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's store, saying which workspace changed so that cached tokens are dropped at once,
    and, with CI_SLACKBOT_TOKEN_KEY set, keeping the tokens encrypted (`TokenCipher`).

    Bolt's token-revocation listeners (`tokens_revoked`, `app_uninstalled`) delete through it.
    """

    def __init__(
        self,
        client_id: str,
        engine: Engine,
        on_change: Callable[[str | None], None],
        cipher: TokenCipher | None = None,
    ) -> None:
        super().__init__(client_id=client_id, engine=engine)
        self._on_change = on_change
        self.cipher = cipher
        # Tokens read plain or under an older key, sealed again once the reading connection is closed.
        self._reseal = threading.local()

    def _sealed(self, entity: _T, fields: tuple[str, ...]) -> _T:
        if self.cipher is None:
            return entity
        sealed = copy.copy(entity)
        for name in fields:
            setattr(sealed, name, self.cipher.seal(getattr(entity, name, None)))
        return sealed

    def _opened(self, table: Table, row: Any, fields: tuple[str, ...]) -> dict[str, str | None]:
        opened: dict[str, str | None] = {}
        for name in fields:
            stored = row[name]
            if self.cipher is None:
                if stored and TokenCipher.is_sealed(stored):
                    raise TokenKeyError("a stored Slack token is encrypted but CI_SLACKBOT_TOKEN_KEY is not set")
                opened[name] = stored
                continue
            plain = self.cipher.open(stored)
            opened[name] = plain
            if stored and plain and self.cipher.stale(stored):
                pending: list[_Reseal] = getattr(self._reseal, "pending", [])
                pending.append(_Reseal(table, int(row["id"]), name, stored, plain))
                self._reseal.pending = pending
        return opened

    def _reseal_pending(self) -> None:
        pending: list[_Reseal] = getattr(self._reseal, "pending", [])
        self._reseal.pending = []
        if not pending or self.cipher is None:
            return
        with self.engine.begin() as connection:
            for item in pending:
                column = item.table.c[item.column]
                connection.execute(
                    update(item.table)
                    .where(item.table.c.id == item.row_id, column == item.stored)
                    .values({item.column: self.cipher.seal(item.plain)})
                )

    def build_bot_entity(self, row: Any) -> Bot:  # type: ignore[override]
        bot = super().build_bot_entity(row)
        for name, value in self._opened(self.bots, row, _BOT_TOKENS).items():
            setattr(bot, name, value)
        return bot

    def build_installation_entity(self, row: Any) -> Installation:  # type: ignore[override]
        installation = super().build_installation_entity(row)
        for name, value in self._opened(self.installations, row, _INSTALLATION_TOKENS).items():
            setattr(installation, name, value)
        return installation

    def save(self, installation: Installation) -> None:
        super().save(self._sealed(installation, _INSTALLATION_TOKENS))
        self._on_change(installation.team_id)

    def save_bot(self, bot: Bot) -> None:
        super().save_bot(self._sealed(bot, _BOT_TOKENS))
        self._on_change(bot.team_id)

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        try:
            return super().find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
        finally:
            self._reseal_pending()

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        try:
            return super().find_installation(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                is_enterprise_install=is_enterprise_install,
            )
        finally:
            self._reseal_pending()

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        super().delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        self._on_change(team_id)

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        super().delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        self._on_change(team_id)

    def find_team_bot(self, team_id: str) -> Bot | None:
        """The newest bot token of a workspace, whether or not it sits in an Enterprise Grid org.

        The outbox knows an initiative's team ID, never its enterprise ID, so this does not ask for one.
        """
        columns = self.bots.c
        query = (
            select(self.bots)
            .where(
                and_(columns.client_id == self.client_id, columns.team_id == team_id, columns.bot_token.is_not(None))
            )
            .order_by(desc(columns.installed_at))
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        try:
            return self.build_bot_entity(row) if row is not None else None
        finally:
            self._reseal_pending()

    def find_team_installer(self, team_id: str) -> str | None:
        """Who installed the app into a workspace last (the OAuth installation's user): they may set up
        its first initiative. No token is read, so none needs unsealing."""
        columns = self.installations.c
        query = (
            select(columns.user_id)
            .where(and_(columns.client_id == self.client_id, columns.team_id == team_id))
            .order_by(desc(columns.installed_at))
            .limit(1)
        )
        with self.engine.connect() as connection:
            found = connection.execute(query).scalar()
        return str(found) if found else None

    def installed_teams(self, session: Session) -> list[tuple[str, str]]:
        """Every workspace the app is installed in, `(team_id, team name)`, by name: the partner
        workspaces a coordinator can pick. Read in the request's own `session` (on SQLite another
        connection would wait for its write turn); no token is read."""
        columns = self.installations.c
        query = (
            select(columns.team_id, columns.team_name)
            .where(and_(columns.client_id == self.client_id, columns.team_id.is_not(None)))
            .order_by(desc(columns.installed_at))
        )
        rows = session.execute(query).all()
        names: dict[str, str] = {}
        for team, name in rows:
            names.setdefault(str(team), str(name or team))  # the newest install's name
        return sorted(names.items(), key=lambda item: (item[1].lower(), item[0]))


class TooManyInstallsError(RuntimeError):
    """The install page was opened too often: no new OAuth state now."""


class OAuthStateStore(SQLAlchemyOAuthStateStore):
    """slack_sdk's state store, purging expired states and bounding how many are issued.

    slack_sdk deletes a state when it is consumed and never one that expired unused, so each
    anonymous visit of /slack/install would leave a row behind for good.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        expiration_seconds: int = STATE_EXPIRATION_SECONDS,
        per_minute: int = STATES_PER_MINUTE,
        max_live: int = MAX_LIVE_STATES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(expiration_seconds=expiration_seconds, engine=engine)
        self.per_minute = per_minute
        self.max_live = max_live
        self.clock = clock
        self._issued: deque[float] = deque()
        self._lock = threading.Lock()

    def _take_turn(self) -> None:
        now = self.clock()
        with self._lock:
            while self._issued and now - self._issued[0] >= 60.0:
                self._issued.popleft()
            if len(self._issued) >= self.per_minute:
                raise TooManyInstallsError(f"more than {self.per_minute} install pages a minute")
            self._issued.append(now)

    def issue(self, *args: Any, **kwargs: Any) -> str:
        self._take_turn()
        states = self.oauth_states
        now = datetime.now(UTC)
        state = str(uuid.uuid4())
        with self.engine.begin() as connection:
            connection.execute(delete(states).where(states.c.expire_at <= normalize_datetime_for_db(now)))
            live = connection.execute(select(func.count()).select_from(states)).scalar() or 0
            if live >= self.max_live:
                raise TooManyInstallsError(f"{live} install pages opened in the last minutes are still pending")
            expire_at = now + timedelta(seconds=self.expiration_seconds)
            connection.execute(states.insert(), {"state": state, "expire_at": normalize_datetime_for_db(expire_at)})
        return state


TOO_MANY_INSTALLS_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Try again in a minute</title></head>'
    "<body><h1>Try again in a minute</h1><p>The install page was opened too many times just now. "
    "Please reload it in a minute.</p></body></html>"
)


class InstallFlow(OAuthFlow):
    """Bolt's install flow, answering 429 instead of failing when no new state may be issued."""

    def handle_installation(self, request: BoltRequest) -> BoltResponse:
        try:
            return super().handle_installation(request)
        except TooManyInstallsError as exc:
            log.warning("install page refused: %s", exc)
            return BoltResponse(
                status=429,
                body=TOO_MANY_INSTALLS_PAGE,
                headers={"Content-Type": "text/html; charset=utf-8", "Retry-After": "60"},
            )


@dataclass
class _Cached:
    bot: BotToken
    client: WebClient
    until: float


class Workspaces:
    """A Web API client per workspace, from the installations (cached), else SLACK_BOT_TOKEN's workspace.

    SLACK_BOT_TOKEN may stay set beside the OAuth credentials: its own workspace (learned with one
    auth.test) and the `default` initiative keep using it, so a deployment that served one workspace
    can start installing into more without reinstalling the first.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        make_client: Callable[[str | None], WebClient],
        *,
        cache_seconds: float = TOKEN_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.slack_client_id:
            raise MissingSettingError("SLACK_CLIENT_ID is not set")
        self.engine = engine
        self.make_client = make_client
        self.cache_seconds = cache_seconds
        self.clock = clock
        cipher = TokenCipher(settings.token_key) if settings.token_key else None
        self.store = InstallationStore(settings.slack_client_id, engine, on_change=self.forget, cipher=cipher)
        self.state_store = OAuthStateStore(engine, expiration_seconds=STATE_EXPIRATION_SECONDS)
        self.single_token = settings.slack_bot_token
        # Who SLACK_BOT_TOKEN is: its workspace keeps it, and the initiative loaded without `--team`.
        self.identity = TokenIdentity(make_client(self.single_token)) if self.single_token else None
        self._cache: dict[str, _Cached] = {}
        self._teams: dict[int, str] = {}  # initiative id → team id; an initiative never changes workspace
        self._lock = threading.Lock()

    # -- tokens ---------------------------------------------------------------------------
    def bot(self, team_id: str | None) -> BotToken:
        """The workspace's bot token; NotInstalledError when the app has none there."""
        return self._entry(team_id).bot

    def client(self, team_id: str | None) -> WebClient:
        """A Web API client carrying the workspace's bot token; NotInstalledError when it has none."""
        return self._entry(team_id).client

    def forget(self, team_id: str | None) -> None:
        """Drop a cached token: the workspace was installed again, or uninstalled."""
        with self._lock:
            if team_id is None:
                self._cache.clear()
            else:
                self._cache.pop(team_id, None)

    def _entry(self, team_id: str | None) -> _Cached:
        if not team_id:
            raise NotInstalledError(team_id)
        now = self.clock()
        with self._lock:
            cached = self._cache.get(team_id)
            if cached is not None and cached.until > now:
                return cached
        bot = self._look_up(team_id)
        entry = _Cached(bot, self.make_client(bot.token), now + self.cache_seconds)
        with self._lock:
            self._cache[team_id] = entry
        return entry

    def _look_up(self, team_id: str) -> BotToken:
        try:
            installed = self.store.find_team_bot(team_id)
        except TokenKeyError as exc:
            log.error("the bot token of the workspace %s cannot be read: %s", team_id, exc)
            raise NotInstalledError(team_id) from exc
        if installed is not None and installed.bot_token:
            return BotToken(
                team_id=team_id,
                token=installed.bot_token,
                bot_id=installed.bot_id,
                bot_user_id=installed.bot_user_id,
                scopes=",".join(installed.bot_scopes) if installed.bot_scopes else None,
            )
        single = self._single_workspace()
        if single is not None and team_id in (DEFAULT_TEAM, single.team_id):
            return single
        raise NotInstalledError(team_id)

    def _single_workspace(self) -> BotToken | None:
        """SLACK_BOT_TOKEN's workspace, asked of Slack once (not again after it answered)."""
        owner = self.identity.owner() if self.identity is not None and self.single_token else None
        if owner is None or not self.single_token:
            return None
        return BotToken(
            team_id=owner.team_id, token=self.single_token, bot_id=owner.bot_id, bot_user_id=owner.bot_user_id
        )

    # -- initiatives ----------------------------------------------------------------------
    def team_of(self, initiative_id: int) -> str:
        """The Slack team an initiative was loaded for (`ci-slackbot init --team`)."""
        team = self._teams.get(initiative_id)
        if team is None:
            query = select(Workspace.team_id).join(Initiative, Initiative.workspace_id == Workspace.id)
            with self.engine.connect() as connection:
                found = connection.execute(query.where(Initiative.id == initiative_id)).scalar()
            if found is None:
                raise NotInstalledError(None)
            team = self._teams[initiative_id] = str(found)
        return team

    def installer(self, team_id: str) -> str | None:
        """The Slack user who installed the app into `team_id` by OAuth (None: not installed that way)."""
        return self.store.find_team_installer(team_id) if team_id else None

    def client_for_initiative(self, initiative_id: int) -> WebClient:
        return self.client(self.team_of(initiative_id))


class WorkspaceAuthorize(Authorize):
    """Bolt's authorization from `Workspaces`: a request from a workspace carries that workspace's token."""

    def __init__(self, workspaces: Workspaces) -> None:
        super().__init__()
        self.workspaces = workspaces

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        try:
            bot = self.workspaces.bot(team_id)
        except NotInstalledError:
            log.warning("a request from the workspace %s, where the app is not installed", team_id)
            return None  # Bolt then answers NOT_INSTALLED_ANSWER
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=bot.token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.scopes,
        )


def install_scopes(settings: Settings, manifest_path: str | None = None) -> list[str]:
    """The bot scopes asked for at install: SLACK_SCOPES, else those manifest.yml lists."""
    scopes = settings.scope_list
    if scopes:
        return scopes
    path = find_manifest(manifest_path)
    if path is None:
        raise MissingSettingError(
            "SLACK_SCOPES is not set and manifest.yml cannot be found: set SLACK_SCOPES to the bot scopes "
            "of manifest.yml, comma-separated (commands,chat:write,…)"
        )
    try:
        found = bot_scopes(load_manifest(path))
    except ManifestError as exc:
        raise MissingSettingError(f"SLACK_SCOPES is not set and {exc}") from exc
    if not found:
        raise MissingSettingError(f"SLACK_SCOPES is not set and {path} lists no bot scopes")
    return found


def installed_page(installation: Installation) -> str:
    """What the person who installed the app sees: done, and what the backbone team does next."""
    team = html.escape(installation.team_name or "your workspace")
    team_id = html.escape(installation.team_id or "T…")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ci-slackbot is installed</title>'
        "</head><body><h1>ci-slackbot is installed</h1>"
        f"<p>ci-slackbot is now installed in <strong>{team}</strong> (team ID <code>{team_id}</code>).</p>"
        "<p>Next, the backbone team loads the coalition's initiative for this workspace:</p>"
        f"<pre>ci-slackbot init --config initiative.yml --team {team_id}</pre>"
        "<p>Then invite the bot to the digest and decisions channels and try <code>/ci help</code>.</p>"
        "</body></html>"
    )


def _installed(args: SuccessArgs) -> BoltResponse:
    # The default answer also clears the state cookie; only its page is ours.
    response = args.default.success(args)
    response.body = installed_page(args.installation)
    return response


def _failed(args: FailureArgs) -> BoltResponse:
    log.warning("a Slack install failed: %s", args.reason)
    return args.default.failure(args)


def oauth_settings(settings: Settings, workspaces: Workspaces, **overrides: Any) -> OAuthSettings:
    """Bolt's install flow (GET /slack/install, GET /slack/oauth_redirect) on the app's own database."""
    if not (settings.slack_client_id and settings.slack_client_secret):
        raise MissingSettingError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are both needed for installs")
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=install_scopes(settings),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=workspaces.store,
        state_store=workspaces.state_store,
        state_expiration_seconds=STATE_EXPIRATION_SECONDS,
        callback_options=CallbackOptions(success=_installed, failure=_failed),
        **overrides,
    )
