"""Escaping user text for Slack mrkdwn.

Slack parses `<!channel>`, `<@U…>` and links inside `<…>`; only `&`, `<` and
`>` are control characters, so only they are escaped (not a full HTML escape).
Every piece of user text the bot posts goes through `escape()`.
"""

from __future__ import annotations

_TABLE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    return text.translate(_TABLE)


def unescape(text: str) -> str:
    """What the user typed, from Slack's escaped slash-command text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mention(user_id: str) -> str:
    """A user mention; only for IDs we know are Slack user IDs, never user text."""
    if not user_id.isalnum():
        return escape(user_id)
    return f"<@{user_id}>"


def plain_name(user_id: str) -> str:
    """A name that shows who without notifying them (digests name, never ping)."""
    return f"`{escape(user_id)}`"


def defang(value: object) -> object:
    """Neutralise broadcast mentions (`<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^…>`) anywhere in a payload.

    The bot never means to ping a whole channel, so every message it sends
    passes through this as a last line of defence behind `escape()`.
    """
    if isinstance(value, str):
        return value.replace("<!", "&lt;!")
    if isinstance(value, list):
        return [defang(v) for v in value]
    if isinstance(value, dict):
        return {k: defang(v) for k, v in value.items()}
    return value
