"""Reading Slack payloads: a handler asks for text, an object or a record id and gets that type,
whatever arrived. A missing or mistyped field reads as empty; what a handler cannot do without
(the app's own `private_metadata`, an id) is refused with a `UsageError`, which the person sees
privately, and nothing changes.

Slack hands back exactly what the app put in its buttons and modals, so a value of the wrong
shape there is a stale or forged payload: the answers say so and point at the command to use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from commands.grammar import UsageError

STALE = "That button or form is out of date, so nothing was changed. Start again from `/ci help`."
# Record ids are database integers: a bigger number names nothing, and PostgreSQL would refuse it.
MAX_ID = 2**31 - 1


class Payload:
    """Typed reads of a payload (or any part of one)."""

    def __init__(self, data: object) -> None:
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}

    def get(self, *path: str | int) -> Any:
        """The value at `path` (keys of objects, indexes of lists), or None where the path breaks."""
        value: Any = self.data
        for step in path:
            if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
                value = value[step]
            elif isinstance(step, str) and isinstance(value, Mapping):
                value = value.get(step)
            else:
                return None
        return value

    def text(self, *path: str | int) -> str:
        """The text at `path`; "" when it is missing or not text. Without NUL characters, which mean
        nothing in Slack and which PostgreSQL can neither store nor compare."""
        value = self.get(*path)
        return value.replace("\x00", "") if isinstance(value, str) else ""

    def obj(self, *path: str | int) -> Payload:
        """The object at `path`; an empty one when it is missing or not an object."""
        return Payload(self.get(*path))

    def items(self) -> list[tuple[str, Payload]]:
        """This object's members that are objects themselves."""
        return [(str(key), Payload(value)) for key, value in self.data.items() if isinstance(value, Mapping)]

    def json_object(self, *path: str | int) -> Payload:
        """The object whose JSON text is at `path` (`private_metadata`): empty for no text, refused for
        anything but a JSON object."""
        text = self.text(*path)
        if not text:
            return Payload({})
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise UsageError(STALE) from None
        if not isinstance(value, Mapping):
            raise UsageError(STALE)
        return Payload(value)


def record_id(value: object) -> int:
    """A record id as the app wrote it into a button or a modal (a positive integer, or its digits)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise UsageError(STALE)
    if not 0 < number <= MAX_ID:
        raise UsageError(STALE)
    return number
