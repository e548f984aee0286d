"""Notion: the decisions and action-items databases, meeting-prep pages and the agenda page.

Writes arrive through the outbox (kinds `decision_page` and `prep_page`) and
are idempotent: each page carries a key (the `ci-slackbot key` property, or
the prep page's title under the agenda hub) that is looked up before a page
is created, and a page whose body was only partly written is completed from
the number of blocks it already has. A decision's page is looked up only when
its outbox row was claimed before (`Item.claimed_before`): on the first claim
no earlier try can have written it, and the page is created in one request.
Reads (the agenda page) are done by a job into `AgendaCache`; Slack never
waits on Notion.

All requests of this process go through one `NotionAdapter`, paced by the
outbox's rate limiter for the "notion" service (3 requests a second on
average, as Notion asks, for every process on the database together: the
slots come from the database), and every failure is translated into a
`DeliveryError` that says whether trying again can help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_slackbot.outbox import Policy, Registry
from ci_slackbot.services.decisions import NOTION_PAGE_KIND as DECISION_PAGE_KIND
from ci_slackbot.services.prep import NOTION_PAGE_KIND as PREP_PAGE_KIND
from integrations.notion import actions, community_voice, systems_changes
from integrations.notion.adapter import (
    KEY_PROPERTY,
    SERVICE,
    DataSourceSchema,
    NotionAdapter,
    adapter_of,
    page_properties,
    property_value,
)
from integrations.notion.agenda import read_blocks, refresh_agenda
from integrations.notion.decisions import (
    DECISION_PROPERTIES,
    DecisionRecord,
    decision_key,
    deliver_decision_pages,
    write_decision_page,
)
from integrations.notion.prep import deliver_prep_pages
from integrations.notion.setup import create_decisions_database
from integrations.notion.text import (
    JSON,
    MAX_CHILDREN_BYTES,
    batches,
    encoded_size,
    rich_text,
    split_text,
    text_blocks,
    utf16_units,
)

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

__all__ = [
    "DECISION_PAGE_KIND",
    "DECISION_PROPERTIES",
    "JSON",
    "KEY_PROPERTY",
    "MAX_CHILDREN_BYTES",
    "PREP_PAGE_KIND",
    "SERVICE",
    "DataSourceSchema",
    "DecisionRecord",
    "NotionAdapter",
    "adapter_of",
    "batches",
    "create_decisions_database",
    "decision_key",
    "deliver_decision_pages",
    "deliver_prep_pages",
    "encoded_size",
    "page_properties",
    "property_value",
    "read_blocks",
    "refresh_agenda",
    "register",
    "rich_text",
    "split_text",
    "text_blocks",
    "utf16_units",
    "write_decision_page",
]


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, DECISION_PAGE_KIND, deliver_decision_pages)
    registry.register(SERVICE, PREP_PAGE_KIND, deliver_prep_pages)
    actions.register(registry)
    systems_changes.register(registry)
    community_voice.register(registry)
    # Notion allows 3 requests a second on average per integration, with bursts. The adapter
    # takes a token for every request (a delivery makes several), so the worker does not; the
    # tokens are shared by every process on the database (`shared`), as the limit is per integration.
    # Twenty tries with backoff up to 5 minutes ride out an outage of about an hour before an
    # item is parked. The lease is renewed while a long body is appended, so it only needs to
    # cover a crash: a killed process's pages are taken up again half a minute later.
    registry.policies[SERVICE] = Policy(
        rate=3.0, burst=3, base=2.0, cap=300.0, max_attempts=20, lease=30.0, paced_by_deliverer=True, shared=True
    )
