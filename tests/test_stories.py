"""Stories carried forward, through the real app and the stand-ins: the story told with a number
that moved the wrong way reaches the digest (cut, with its teller), the meeting-prep page in
Notion (whole, with the Turn-the-Curve notes) and the partner's App Home."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from ci_slackbot.sandbox.slack import validate_blocks, validate_view
from ci_slackbot.store.models import IndicatorValue, MeetingPrep, ValueStory
from tests.harness import BACKBONE, HOSPITAL, NURSE, World, wait_for

DIGEST_CHANNEL = "C0DIGEST01"


def _story_button(answer: dict[str, Any]) -> str:
    return str(
        next(
            b["accessory"]["value"] for b in answer["blocks"] if b.get("accessory", {}).get("action_id") == "add_story"
        )
    )


def _open_story_form(world: World, user: str, value_id: str) -> dict[str, Any]:
    before = len(world.slack.views(user, callback_id="value_story"))
    assert world.send.click(user, "add_story", value_id).status_code == 200
    opened = wait_for(lambda: world.slack.views(user, callback_id="value_story")[before:], timeout=10)[-1]
    return {**opened["view"], "id": opened["view_id"]}


def _field(text: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": text}


def _tell(world: World, user: str, value_id: str, story: str, **curve: str) -> None:
    view = _open_story_form(world, user, value_id)
    values = {"story": {"story": _field(story)}, **{name: {name: _field(text)} for name, text in curve.items()}}
    response = world.send.submit(user, view, values)
    assert response.status_code == 200
    answer = response.json() if response.content else {}
    assert "errors" not in answer, answer


def _wrong_way(world: World, indicator: str, first: str, second: str, user: str = NURSE) -> str:
    world.send.ci(f"update {indicator} {first}", user=user)
    answer = world.send.ci(f"update {indicator} {second}", user=user)
    assert "moved the wrong way" in json.dumps(answer), answer
    return _story_button(answer)


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_the_story_form_offers_the_turn_the_curve_fields_and_keeps_them(world: World) -> None:
    value_id = _wrong_way(world, "action-plans", "70 2025-Q1", "55 2025-Q2")
    view = _open_story_form(world, NURSE, value_id)
    assert validate_view(view, surface="modal") == []
    optional = [b["block_id"] for b in view["blocks"] if b.get("type") == "input" and b.get("optional")]
    assert optional == ["curve_story", "partners", "what_works", "next_action"]
    too_long = world.send.submit(
        NURSE, view, {"story": {"story": _field("Flu season")}, "partners": {"partners": _field("x" * 1001)}}
    ).json()
    assert too_long["response_action"] == "errors" and "partners" in too_long["errors"]
    _tell(
        world,
        NURSE,
        value_id,
        "Flu season kept nurses busy",
        curve_story="Staffing fell for two years",
        partners="Children's Health clinics",
        what_works="Plans filled in at the clinic visit",
        next_action="Ask clinics to send plans to schools",
    )
    db = world.db()
    with db.unit_of_work() as session:
        stories = session.scalars(select(ValueStory).where(ValueStory.value_id == int(value_id))).all()
        assert [(s.story, s.told_by) for s in stories] == [("Flu season kept nurses busy", NURSE)]
        assert stories[0].curve_story == "Staffing fell for two years"
        assert stories[0].partners == "Children's Health clinics"
        assert stories[0].what_works == "Plans filled in at the clinic visit"
        assert stories[0].next_action == "Ask clinics to send plans to schools"
        value = session.get(IndicatorValue, int(value_id))
        assert value is not None and "Flu season kept nurses busy" in value.note  # the Sheet's note shows it
    db.dispose()


def test_a_story_reaches_the_next_digest_with_its_teller_and_only_that_one(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    value_id = _wrong_way(world, "action-plans", "66 2024-Q3", "52 2024-Q4")
    long_story = f"Two nurses left <in> August & {marker} " + "we lost the school-day clinics too. " * 40 + "THE END"
    _tell(world, NURSE, value_id, long_story, what_works="Nurse <aides>")
    world.send.ci(f"update er-visits 17.5 2024-05 flu {marker}", user=HOSPITAL)

    preview = world.send.ci("digest", user=HOSPITAL)
    assert validate_blocks(preview["blocks"], surface="message") == []
    texts = [b["text"]["text"] for b in preview["blocks"] if isinstance(b.get("text"), dict)]
    section = next(t for t in texts if "stories behind the numbers" in t)
    assert f"Two nurses left &lt;in&gt; August &amp; {marker}" in section  # user text escaped
    assert "<@U0DISD0001>" in section  # the teller, named
    assert "…" in section and "THE END" not in section  # a long story is cut
    assert "_What works:_ Nurse &lt;aides&gt;" in section
    assert f"“flu {marker}” — <@U0CHLD0001>" in section  # a note given with the value is its story too
    assert "*action-plans* (Q4 2024, Dallas ISD Health Services): “Two nurses" in section

    world.send.ci("digest post", user=BACKBONE)
    posted = wait_for(
        lambda: [m for m in world.slack.messages(DIGEST_CHANNEL) if marker in _texts(m.get("blocks") or [])],
        timeout=30,
    )[0]
    assert "<@U0DISD0001>" in _texts(posted["blocks"])
    # Told once: the digest after that one has no story of before.
    assert marker not in _texts(world.send.ci("digest", user=HOSPITAL)["blocks"])


def test_prep_writes_the_stories_whole_into_the_notion_page(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    value_id = _wrong_way(world, "action-plans", "64 2023-Q3", "51 2023-Q4")
    long_story = f"Story {marker}: " + "the district moved nurses between campuses. " * 30 + "THE END"
    _tell(world, NURSE, value_id, long_story, next_action="Meet the district in March")
    answer = world.send.ci("prep", user=BACKBONE)
    assert "stories told with the numbers" in json.dumps(answer)

    def page() -> str | None:
        db = world.db()
        with db.unit_of_work() as session:
            prep = session.scalars(select(MeetingPrep).order_by(MeetingPrep.id.desc())).first()
            page_id = prep.notion_page_id if prep is not None else None
        db.dispose()
        return world.notion.page_text(page_id) if page_id else None

    body = wait_for(page, timeout=30)
    assert "The stories behind the numbers, for discussion" in body
    assert long_story in body  # whole, not cut
    assert "Students with asthma who have an action plan on file (action-plans)" in body
    assert "told by" in body and NURSE in body
    assert "Next action: Meet the district in March" in body


def test_app_home_shows_a_partner_the_stories_on_their_indicators(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    value_id = _wrong_way(world, "action-plans", "63 2022-Q3", "50 2022-Q4")
    _tell(world, NURSE, value_id, f"Home story {marker}")

    def home(user: str) -> dict[str, Any]:
        before = world.slack.home(user)
        world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
        return wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(user)), timeout=30)

    view = home(NURSE)
    assert validate_view(view, surface="home") == []
    assert f"Home story {marker}" in _texts(view["blocks"])
    # Children's Health does not report action-plans: not its story to see at home.
    assert f"Home story {marker}" not in _texts(home(HOSPITAL)["blocks"])
