"""Which integration delivers which kind of outbox item: the one list of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_slackbot.outbox import Registry
from integrations import notion, sheets
from integrations.slack import delivery, digest_chart, parked, reminders, setup_notices

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services


def build_registry() -> Registry[Services]:
    registry: Registry[Services] = Registry()
    delivery.register(registry)
    digest_chart.register(registry)
    reminders.register(registry)
    setup_notices.register(registry)
    notion.register(registry)
    sheets.register(registry)
    # Every parked item is told to the backbone team, once per cause.
    registry.on_parked = parked.tell_backbone
    return registry
