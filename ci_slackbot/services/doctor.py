"""`ci-slackbot doctor`, the part that needs no network: the result type, and the database check.

The database check also reads what the loaded initiatives point at (Notion
pages and databases, spreadsheets), so that integrations/doctor.py can check
that each of them is reachable. Nothing here writes: a doctor that migrated
or created the database would hide the very problem it is asked about.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ci_slackbot.services.initiatives import all_initiatives, partner_workspaces
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database, alembic_config
from ci_slackbot.store.models import slack_bots


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"  # works, but something deserves a look; does not fail the run
    FAIL = "FAIL"
    OFF = "off (not configured)"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    component: str
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class NotionTarget:
    initiative: str
    what: str  # "agenda page", "decisions database", … as integrations.doctor.NOTION_WHAT names them
    object_id: str

    @property
    def is_database(self) -> bool:
        return self.what.endswith("database")


@dataclass(frozen=True)
class SheetTarget:
    initiative: str
    spreadsheet_id: str


@dataclass
class Targets:
    """What the loaded initiatives expect to reach in Notion and Sheets."""

    initiatives: list[str] = field(default_factory=list)
    notion: list[NotionTarget] = field(default_factory=list)
    sheets: list[SheetTarget] = field(default_factory=list)
    # (initiative, team ID) for each partner workspace named, and the teams that installed the app (OAuth).
    partners: list[tuple[str, str]] = field(default_factory=list)
    installed: set[str] = field(default_factory=set)


def redacted_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands; show it as given
        return url


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _missing_sqlite_file(url: str) -> Path | None:
    """The file of a file-based SQLite URL that does not exist yet; connecting would create it."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None  # URI filenames carry their own mode; let the driver decide
    path = Path(parsed.database)
    return None if path.exists() else path


def read_targets(db: Database) -> Targets:
    targets = Targets()
    with db.unit_of_work() as session:
        for initiative in all_initiatives(session):
            name = initiative.name
            targets.initiatives.append(name)
            for what, object_id in (
                ("agenda page", initiative.notion_agenda_page),
                ("decisions database", initiative.notion_decisions_database),
                ("actions database", initiative.notion_actions_database),
                ("systems changes database", initiative.notion_systems_changes_database),
                ("community voice database", initiative.notion_community_voice_database),
            ):
                if object_id:
                    targets.notion.append(NotionTarget(name, what, object_id))
            if initiative.sheets_spreadsheet_id:
                targets.sheets.append(SheetTarget(name, initiative.sheets_spreadsheet_id))
            targets.partners.extend((name, team) for team in partner_workspaces(session, initiative.id))
        if targets.partners:
            teams: list[str | None] = list(session.scalars(select(slack_bots.c.team_id)))
            targets.installed = {team for team in teams if team}
    return targets


def partner_check(settings: Settings, targets: Targets) -> Check | None:
    """Whether the partner workspaces the initiatives name can be served: each must install the app (OAuth)."""
    if not targets.partners:
        return None
    named = ", ".join(f"{team} ({name})" for name, team in targets.partners)
    if not settings.oauth_enabled:
        return Check(
            "partner workspaces",
            Status.WARN,
            f"{named} named, but served only with many workspaces: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
            "(README, Many workspaces)",
        )
    missing = [f"{team} ({name})" for name, team in targets.partners if team not in targets.installed]
    if missing:
        return Check(
            "partner workspaces",
            Status.WARN,
            f"not installed yet: {', '.join(missing)}; their people see nothing until someone there opens "
            "https://<your host>/slack/install",
        )
    return Check("partner workspaces", Status.OK, f"installed: {named}")


def check_database(settings: Settings) -> tuple[list[Check], Targets | None]:
    """Connect, compare the schema with the migrations, and list the loaded initiatives.

    Returns the rows and, when the database could be read, what the initiatives point at.
    """
    shown = redacted_url(settings.database_url)
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None:
        return [
            Check(
                "database",
                Status.FAIL,
                f"{shown}: the file {missing} does not exist. Run `ci-slackbot init --config initiative.yml` "
                "to create it and load the initiative (or check DATABASE_URL).",
            )
        ], None
    try:
        db = Database(settings.database_url)
    except Exception as exc:  # a malformed URL or a driver that is not installed
        return [Check("database", Status.FAIL, f"DATABASE_URL cannot be used: {_first_line(exc)}")], None
    try:
        rows, targets = _check_open_database(db, shown)
    finally:
        db.dispose()
    partners = partner_check(settings, targets) if targets is not None else None
    return ([*rows, partners] if partners is not None else rows), targets


def _check_open_database(db: Database, shown: str) -> tuple[list[Check], Targets | None]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        return [
            Check(
                "database",
                Status.FAIL,
                f"cannot connect to {shown}: {_first_line(exc)}. Check DATABASE_URL and that the server is running.",
            )
        ], None
    heads = set(ScriptDirectory.from_config(alembic_config(db.engine)).get_heads())
    if current != heads:
        at = ", ".join(sorted(current)) or "no schema"
        return [
            Check(
                "database",
                Status.FAIL,
                f"{shown}: schema at {at}, this version needs {', '.join(sorted(heads))}. "
                "Run `ci-slackbot db upgrade` (the app also upgrades when it starts).",
            )
        ], None
    try:
        targets = read_targets(db)
    except SQLAlchemyError as exc:
        return [Check("database", Status.FAIL, f"{shown}: cannot read the initiatives: {_first_line(exc)}")], None
    rows = [Check("database", Status.OK, f"{shown}: connected, schema up to date ({', '.join(sorted(heads))})")]
    if targets.initiatives:
        rows.append(Check("initiatives", Status.OK, "loaded: " + ", ".join(targets.initiatives)))
    else:
        rows.append(
            Check(
                "initiatives",
                Status.WARN,
                "none loaded yet: run `ci-slackbot init --config initiative.yml`",
            )
        )
    return rows, targets
