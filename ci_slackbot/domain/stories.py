"""The story behind a number and the Turn-the-Curve notes that may come with it (pure rules).

Results-Based Accountability's Turn-the-Curve conversation asks, after the curve: what is the
story behind it, which partners have a role to play in turning it, what works, and what to do
next. A partner tells the story of a value that moved the wrong way; the other fields are
optional.
"""

from __future__ import annotations

from dataclasses import dataclass

from ci_slackbot.domain.errors import InputError

MAX_STORY = 2000
# Field name → (what a person calls it, most characters kept).
CURVE_FIELDS: dict[str, tuple[str, int]] = {
    "curve_story": ("The story behind the curve", 2000),
    "partners": ("Partners with a role to play", 1000),
    "what_works": ("What works", 1000),
    "next_action": ("Next action", 1000),
}


class StoryError(InputError):
    """A story that cannot be kept; `field` names the form field to fix."""

    def __init__(self, message: str, field: str = "story") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TurnTheCurve:
    """The optional notes of the Turn-the-Curve steps; empty strings where nothing was said."""

    curve_story: str = ""
    partners: str = ""
    what_works: str = ""
    next_action: str = ""

    def items(self) -> list[tuple[str, str]]:
        """(label, text) of the notes given, in the order of the conversation."""
        return [(label, getattr(self, name)) for name, (label, _) in CURVE_FIELDS.items() if getattr(self, name)]

    def __bool__(self) -> bool:
        return bool(self.items())


def checked_story(story: str, curve: TurnTheCurve) -> tuple[str, TurnTheCurve]:
    """The story and the notes, trimmed, or StoryError naming the field that is empty or too long."""
    story = story.strip()
    if not story:
        raise StoryError("Write a sentence or two about what is behind the number.")
    if len(story) > MAX_STORY:
        raise StoryError(f"A story can be up to {MAX_STORY:,} characters; this one is {len(story):,}.")
    trimmed: dict[str, str] = {}
    for name, (label, limit) in CURVE_FIELDS.items():
        text = getattr(curve, name).strip()
        if len(text) > limit:
            raise StoryError(f"{label} can be up to {limit:,} characters; this is {len(text):,}.", name)
        trimmed[name] = text
    return story, TurnTheCurve(**trimmed)


def appended_note(note: str, story: str, limit: int = 4000) -> str:
    """The value's note with the story added on its own line (the Sheet's note column shows both)."""
    return (f"{note}\n{story}".strip() if note else story)[:limit]


def own_note(note: str, stories: list[str]) -> str:
    """The reporter's own note: the value's note without the stories appended to it since."""
    for story in reversed(stories):
        if note == story:
            return ""
        if note.endswith(f"\n{story}"):
            note = note[: -len(story) - 1]
    return note.strip()
