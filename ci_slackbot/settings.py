"""Settings, read once from the environment or a `.env` file and passed in.

Nothing reads the environment at import time: `load_settings()` is called by
the CLI, and tests build `Settings(...)` directly.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ci_slackbot.domain.links import origin_prefix

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_NOTION_API_URL = "https://api.notion.com"
DEFAULT_SHEETS_API_URL = "https://sheets.googleapis.com"

# Where a newcomer finds each secret: the one line shown when it is missing.
WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "api.slack.com/apps → your app → OAuth & Permissions → Bot User OAuth Token (xoxb-…)",
    "SLACK_SIGNING_SECRET": "api.slack.com/apps → your app → Basic Information → App Credentials → Signing Secret",
    "SLACK_APP_TOKEN": (
        "api.slack.com/apps → your app → Basic Information → App-Level Tokens → "
        "generate one with the connections:write scope (xapp-…)"
    ),
    "SLACK_CLIENT_ID": "api.slack.com/apps → your app → Basic Information → App Credentials → Client ID",
    "SLACK_CLIENT_SECRET": "api.slack.com/apps → your app → Basic Information → App Credentials → Client Secret",
    "NOTION_TOKEN": (
        "notion.so/profile/integrations → your integration → Internal Integration Secret; "
        "then share the agenda hub page with it (••• → Connections)"
    ),
}


class MissingSettingError(RuntimeError):
    """A setting that this mode of running needs is not set."""


class Settings(BaseSettings):
    database_url: str = Field(default="sqlite:///ci_slackbot.db", alias="DATABASE_URL")
    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, alias="SLACK_API_URL")
    notion_token: str | None = Field(default=None, alias="NOTION_TOKEN")
    notion_api_url: str = Field(default=DEFAULT_NOTION_API_URL, alias="NOTION_API_URL")
    google_service_account_file: str | None = Field(default=None, alias="GOOGLE_SERVICE_ACCOUNT_FILE")
    sheets_api_url: str = Field(default=DEFAULT_SHEETS_API_URL, alias="SHEETS_API_URL")

    # Many workspaces: with a client ID and secret the app serves Slack's OAuth install flow
    # (GET /slack/install, GET /slack/oauth_redirect) and keeps a bot token per workspace in its database.
    # Without them it serves the one workspace of SLACK_BOT_TOKEN.
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    slack_scopes: str | None = Field(
        default=None,
        alias="SLACK_SCOPES",
        description="Bot scopes asked for at install, comma-separated; unset: the bot scopes in manifest.yml.",
    )
    slack_redirect_uri: str | None = Field(
        default=None,
        alias="SLACK_REDIRECT_URI",
        description="The OAuth redirect URL (https://…/slack/oauth_redirect); unset: the app's first one in Slack.",
    )

    # Beyond the contract: tuning knobs with safe defaults.
    token_key: str | None = Field(
        default=None,
        alias="CI_SLACKBOT_TOKEN_KEY",
        description="Fernet keys, comma-separated, that encrypt the workspaces' bot tokens in the database: "
        "the first encrypts, all decrypt.",
    )
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    background_jobs: bool = Field(
        default=True,
        alias="CI_SLACKBOT_BACKGROUND",
        description="Run the outbox delivery and the scheduler inside the app process.",
    )
    listener_threads: int = Field(default=32, alias="CI_SLACKBOT_LISTENER_THREADS")
    # When set, GET /metrics answers only `Authorization: Bearer <token>`.
    metrics_token: str | None = Field(default=None, alias="CI_SLACKBOT_METRICS_TOKEN")
    digest_grace_minutes: int = Field(
        default=180,
        ge=0,
        alias="CI_SLACKBOT_DIGEST_GRACE_MINUTES",
        description="A digest or reminders slot missed while the app was down is still run this late; later, skipped.",
    )
    scheduler_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        alias="CI_SLACKBOT_SCHEDULER_POLL_SECONDS",
        description="How often the scheduler looks for changed initiatives (Initiative.revision) to rebuild jobs.",
    )
    # Hidden, for tests and staging: replace every initiative's schedule with a cron
    # expression (e.g. "*/1 * * * *"), or "off" to run no such job in this process.
    schedule_override_digest: str | None = Field(default=None, alias="CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST")
    schedule_override_reminders: str | None = Field(default=None, alias="CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS")
    schedule_override_agenda: str | None = Field(default=None, alias="CI_SLACKBOT_SCHEDULE_OVERRIDE_AGENDA")

    # The outbox: unset values keep each service's own policy (integrations/*.register).
    outbox_backoff_base: float | None = Field(
        default=None, alias="CI_SLACKBOT_OUTBOX_BACKOFF_BASE", description="First retry delay in seconds."
    )
    outbox_backoff_cap: float | None = Field(
        default=None, alias="CI_SLACKBOT_OUTBOX_BACKOFF_CAP", description="Longest retry delay in seconds."
    )
    outbox_max_attempts: int | None = Field(
        default=None, alias="CI_SLACKBOT_OUTBOX_MAX_ATTEMPTS", description="Failed attempts before an item is parked."
    )
    outbox_lease: float | None = Field(
        default=None,
        alias="CI_SLACKBOT_OUTBOX_LEASE",
        description="Seconds a claim on an outbox item lasts (default 30), renewed while its delivery runs; "
        "after a crash, the dead process's items are delivered again once it runs out.",
    )
    outbox_poll: float = Field(
        default=1.0, alias="CI_SLACKBOT_OUTBOX_POLL", description="Seconds between looks for due items when idle."
    )
    notion_timeout: float = Field(
        default=30.0, alias="CI_SLACKBOT_NOTION_TIMEOUT", description="Seconds before a Notion request is given up."
    )
    agenda_refresh_minutes: float = Field(
        default=15.0,
        alias="CI_SLACKBOT_AGENDA_REFRESH_MINUTES",
        description="How often the Notion agenda page is read into the cache.",
    )
    usergroup_sync_minutes: float = Field(
        default=60.0,
        gt=0,
        alias="CI_SLACKBOT_USERGROUP_SYNC_MINUTES",
        description="How often organizations that follow a Slack user group are brought in step with it.",
    )
    trusted_url_prefixes_text: str | None = Field(
        default=None,
        alias="CI_SLACKBOT_TRUSTED_URL_PREFIXES",
        description="Comma-separated URL prefixes taken as Slack's own for permalinks and response URLs "
        "(besides https://*.slack.com/archives/ and https://hooks.slack.com/), e.g. a proxy or the stand-ins.",
    )

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_scopes",
        "slack_redirect_uri",
        "notion_token",
        "google_service_account_file",
        "token_key",
        mode="before",
    )
    @classmethod
    def _strip_secret(cls, value: object) -> object:
        # Pasted secrets often carry a trailing newline or space, which Slack and Notion reject as
        # invalid; and `NAME=` in a .env file means unset, not an empty token.
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("slack_api_url", "notion_api_url", "sheets_api_url", mode="before")
    @classmethod
    def _api_url(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        defaults = {
            "slack_api_url": DEFAULT_SLACK_API_URL,
            "notion_api_url": DEFAULT_NOTION_API_URL,
            "sheets_api_url": DEFAULT_SHEETS_API_URL,
        }
        url = value.strip() or defaults[str(info.field_name)]
        # slack_sdk joins method names onto the base URL: without the slash, ".../api" + "auth.test"
        # would become ".../auth.test".
        if info.field_name == "slack_api_url" and not url.endswith("/"):
            url += "/"
        return url

    @property
    def trusted_url_prefixes(self) -> tuple[str, ...]:
        """URL prefixes besides Slack's own that permalinks and response URLs may start with.

        SLACK_API_URL's origin counts when it is not slack.com: whatever stands in for Slack's Web
        API (the stand-ins of the tests and the demo) also serves its response URLs.
        """
        named = [p.strip() for p in (self.trusted_url_prefixes_text or "").split(",") if p.strip()]
        derived = origin_prefix(self.slack_api_url)
        return tuple(named + ([derived] if derived else []))

    @property
    def notion_enabled(self) -> bool:
        return bool(self.notion_token)

    @property
    def sheets_enabled(self) -> bool:
        return bool(self.google_service_account_file) or self.sheets_api_url.rstrip("/") != DEFAULT_SHEETS_API_URL

    @property
    def oauth_enabled(self) -> bool:
        """Install into many workspaces through OAuth, a bot token per workspace (else: SLACK_BOT_TOKEN's one)."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def scope_list(self) -> list[str] | None:
        """SLACK_SCOPES as a list; None when unset (the manifest's bot scopes are used then)."""
        if not self.slack_scopes:
            return None
        return [scope.strip() for scope in self.slack_scopes.split(",") if scope.strip()]

    def slack_credentials(self) -> tuple[str, ...]:
        """The Slack settings HTTP mode needs: a bot token for one workspace, or the app's OAuth credentials
        for many. Setting either OAuth credential asks for the OAuth mode, so a missing other one is named."""
        if self.slack_client_id or self.slack_client_secret:
            return ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET")
        return ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")

    def require(self, *names: str) -> None:
        """Stop with one line naming the first missing setting and where to get it."""
        for name in names:
            if not getattr(self, name.lower()):
                raise MissingSettingError(f"{name} is not set: get it at {WHERE_TO_GET.get(name, 'your deployment')}")


def load_settings() -> Settings:
    return Settings()
