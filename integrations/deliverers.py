"""Which integration delivers which kind of outbox item: the one list of them."""

from __future__ import annotations

import importlib

from ci_slackbot.outbox import Registry

# Each module exposes `register(registry)`; modules not written yet are skipped.
MODULES = (
    "integrations.slack.delivery",
    "integrations.slack.digest_chart",
    "integrations.slack.reminders",
    "integrations.notion",
    "integrations.sheets",
    "integrations.notion_actions",
)


def build_registry() -> Registry:
    registry = Registry()
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(registry)
    return registry
