"""Block Kit for community voice: the "Save as a community story" form, its answers, and story lists.

Not the stories behind the numbers (`measurement_blocks` / `digest_blocks.story_line`): these
are what residents, parents, frontline staff and partners said or saw. Every story shown here
comes from `services.community_voice.visible_community_stories`, which has already left out
what the viewer may not see; the text, the name and the place are user text, escaped here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ci_slackbot.services.community_voice import MAX_NAME, MAX_PLACE, MAX_TEXT, ROLES, CommunityStoryLine
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, mention

# The message shortcut's and the form's callback_id (the value buttons in commands/update.py
# are `add_story` / `value_story`: a different thing).
SAVE_COMMUNITY_STORY = "save_community_story"
TEXT_BLOCK, ROLE_BLOCK, CREDIT_BLOCK, NAME_BLOCK = "cv_text", "cv_role", "cv_credit", "cv_name"
CONSENT_BLOCK, INDICATOR_BLOCK, GOAL_BLOCK, PLACE_BLOCK = "cv_consent", "cv_indicator", "cv_goal", "cv_place"
ACTION = "value"  # every input's action_id: the block says which field it is
NAMED, ANONYMOUS = "named", "anonymous"
CONSENT_YES, CONSENT_NO = "yes", "no"
LINE_TEXT = 300  # a story in a list; Notion and the backbone's App Home keep it whole
HEAD = ":speaking_head_in_silhouette: *In the community's words*"


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": bk.plain(text, 75), "value": value[:150]}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> bk.Block:
    block: bk.Block = {
        "type": "input",
        "block_id": block_id,
        "label": bk.plain(label, 2000),
        "optional": optional,
        "element": {"action_id": ACTION, **element},
    }
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def community_story_modal(
    *,
    text: str,
    indicators: Sequence[tuple[str, str]],
    goals: Sequence[tuple[str, str]],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """The form: what was said or seen, then who told it, how to credit them and whether it may be shared."""
    text_element: dict[str, Any] = {"type": "plain_text_input", "multiline": True, "max_length": MAX_TEXT}
    if text.strip():
        text_element["initial_value"] = text[:MAX_TEXT]
    blocks: list[bk.Block] = [
        bk.context(
            "A story from the community: what a resident, parent, frontline worker or partner said or saw. "
            "Leave their name out of the text: who told it is asked below."
        ),
        _input(TEXT_BLOCK, "What was said or seen", text_element, hint="In their words where you can."),
        _input(
            ROLE_BLOCK,
            "Who told it",
            {
                "type": "static_select",
                "placeholder": bk.plain("Their role", 150),
                "options": [_option(label, key) for key, label in ROLES.items()],
            },
        ),
        _input(
            CREDIT_BLOCK,
            "How they want to be credited",
            {
                "type": "radio_buttons",
                "options": [_option("Anonymously", ANONYMOUS), _option("By name", NAMED)],
            },
        ),
        _input(
            NAME_BLOCK,
            "Their name",
            {"type": "plain_text_input", "max_length": MAX_NAME},
            optional=True,
            hint="Only if they asked to be named. An anonymous teller's name is not kept.",
        ),
        _input(
            CONSENT_BLOCK,
            "Did they agree to have it shared?",
            {
                "type": "radio_buttons",
                "options": [
                    _option("Yes: it may be shared with the coalition", CONSENT_YES),
                    _option("No: keep it within the backbone team", CONSENT_NO),
                ],
            },
            hint="Without consent the story stays with the backbone team: never in the digest, channels or Notion.",
        ),
    ]
    if indicators:
        blocks.append(
            _input(
                INDICATOR_BLOCK,
                "Indicator it concerns",
                {
                    "type": "static_select",
                    "placeholder": bk.plain("None in particular", 150),
                    "options": [_option(f"{key} — {name}", key) for key, name in indicators[:100]],
                },
                optional=True,
            )
        )
    if goals:
        blocks.append(
            _input(
                GOAL_BLOCK,
                "Goal it concerns",
                {
                    "type": "static_select",
                    "placeholder": bk.plain("None in particular", 150),
                    "options": [_option(f"{key} — {title}", key) for key, title in goals[:100]],
                },
                optional=True,
            )
        )
    blocks.append(
        _input(
            PLACE_BLOCK,
            "Place it concerns",
            {"type": "plain_text_input", "max_length": MAX_PLACE, "placeholder": bk.plain("e.g. ZIP 75216", 150)},
            optional=True,
        )
    )
    return {
        "type": "modal",
        "callback_id": SAVE_COMMUNITY_STORY,
        "title": bk.plain("Community story", bk.MAX_MODAL_TITLE),
        "submit": bk.plain("Save", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Cancel", bk.MAX_MODAL_TITLE),
        "private_metadata": json.dumps(metadata)[:3000],
        "blocks": blocks,
    }


def recorded_text(story_id: int, *, shared: bool, in_notion: bool) -> str:
    if not shared:
        return (
            f":lock: Community story #{story_id} is saved and kept within the backbone team: "
            "it will not appear in the digest, in channels or in Notion."
        )
    where = ["the next digest"]
    if in_notion:
        where.append("the Notion community voice database")
    return f":white_check_mark: Community story #{story_id} is saved. It will be in {' and '.join(where)}."


def recorded_modal(story_id: int, *, shared: bool, in_notion: bool) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": f"{SAVE_COMMUNITY_STORY}_done",
        "title": bk.plain("Story saved", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Done", bk.MAX_MODAL_TITLE),
        "blocks": [bk.section(recorded_text(story_id, shared=shared, in_notion=in_notion))],
    }


def _teller(story: CommunityStoryLine) -> str:
    # An anonymous teller has no name stored; the line says so rather than leaving a blank.
    name = escape(story.teller_name) if story.teller_name else "anonymous"
    return f"{escape(story.role)}, {name}"


def community_story_line(story: CommunityStoryLine, *, limit: int = LINE_TEXT, recorder: bool = False) -> str:
    """`• “what was said…” — Parent, anonymous · ZIP 75216 · er-visits`: user text escaped and cut."""
    said = escape(bk.clip(" ".join(story.text.split()), limit))
    parts = [_teller(story)]
    if story.place:
        parts.append(escape(bk.clip(story.place, 80)))
    if story.indicator_key:
        parts.append(f"*{escape(story.indicator_key)}*")
    elif story.goal_key:
        parts.append(f"goal {escape(story.goal_key)}")
    line = f"• “{said}” — {' · '.join(parts)}"
    if recorder:
        line += f" · recorded by {mention(story.recorded_by)}"
    return line


def community_stories_block(
    stories: Sequence[CommunityStoryLine], *, head: str, more: str, recorder: bool = False
) -> bk.Block:
    return bk.capped_section(head, [community_story_line(s, recorder=recorder) for s in stories], more=more)


def digest_community_voice_block(stories: Sequence[CommunityStoryLine]) -> bk.Block | None:
    """The week's shared community stories, oldest first, for the digest (none: no block)."""
    if not stories:
        return None
    return community_stories_block(
        list(reversed(stories)),
        head=f"{HEAD} ({len(stories)}) — stories shared with their consent",
        more="the backbone team keeps them all",
    )


def indicator_community_voice_block(stories: Sequence[CommunityStoryLine]) -> bk.Block | None:
    """Beside an indicator's numbers: the latest stories about it that may be shared."""
    if not stories:
        return None
    return community_stories_block(
        stories, head=f"{HEAD} about this indicator", more="the digest carries each week's stories"
    )
