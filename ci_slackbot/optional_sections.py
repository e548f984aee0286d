"""Parts of the digest, App Home and the scheduler that other areas of the app provide.

Each part is looked up by name the first time it is needed. A build without
that area (its module is not there) leaves the part out cleanly: the digest
drops the section, the scheduler does not schedule the job, and
`ci-slackbot schedule` says which parts are wired.

| part             | provided by                                         | without it                             |
| ---------------- | --------------------------------------------------- | -------------------------------------- |
| `actions`        | `ci_slackbot.services.actions.actions_summary`      | the digest has no action-items section |
| `my_actions`     | `ci_slackbot.services.actions.list_actions`         | App Home shows no action items         |
| `gaps`           | `ci_slackbot.services.activities.activities_map`    | the digest has no gaps section         |
| `agenda_changed` | `ci_slackbot.services.agenda.agenda_changed_since`  | `AgendaCache.changed_at` is read here  |
| `reminders`      | `ci_slackbot.services.reminders.send_reminders`     | the reminders job is not scheduled     |
| `agenda_refresh` | `integrations.notion.refresh_agenda`                | the agenda refresh job is not scheduled |

Only a *missing module* counts as "not provided": a module that is there but
fails to import is a bug, and its error is raised as usual.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

PARTS: dict[str, tuple[str, str]] = {
    "actions": ("ci_slackbot.services.actions", "actions_summary"),
    "my_actions": ("ci_slackbot.services.actions", "list_actions"),
    "gaps": ("ci_slackbot.services.activities", "activities_map"),
    "agenda_changed": ("ci_slackbot.services.agenda", "agenda_changed_since"),
    "reminders": ("ci_slackbot.services.reminders", "send_reminders"),
    "agenda_refresh": ("integrations.notion", "refresh_agenda"),
}

_found: dict[str, Callable[..., Any] | None] = {}
_lock = threading.Lock()


def _is_missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    # `integrations.notion` missing, or a parent package of it: the area is not in this build.
    return exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + "."))


def find(part: str) -> Callable[..., Any] | None:
    """The function that provides `part`, or None when its module is not in this build."""
    with _lock:
        if part in _found:
            return _found[part]
    module_name, attribute = PARTS[part]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _is_missing(exc, module_name):
            raise
        function = None
    else:
        function = getattr(module, attribute, None)
    with _lock:
        _found[part] = function
    return function


def where(part: str) -> str:
    module_name, attribute = PARTS[part]
    return f"{module_name}.{attribute}"


def wired() -> dict[str, bool]:
    """Every part and whether this build provides it (for `ci-slackbot schedule`)."""
    return {part: find(part) is not None for part in PARTS}
