"""Escaping user text for Slack mrkdwn.

Slack parses `<!channel>`, `<@U…>` and links inside `<…>`; only `&`, `<` and
`>` are control characters, so only they are escaped (not a full HTML escape).
Every piece of user text the bot posts goes through `escape()`.
"""

from __future__ import annotations

# Bidi controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F) and zero-width characters (U+200B–U+200D,
# U+2060, U+FEFF) make text others read show something else than it says (U+202E turns "exe.txt" around).
# They go here, on output, rather than on input: text is stored as typed (an export gives back what was
# sent), every piece of user text posted to Slack passes through escape(), and rows stored before are
# cleaned too.
_INVISIBLE = {cp: None for cp in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
_INVISIBLE.update({cp: None for cp in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)})
_TABLE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **{chr(k): v for k, v in _INVISIBLE.items()}})
# Inside `<url|text>` a `|` would end the URL or split the text: a look-alike keeps it inside the link.
_LINK_TEXT = str.maketrans({"|": "\u2223"})


def escape(text: str) -> str:
    return text.translate(_TABLE)


def visible(text: str) -> str:
    """Text without bidi controls and zero-width characters, unescaped (for plain_text fields)."""
    return text.translate(_INVISIBLE)


def link(url: str | None, text: str) -> str:
    """`<url|text>` with the text escaped so that it stays inside the link; just the text when the URL
    could break out of the link syntax (only URLs already checked for what they point to come here)."""
    return link_escaped(url, escape(text))


def link_escaped(url: str | None, mrkdwn: str) -> str:
    """Like `link`, for link text already escaped (and perhaps formatted): only `|` is still replaced."""
    shown = mrkdwn.translate(_LINK_TEXT)
    if not url or any(c.isspace() or c in "<>|" or ord(c) < 0x20 for c in url):
        return shown
    return f"<{url.replace('&', '&amp;')}|{shown}>"


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
