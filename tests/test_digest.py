"""The weekly digest through the real `serve` process: `/ci digest` previews it privately,
`/ci digest post` posts it to the digest channel, with its chart after it, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ci_slackbot.domain.periods import Period
from ci_slackbot.sandbox.slack import MAX_BLOCKS_TOTAL, blocks_size, validate_blocks
from ci_slackbot.services.initiatives import find_initiative
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.store.models import ActionItem, AgendaCache, Decision, JobRun, Organization
from tests.harness import AGENDA_PAGE, BACKBONE, HOSPITAL, NURSE, SPREADSHEET, World, wait_for

DIGEST_CHANNEL = "C0DIGEST01"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RISKY_DECISION = "Adopt the <!channel> home-visit protocol & share it with <@U0CITY0001>"


@pytest.fixture(scope="module")
def seeded(world: World) -> Iterator[World]:
    """Values, action items, a decision and an agenda change, written through the services and the store."""
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("America/Chicago")).date()
    db = world.db()
    with db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        views = indicator_views(session, initiative.id)
        hospital = who_is(session, initiative, HOSPITAL)
        for period, value in (("2026-09", 17.9), ("2026-10", 17.1)):
            record_value(
                session,
                initiative,
                hospital,
                indicator=find_indicator(views, "er-visits"),
                value=value,
                period=Period.parse(period),
                now=now,
            )
        org_id = session.scalar(select(Organization.id).where(Organization.key == "childrens-health"))
        for text, due, status, closed in (
            ("Call the landlord about mold", today - timedelta(days=3), "open", None),
            ("Send the home-visit roster", today + timedelta(days=3), "open", None),
            ("Print the asthma action plan forms", today - timedelta(days=1), "done", now - timedelta(days=1)),
        ):
            session.add(
                ActionItem(
                    initiative_id=initiative.id,
                    text=text,
                    owner=HOSPITAL,
                    organization_id=org_id,
                    created_by=HOSPITAL,
                    due=due,
                    status=status,
                    closed_at=closed,
                    closed_by=HOSPITAL if closed else None,
                )
            )
        session.add(Decision(initiative_id=initiative.id, text=RISKY_DECISION, recorded_by=BACKBONE, recorded_at=now))
        cache = session.scalar(select(AgendaCache).where(AgendaCache.initiative_id == initiative.id))
        if cache is None:  # the app's own refresh has not read the page yet
            cache = AgendaCache(initiative_id=initiative.id, page_id=AGENDA_PAGE, title="Agenda hub", content=[])
            session.add(cache)
        cache.url = "https://www.notion.so/Agenda-hub-0000000000000000000000000000a9e0"
        cache.changed_at = now
    db.dispose()
    yield world


def _digests(world: World) -> list[dict[str, Any]]:
    return [
        m
        for m in world.slack.messages(DIGEST_CHANNEL)
        if any(b.get("type") == "header" and "weekly digest" in b["text"]["text"] for b in m.get("blocks") or [])
    ]


def _charts(world: World) -> list[dict[str, Any]]:
    return [f for f in world.slack.files() if DIGEST_CHANNEL in f["channels"]]


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element, dict) and "text" in element:
                out.append(element["text"] if isinstance(element["text"], str) else element["text"]["text"])
    return out


def _check_limits(blocks: list[dict[str, Any]]) -> None:
    assert validate_blocks(blocks, surface="message") == []
    assert blocks_size(blocks) <= MAX_BLOCKS_TOTAL
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_the_preview_is_private_and_posts_nothing(seeded: World) -> None:
    answer = seeded.send.ci("digest", user=NURSE)
    assert answer["response_type"] == "ephemeral"
    _check_limits(answer["blocks"])
    text = "\n".join(_texts(answer["blocks"]))
    assert "A preview only you can see" in text and "`/ci digest post`" in text
    assert "Fewer asthma emergencies" in text
    assert _digests(seeded) == []


def test_only_backbone_staff_post_the_digest(seeded: World) -> None:
    answer = seeded.send.ci("digest post", user=HOSPITAL)
    assert answer["response_type"] == "ephemeral"
    assert "Only backbone staff can post the digest" in answer["text"]
    wrong = seeded.send.ci("digest now", user=BACKBONE)
    assert "`/ci digest` takes no `now`" in wrong["text"] and "/ci digest [post]" in wrong["text"]
    assert _digests(seeded) == []


def test_posting_the_digest_shows_every_section_within_limits(seeded: World) -> None:
    answer = seeded.send.ci("digest post", user=BACKBONE)
    assert "Posting the digest to <#C0DIGEST01> now" in answer["text"]
    digest = wait_for(lambda: _digests(seeded), timeout=30)[0]
    blocks = digest["blocks"]
    _check_limits(blocks)
    text = "\n".join(_texts(blocks))
    # Per goal: latest value, change, progress, on-track mark.
    assert "*G1 · Fewer asthma emergencies*" in text
    assert "*17.1 per 1,000 children* (Oct 2026) ↓ −0.8 since Sep 2026" in text
    # Off track (⚠️), yet the fall is good news for ER visits (🟢): two marks, as in `/ci update`'s answer.
    assert "• :warning: *er-visits* — " in text and "↓ −0.8 since Sep 2026 :large_green_circle: · " in text
    assert "% of the way to target" in text and ("on track" in text or "off track" in text)
    assert "*home-visits* — Emergency visits followed by a home visit within 14 days: no value reported yet" in text
    # Reporting completeness: organizations named, nobody mentioned.
    assert "reports are in" in text and "Dallas ISD Health Services: action-plans" in text
    assert "<@" not in json.dumps(blocks) and "<!channel>" not in json.dumps(blocks)
    # Action items.
    assert "Overdue action items* (1)" in text and "Call the landlord about mold — Children's Health" in text
    assert "3 days late" in text
    assert "Due in the coming week* (1)" in text and "Send the home-visit roster" in text
    assert "Done this week* (1)" in text and "Print the asthma action plan forms" in text
    # Decisions since the last digest, escaped.
    assert "Decisions since" in text
    assert "Adopt the &lt;!channel&gt; home-visit protocol &amp; share it with &lt;@U0CITY0001&gt;" in text
    # Agenda change, gaps, links.
    assert "The common agenda changed" in text and "https://www.notion.so/" in text
    assert "Strategies nobody works on yet" in text and "G3.2 Code enforcement for mold and pests" in text
    assert f"https://docs.google.com/spreadsheets/d/{SPREADSHEET}|data sheet" in text
    # The chart follows the message, once.
    chart = wait_for(lambda: _charts(seeded), timeout=60)
    assert len(chart) == 1 and chart[0]["completed"]
    assert chart[0]["content"].startswith(PNG_MAGIC)
    assert "headline indicators" in chart[0]["title"]
    assert float(chart[0]["shares"][DIGEST_CHANNEL][0]) > float(digest["ts"])


def test_a_second_digest_has_its_own_slot_and_only_news_since_the_first(seeded: World) -> None:
    before = len(_digests(seeded))
    assert before >= 1
    seeded.send.ci("digest post", user=BACKBONE)
    digests = wait_for(lambda: _digests(seeded) if len(_digests(seeded)) > before else None, timeout=30)
    text = "\n".join(_texts(digests[-1]["blocks"]))
    assert "Decisions since" not in text  # the decision was in the first digest
    assert "The common agenda changed" not in text
    wait_for(lambda: len(_charts(seeded)) == len(digests), timeout=60)
    db = seeded.db()
    with db.unit_of_work() as session:
        slots = session.scalars(select(JobRun.slot).where(JobRun.job == "digest")).all()
    db.dispose()
    assert len(slots) == len(digests) and all(slot.startswith("manual:") for slot in slots)
    assert len(set(slots)) == len(slots)
