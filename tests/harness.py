"""The end-to-end bench: stand-ins for Slack, Notion and Sheets, a real `ci-slackbot serve`
process, and a sender that signs requests the way Slack does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ci_slackbot.sandbox.notion import NotionStandIn
from ci_slackbot.sandbox.sheets import SheetsStandIn
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.sandbox.world import (  # noqa: F401 - re-exported for tests
    AGENDA_PAGE,
    BOT_TOKEN,
    DECISIONS_DB,
    NOTION_TOKEN,
    SIGNING_SECRET,
    SPREADSHEET,
    TEAM,
    Sandbox,
    ServeProcess,
    SlackSender,
    free_port,
    sign,
    slack_escape,
    wait_for,
)
from ci_slackbot.sandbox.world import load_example as sandbox_load_example
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem
from tests.paths import EXAMPLE

# People from the example initiative.
BACKBONE = "U0BACK0001"
NURSE = "U0DISD0001"  # Dallas ISD
HOSPITAL = "U0CHLD0001"  # Children's Health
NEIGHBOR = "U0NBRS0001"  # Neighbors United
CITY = "U0CITY0001"
STRANGER = "U0NOBODY01"


T = TypeVar("T")

# Test servers run no digest or reminders by the calendar: a test that happens to run on a
# Monday morning would otherwise get a real weekly digest. Tests of the scheduler set their own.
QUIET_SCHEDULER = {"CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": "off", "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off"}


def outbox_row(db: Database, item_id: int) -> OutboxItem:
    """An outbox row as it is now, detached from any session."""
    with db.unit_of_work() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        session.expunge(row)
        return row


def load_example(database_url: str, path: Path = EXAMPLE, team: str | None = None) -> None:
    """The sandbox's `load_example`, with shared/examples/initiative.yml (the one that must load) by default."""
    sandbox_load_example(database_url, path, team)


@dataclass
class World:
    """Everything an end-to-end test drives: the stand-ins, the database, the server and a sender."""

    sandbox: Sandbox
    database_url: str
    server: ServeProcess
    send: SlackSender

    @property
    def slack(self) -> SlackStandIn:
        return self.sandbox.slack

    @property
    def notion(self) -> NotionStandIn:
        return self.sandbox.notion

    @property
    def sheets(self) -> SheetsStandIn:
        return self.sandbox.sheets

    def db(self) -> Database:
        return Database(self.database_url)
