"""App Home through the real `serve` process: what my organization owes with Report buttons,
my action items, my goals; backbone staff also see the reporting status and the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ci_slackbot.sandbox.slack import validate_view
from ci_slackbot.services.initiatives import find_initiative
from ci_slackbot.store.models import ActionItem, Organization
from tests.harness import BACKBONE, HOSPITAL, NURSE, STRANGER, World, clock_at, wait_for


def _open_home(world: World, user: str) -> dict[str, Any]:
    before = world.slack.home(user)
    response = world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    assert response.status_code == 200
    return wait_for(
        lambda: (lambda view: view if view and view != before else None)(world.slack.home(user)), timeout=30
    )


def _text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def _report_buttons(view: dict[str, Any]) -> list[str]:
    return [
        block["accessory"]["value"]
        for block in view["blocks"]
        if block.get("accessory", {}).get("action_id") == "open_update_modal"
    ]


def test_a_partner_sees_what_their_organization_owes_with_report_buttons(world: World) -> None:
    view = _open_home(world, HOSPITAL)
    assert validate_view(view, surface="home") == []
    text = _text(view)
    assert "What Children's Health reports now" in text
    assert sorted(_report_buttons(view)) == ["er-visits", "home-visits"]
    assert "*Your goals*" in text and "Fewer asthma emergencies" in text
    assert "Healthy homes" not in text  # not one of Children's Health's goals
    assert "For backbone staff" not in text


def test_the_report_button_opens_the_update_modal(world: World) -> None:
    world.send.click(HOSPITAL, "open_update_modal", "er-visits", view={"id": "VHOME", "type": "home"})
    opened = wait_for(lambda: world.slack.views(HOSPITAL, callback_id="update_value"), timeout=30)
    assert "er-visits" in json.dumps(opened[-1]["view"])


def test_reported_indicators_drop_off_and_action_items_appear(world: World) -> None:
    world.send.ci("update action-plans 55", user=NURSE)
    db = world.db()
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date()
    with db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        org_id = session.scalar(select(Organization.id).where(Organization.key == "dallas-isd"))
        session.add(
            ActionItem(
                initiative_id=initiative.id,
                text="Collect the <b>action plans</b> at enrollment",
                owner=NURSE,
                organization_id=org_id,
                created_by=NURSE,
                due=today - timedelta(days=2),
            )
        )
    db.dispose()
    view = _open_home(world, NURSE)
    assert validate_view(view, surface="home") == []
    text = _text(view)
    assert _report_buttons(view) == []
    assert "All 1 reports are in. Thank you!" in text
    assert "*Your open action items* (1)" in text
    assert "Collect the &lt;b&gt;action plans&lt;/b&gt; at enrollment" in text and "2 days late" in text


def test_backbone_staff_also_see_reporting_status_and_outbox_health(world: World) -> None:
    # 20 January 2027: December was due on the 15th, so a report still missing is named.
    with clock_at(world, datetime(2027, 1, 20, 16, 0, tzinfo=UTC)):
        view = _open_home(world, BACKBONE)
    assert validate_view(view, surface="home") == []
    text = _text(view)
    assert "For backbone staff" in text
    assert "*Reporting for the periods due:*" in text and "Children's Health: er-visits (Dec 2026)" in text
    assert "*Outbox:*" in text
    assert "<@" not in text


def test_someone_outside_the_initiative_sees_how_to_join(world: World) -> None:
    view = _open_home(world, STRANGER)
    assert validate_view(view, surface="home") == []
    text = _text(view)
    assert "not listed as a member of any partner organization" in text
    assert "*Where our goals stand*" in text and "Healthy homes" in text
    assert _report_buttons(view) == []
