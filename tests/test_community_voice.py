"""Community voice through the real app and the stand-ins: `/ci story` and the "Save as a community
story" shortcut open a form; a story shared with consent reaches Notion's community voice database,
the digest and `/ci indicator`; one without consent is seen only by the backbone team and its
recorder, and appears on no other surface (each surface is checked for its text)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.sandbox.slack import validate_blocks, validate_view
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.store.models import CommunityStory, OutboxItem
from tests.harness import AGENDA_PAGE, BACKBONE, HOSPITAL, NURSE, SPREADSHEET, STRANGER, World, wait_for
from tests.paths import EXAMPLE

VOICE_DB = "00000000-0000-0000-0000-0000000c0ce0"
FORM = "save_community_story"


@pytest.fixture(scope="module", autouse=True)
def community_voice_database(world: World) -> Iterator[None]:
    """The backbone names a bare "Community voice" database: the mirror adds its columns."""
    world.notion.add_database(AGENDA_PAGE, "Community voice", {"Title": {"title": {}}}, database_id=VOICE_DB)
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["notion"]["community_voice_database"] = VOICE_DB
    db = world.db()
    with db.unit_of_work() as session:
        apply_initiative(session, parse_initiative(raw))
    db.dispose()
    yield


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _open_by_command(world: World, user: str, text: str) -> dict[str, Any]:
    before = len(world.slack.views(user, callback_id=FORM))
    answer = world.send.ci(f"story {text}", user=user)
    assert "warning" not in _text(answer), answer
    opened = wait_for(lambda: world.slack.views(user, callback_id=FORM)[before:], timeout=10)[-1]
    return {**opened["view"], "id": opened["view_id"]}


def _open_by_shortcut(world: World, user: str, text: str) -> dict[str, Any]:
    before = len(world.slack.views(user, callback_id=FORM))
    response = world.send.interaction(
        {
            "type": "message_action",
            "callback_id": FORM,
            "trigger_id": world.slack.new_trigger_id(user),
            "user": {"id": user},
            "channel": {"id": "C0GENERAL"},
            "message": {"type": "message", "ts": "1700000000.000100", "user": NURSE, "text": text},
            "response_url": world.slack.response_url(uuid.uuid4().hex),
        }
    )
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(user, callback_id=FORM)[before:], timeout=10)[-1]
    return {**opened["view"], "id": opened["view_id"]}


def _values(
    text: str | None,
    *,
    role: str | None = "parent",
    credit: str | None = "anonymous",
    name: str = "",
    consent: str | None = "yes",
    indicator: str | None = None,
    place: str = "",
) -> dict[str, dict[str, Any]]:
    def chosen(kind: str, value: str | None) -> dict[str, Any]:
        return {"value": {"type": kind, "selected_option": {"value": value} if value else None}}

    def typed(value: str | None) -> dict[str, Any]:
        return {"value": {"type": "plain_text_input", "value": value or None}}

    return {
        "cv_text": typed(text),
        "cv_role": chosen("static_select", role),
        "cv_credit": chosen("radio_buttons", credit),
        "cv_name": typed(name),
        "cv_consent": chosen("radio_buttons", consent),
        "cv_indicator": chosen("static_select", indicator),
        "cv_goal": chosen("static_select", None),
        "cv_place": typed(place),
    }


def _save(world: World, user: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    response = world.send.submit(user, view, values)
    assert response.status_code == 200
    return response.json() if response.content else {}


def _story(world: World, marker: str) -> CommunityStory | None:
    db = world.db()
    with db.unit_of_work() as session:
        found = session.scalar(select(CommunityStory).where(CommunityStory.text.contains(marker)))
        if found is not None:
            session.expunge(found)
    db.dispose()
    return found


def _voice_pages(world: World, marker: str) -> list[dict[str, Any]]:
    return [p for p in world.notion.pages_in(VOICE_DB) if marker in world.notion.page_text(p["id"])]


def _home(world: World, user: str) -> dict[str, Any]:
    before = world.slack.home(user)
    world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    return wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(user)), timeout=30)


def _record(world: World, user: str, marker: str, **fields: Any) -> CommunityStory:
    view = _open_by_command(world, user, f"Story {marker}")
    answer = _save(world, user, view, _values(f"Story {marker}", **fields))
    assert answer.get("response_action") == "update", answer
    story = _story(world, marker)
    assert story is not None
    return story


def test_a_shared_story_goes_to_notion_the_digest_and_the_indicator(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    said = f"My son <b>missed</b> 3 days & the nurse was gone {marker}"
    view = _open_by_command(world, NURSE, said)
    assert validate_view(view, surface="modal") == []
    text_input = next(b for b in view["blocks"] if b.get("block_id") == "cv_text")["element"]
    assert text_input["initial_value"] == said  # as typed: Slack's escaping undone
    answer = _save(
        world,
        NURSE,
        view,
        _values(said, credit="named", name="Maria <Lopez>", indicator="action-plans", place="ZIP 75216"),
    )
    assert answer["response_action"] == "update"
    assert "will be in the next digest and the Notion community voice database" in _text(answer["view"])
    story = _story(world, marker)
    assert story is not None and story.consent and story.teller_name == "Maria <Lopez>"

    page = wait_for(lambda: _voice_pages(world, marker), timeout=30)
    assert len(page) == 1
    properties = page[0]["properties"]
    assert world.notion.page_text(page[0]["id"]) == said
    assert properties["Told by"]["select"]["name"] == "Parent"
    assert properties["Teller"]["rich_text"][0]["plain_text"] == "Maria <Lopez>"
    assert properties["Indicator"]["rich_text"][0]["plain_text"].startswith("action-plans")
    assert properties["Place"]["rich_text"][0]["plain_text"] == "ZIP 75216"

    preview = world.send.ci("digest", user=HOSPITAL)
    assert validate_blocks(preview["blocks"], surface="message") == []
    section = next(t for t in (_text(b) for b in preview["blocks"]) if "In the community's words" in t)
    assert f"My son &lt;b&gt;missed&lt;/b&gt; 3 days &amp; the nurse was gone {marker}" in section
    assert "Parent, Maria &lt;Lopez&gt;" in section and "ZIP 75216" in section
    assert "<b>" not in section

    indicator = _text(world.send.ci("indicator action-plans", user=STRANGER))
    assert f"the nurse was gone {marker}" in indicator and "In the community's words" in indicator
    assert f"the nurse was gone {marker}" not in _text(world.send.ci("indicator er-visits", user=STRANGER))


def test_an_anonymous_tellers_name_is_never_kept_or_shown(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    story = _record(world, NURSE, marker, credit="anonymous", name=f"Secret{marker}")
    assert story.teller_name is None
    page = wait_for(lambda: _voice_pages(world, marker), timeout=30)[0]
    assert page["properties"]["Teller"]["rich_text"][0]["plain_text"] == "anonymous"
    assert f"Secret{marker}" not in _text(page)
    digest = _text(world.send.ci("digest", user=HOSPITAL))
    assert f"Story {marker}” — Parent, anonymous" in digest and f"Secret{marker}" not in digest


def test_a_story_without_consent_never_leaves_the_backbone_team(world: World) -> None:
    kept, shared = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    view = _open_by_shortcut(world, HOSPITAL, f"Kept {kept}: she asked us not to pass it on")
    answer = _save(
        world,
        HOSPITAL,
        view,
        _values(f"Kept {kept}: she asked us not to pass it on", consent="no", indicator="er-visits"),
    )
    assert "kept within the backbone team" in _text(answer["view"])
    story = _story(world, kept)
    assert story is not None and not story.consent
    # A shared story saved after it: once that one is in Notion, the kept one would have been too.
    _record(world, HOSPITAL, shared, indicator="er-visits")
    wait_for(lambda: _voice_pages(world, shared), timeout=30)

    # Notion: no page, and nothing was ever queued for it.
    assert _voice_pages(world, kept) == [] and kept not in _text(world.notion.pages_in(VOICE_DB))
    db = world.db()
    with db.unit_of_work() as session:
        assert session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key.contains(f":{story.id}:"))) is None
    db.dispose()
    # The digest, even as backbone staff preview it.
    digest = _text(world.send.ci("digest", user=BACKBONE))
    assert f"Story {shared}" in digest and kept not in digest
    # `/ci indicator`, whoever asks (backbone staff and the recorder too).
    for user in (BACKBONE, HOSPITAL, STRANGER):
        indicator = _text(world.send.ci("indicator er-visits", user=user))
        assert f"Story {shared}" in indicator and kept not in indicator
    # App Home: backbone staff see it, kept apart and marked; the recorder sees it; another partner does not.
    backbone = _text(_home(world, BACKBONE)["blocks"])
    assert "Stories kept within the backbone team" in backbone and f"Kept {kept}" in backbone
    assert f"Kept {kept}" in _text(_home(world, HOSPITAL)["blocks"])
    assert kept not in _text(_home(world, NURSE)["blocks"])
    # Sheets: stories are never written there.
    for title in world.sheets.worksheet_titles(SPREADSHEET):
        assert kept not in _text(world.sheets.values(SPREADSHEET, title))


def test_the_form_asks_for_what_is_missing_and_saves_nothing(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    view = _open_by_command(world, NURSE, f"Half a story {marker}")
    answer = _save(world, NURSE, view, _values(f"Half a story {marker}", role=None, consent=None))
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"cv_role", "cv_consent"}
    named = _save(world, NURSE, view, _values(f"Half a story {marker}", credit="named", name=""))
    assert named["errors"] == {"cv_name": "Write their name, or choose “Anonymously”."}
    assert _story(world, marker) is None
    # A second submission of the same form records the story once.
    first = _save(world, NURSE, view, _values(f"Half a story {marker}"))
    assert first["response_action"] == "update"
    again = _save(world, NURSE, view, _values(f"Half a story {marker}"))
    assert again["response_action"] == "errors" and "already submitted" in _text(again)


def test_only_members_save_stories(world: World) -> None:
    before = len(world.slack.views(STRANGER, callback_id=FORM))
    answer = world.send.ci("story something I heard", user=STRANGER)
    assert answer["response_type"] == "ephemeral" and "not listed as a member" in answer["text"]
    assert len(world.slack.views(STRANGER, callback_id=FORM)) == before
    forged = world.send.submit(STRANGER, {"type": "modal", "callback_id": FORM}, _values("Sneaky story"))
    assert forged.json()["response_action"] == "errors"
    assert _story(world, "Sneaky story") is None
