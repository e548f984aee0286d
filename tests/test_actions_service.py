"""Action items and the activities map, tested on the services directly (no server), on each backend.

Also the Block Kit they render to, checked against Slack's limits with the
Slack stand-in's validator, and the escaping of user text in every output.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.sandbox.slack import validate_blocks
from ci_slackbot.services.actions import (
    ActionAlreadyClosedError,
    ActionError,
    action_view,
    actions_summary,
    add_action,
    close_action,
    list_actions,
    local_today,
    owner_items_due,
    parse_action_id,
    push_action,
)
from ci_slackbot.services.activities import activities_map, add_activity
from ci_slackbot.services.initiatives import apply_initiative, find_initiative
from ci_slackbot.services.people import NotAllowedError, Person, who_is
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ActionItem, Activity, Initiative, OutboxItem
from integrations.slack import action_blocks, map_blocks
from integrations.slack.blocks import MAX_MESSAGE_BLOCKS
from tests.paths import EXAMPLE

BACKBONE = "U0BACK0001"
HOSPITAL = "U0CHLD0001"  # Children's Health
HOSPITAL_2 = "U0CHLD0002"  # a colleague at Children's Health
NURSE = "U0DISD0001"  # Dallas ISD
NEIGHBOR = "U0NBRS0001"  # Neighbors United
CITY = "U0CITY0001"
STRANGER = "U0NOBODY01"

ACTIONS_DB = "00000000-0000-0000-0000-0000000ac710"
# Monday 23 November 2026, 09:00 in Chicago.
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)

FILE_ACTIVITIES: dict[str, list[dict[str, Any]]] = {
    "childrens-health": [
        {"goal": "G1", "strategy": 1, "text": "Nurse call within 48 hours of every ED visit"},
        {"goal": "G1", "strategy": 2, "text": "Community health workers in 75216"},
    ],
    "neighbors": [
        {"goal": "G1", "strategy": 1, "text": "Promotoras visit families at home"},
        {"goal": "G3", "strategy": 1, "text": "Home assessments with the county"},
    ],
    "city-code": [
        {"goal": "G1", "strategy": 1, "text": "Referrals from code inspections"},
        {"goal": "G3", "strategy": 2, "text": "Mold and pest inspections in rentals"},
    ],
    "dallas-isd": [{"goal": "G2", "text": "Asthma-friendly campuses"}],
}


def example_file(*, activities: bool = True, actions_db: bool = True) -> dict[str, Any]:
    raw = yaml.safe_load(EXAMPLE.read_text())
    if actions_db:
        raw["notion"]["actions_database"] = ACTIONS_DB
    if activities:
        for org in raw["organizations"]:
            org["activities"] = copy.deepcopy(FILE_ACTIVITIES.get(org["key"], []))
    return raw


@dataclass
class Tenant:
    """One test's own initiative, in its own workspace, in a database the module shares.

    Every service query is scoped to an initiative, so tests need no database of their own
    (creating one per test costs seconds on PostgreSQL).
    """

    database: Database
    team: str

    def apply(self, raw: dict[str, Any]) -> None:
        with self.database.unit_of_work() as session:
            apply_initiative(session, parse_initiative(raw), self.team)

    def session(self) -> Session:
        session = self.database.sessions()
        session.info["team"] = self.team
        return session


@pytest.fixture(scope="module")
def database(module_database_url: str) -> Iterator[Database]:
    shared = Database(module_database_url)
    shared.upgrade()
    yield shared
    shared.dispose()


@pytest.fixture
def tenant(database: Database) -> Tenant:
    tenant = Tenant(database, f"T{uuid.uuid4().hex[:10].upper()}")
    tenant.apply(example_file())
    return tenant


@pytest.fixture
def session(tenant: Tenant) -> Iterator[Session]:
    with tenant.session() as s:
        yield s


def initiative_of(session: Session) -> Initiative:
    found = find_initiative(session, session.info["team"])
    assert found is not None
    return found


def person(session: Session, user_id: str) -> Person:
    return who_is(session, initiative_of(session), user_id)


def add(
    session: Session,
    by: str,
    text: str = "Call the school nurses",
    owner: str | None = None,
    due: date | None = None,
    goal: str | None = None,
    now: datetime = NOW,
) -> ActionItem:
    return add_action(session, initiative_of(session), person(session, by), text, owner, due, goal, now)


def count(session: Session, model: type[ActionItem | Activity]) -> int:
    query = select(func.count()).select_from(model).where(model.initiative_id == initiative_of(session).id)
    return int(session.scalar(query) or 0)


def outbox_rows(session: Session, service: str | None = None) -> list[OutboxItem]:
    query = select(OutboxItem).where(OutboxItem.initiative_id == initiative_of(session).id).order_by(OutboxItem.id)
    if service:
        query = query.where(OutboxItem.service == service)
    return list(session.scalars(query))


# -- adding ---------------------------------------------------------------------------


def test_an_item_defaults_to_its_author_and_their_first_organization(session: Session) -> None:
    item = add(session, HOSPITAL, "  Draft the   follow-up protocol ", due=date(2026, 12, 1), goal="g1")
    view = action_view(session, item, TODAY)
    assert (view.owner, view.organization_key, view.goal_key, view.due) == (
        HOSPITAL,
        "childrens-health",
        "G1",
        date(2026, 12, 1),
    )
    assert view.text == "Draft the follow-up protocol"
    assert view.created_by == HOSPITAL and view.is_open and not view.overdue


def test_the_owner_decides_the_organization(session: Session) -> None:
    item = add(session, HOSPITAL, owner=NEIGHBOR)
    assert action_view(session, item, TODAY).organization_key == "neighbors"
    assert item.created_by == HOSPITAL


def test_each_change_is_queued_for_the_notion_actions_database(session: Session) -> None:
    item = add(session, HOSPITAL)
    close_action(session, initiative_of(session), person(session, HOSPITAL), item.id, NOW)
    rows = outbox_rows(session, "notion")
    assert [(r.kind, r.payload) for r in rows] == [
        ("action_item", {"action_id": item.id, "database_id": ACTIONS_DB}),
        ("action_item", {"action_id": item.id, "database_id": ACTIONS_DB}),
    ]
    assert len({r.idempotency_key for r in rows}) == 2


def test_nothing_is_queued_for_notion_without_an_actions_database(tenant: Tenant) -> None:
    tenant.apply(example_file(actions_db=False))
    with tenant.session() as session:
        add(session, HOSPITAL)
        assert outbox_rows(session, "notion") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"owner": STRANGER}, "is not a member of any partner organization"),
        ({"goal": "G9"}, "no goal `G9`. The goals are: `G1`, `G2`, `G3`"),
        ({"goal": "<!channel>"}, "no goal like that"),
        ({"due": date(2026, 11, 22)}, "2026-11-22 has already passed"),
        ({"text": "   "}, "Say what needs doing"),
        ({"text": "x" * 1001}, "keep it under 1000"),
    ],
)
def test_bad_input_is_refused_clearly_and_writes_nothing(
    session: Session, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as refused:
        add(session, HOSPITAL, **kwargs)
    assert message in str(refused.value)
    assert "<!channel>" not in str(refused.value)
    session.rollback()
    assert count(session, ActionItem) == 0 and outbox_rows(session) == []


def test_only_members_add_items(session: Session) -> None:
    with pytest.raises(NotAllowedError, match="not listed as a member"):
        add(session, STRANGER)


def test_due_today_is_fine_in_the_initiatives_time_zone(session: Session) -> None:
    # 03:00 UTC on the 24th is still the 23rd in Chicago.
    late = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    item = add(session, HOSPITAL, due=date(2026, 11, 23), now=late)
    assert item.due == date(2026, 11, 23)
    assert local_today(initiative_of(session), late) == date(2026, 11, 23)


def test_action_ids_are_read_with_or_without_a_hash() -> None:
    assert parse_action_id("12") == parse_action_id("#12") == 12
    for bad in ("twelve", "", "1.5", "<!channel>", "9" * 12):
        with pytest.raises(ActionError) as refused:
            parse_action_id(bad)
        assert "<!channel>" not in str(refused.value)


# -- listing --------------------------------------------------------------------------


def test_the_list_puts_the_users_own_first_then_their_organizations_then_the_rest(session: Session) -> None:
    other_late = add(session, NEIGHBOR, "Neighbors' overdue item", due=TODAY + timedelta(days=1))
    colleague = add(session, HOSPITAL_2, "Colleague's item", due=TODAY + timedelta(days=3))
    mine_later = add(session, HOSPITAL, "Mine, later", due=TODAY + timedelta(days=20))
    mine_undated = add(session, HOSPITAL, "Mine, undated")
    mine_soon = add(session, HOSPITAL, "Mine, soon", due=TODAY + timedelta(days=2))
    closed = add(session, HOSPITAL, "Mine, closed")
    close_action(session, initiative_of(session), person(session, HOSPITAL), closed.id, NOW)

    a_week_later = TODAY + timedelta(days=7)
    listing = list_actions(session, initiative_of(session), HOSPITAL, a_week_later)
    assert [v.id for v in listing.own] == [mine_soon.id, mine_later.id, mine_undated.id]
    assert [v.id for v in listing.organization] == [colleague.id]
    assert [v.id for v in listing.others] == [other_late.id]
    assert [v.id for v in listing.all if v.overdue] == [mine_soon.id, colleague.id, other_late.id]
    # Someone in no organization sees everything as "the rest".
    stranger = list_actions(session, initiative_of(session), STRANGER, TODAY)
    assert stranger.own == stranger.organization == ()
    assert len(stranger) == 5


# -- closing and pushing: who may ---------------------------------------------------------


def test_the_owner_closes_their_item(session: Session) -> None:
    item = add(session, HOSPITAL)
    closed = close_action(session, initiative_of(session), person(session, HOSPITAL), item.id, NOW)
    assert (closed.status, closed.closed_by, closed.closed_at) == ("done", HOSPITAL, NOW)
    assert list_actions(session, initiative_of(session), HOSPITAL, TODAY).all == ()


def test_backbone_staff_close_anyones_item(session: Session) -> None:
    item = add(session, NEIGHBOR)
    close_action(session, initiative_of(session), person(session, BACKBONE), item.id, NOW)
    assert item.closed_by == BACKBONE


def test_a_partner_cannot_close_or_push_another_organizations_item(session: Session) -> None:
    item = add(session, NEIGHBOR, due=TODAY + timedelta(days=3))
    for change in (close_action, push_action):
        with pytest.raises(NotAllowedError) as refused:
            change(session, initiative_of(session), person(session, HOSPITAL), item.id, NOW)
        message = str(refused.value)
        assert f"#{item.id} is Neighbors United's" in message
        assert "only its owner or backbone staff" in message
    session.refresh(item)
    assert (item.status, item.due) == ("open", TODAY + timedelta(days=3))


def test_a_colleague_cannot_close_it_either(session: Session) -> None:
    item = add(session, HOSPITAL)
    with pytest.raises(NotAllowedError, match="a colleague's"):
        close_action(session, initiative_of(session), person(session, HOSPITAL_2), item.id, NOW)


def test_closing_twice_or_an_unknown_item_is_a_clear_error(session: Session) -> None:
    item = add(session, HOSPITAL)
    close_action(session, initiative_of(session), person(session, HOSPITAL), item.id, NOW)
    with pytest.raises(ActionAlreadyClosedError, match=f"#{item.id} is already done"):
        close_action(session, initiative_of(session), person(session, HOSPITAL), item.id, NOW)
    with pytest.raises(ActionError, match="There is no action item #999"):
        close_action(session, initiative_of(session), person(session, HOSPITAL), 999, NOW)
    with pytest.raises(ActionError, match="done already"):
        push_action(session, initiative_of(session), person(session, HOSPITAL), item.id, NOW)


def test_pushing_gives_a_real_week(session: Session) -> None:
    initiative, me = initiative_of(session), person(session, HOSPITAL)
    future = add(session, HOSPITAL, due=TODAY + timedelta(days=3))
    undated = add(session, HOSPITAL)
    overdue = add(session, HOSPITAL, due=TODAY, now=NOW)
    later = NOW + timedelta(days=10)
    assert push_action(session, initiative, me, future.id, NOW).due == TODAY + timedelta(days=10)
    assert push_action(session, initiative, me, undated.id, NOW).due == TODAY + timedelta(days=7)
    # Ten days overdue: a week from today, not a week from the old date (still overdue).
    assert push_action(session, initiative, me, overdue.id, later).due == TODAY + timedelta(days=17)


# -- the digest and the reminders ------------------------------------------------------------


def test_the_digest_summary_counts_done_this_week_due_next_week_and_overdue(session: Session) -> None:
    initiative, backbone = initiative_of(session), person(session, BACKBONE)
    start = NOW - timedelta(days=20)
    overdue = add(session, HOSPITAL, "overdue", due=TODAY - timedelta(days=1) - timedelta(days=0), now=start)
    due_sunday = add(session, NEIGHBOR, "due Sunday", due=TODAY + timedelta(days=6), now=start)
    due_in_a_week = add(session, NEIGHBOR, "due next Monday", due=TODAY + timedelta(days=7), now=start)
    add(session, NEIGHBOR, "no date", now=start)
    done_recently = add(session, CITY, "done on Tuesday", now=start)
    done_long_ago = add(session, CITY, "done two weeks ago", now=start)
    close_action(session, initiative, backbone, done_recently.id, NOW - timedelta(days=6))
    close_action(session, initiative, backbone, done_long_ago.id, NOW - timedelta(days=14))

    summary = actions_summary(session, initiative.id, TODAY)
    assert [v.id for v in summary.done_this_week] == [done_recently.id]
    assert [v.id for v in summary.due_next_week] == [due_sunday.id]
    assert [v.id for v in summary.overdue] == [overdue.id]
    assert summary.open_count == 4
    assert due_in_a_week.id not in {v.id for v in summary.due_next_week}


def test_an_owners_reminder_items_are_their_overdue_and_due_this_week(session: Session) -> None:
    start = NOW - timedelta(days=20)
    overdue = add(session, HOSPITAL, "overdue", due=TODAY - timedelta(days=2), now=start)
    soon = add(session, HOSPITAL, "soon", due=TODAY + timedelta(days=3), now=start)
    add(session, HOSPITAL, "later", due=TODAY + timedelta(days=9), now=start)
    add(session, HOSPITAL, "undated", now=start)
    add(session, HOSPITAL_2, "a colleague's", due=TODAY, now=start)
    due = owner_items_due(session, initiative_of(session).id, HOSPITAL, TODAY)
    assert [v.id for v in due.overdue] == [overdue.id]
    assert [v.id for v in due.due_this_week] == [soon.id]
    assert not owner_items_due(session, initiative_of(session).id, NURSE, TODAY)


# -- activities ---------------------------------------------------------------------------


def test_activities_from_the_file_make_the_map_with_gaps_and_overlaps(session: Session) -> None:
    the_map = activities_map(session, initiative_of(session).id)
    assert [g.key for g in the_map.goals] == ["G1", "G2", "G3"]
    g1 = the_map.goals[0]
    assert [o.key for o in g1.strategies[0].organizations] == ["childrens-health", "city-code", "neighbors"]
    assert [c.label for c in the_map.gaps] == ["G2.1", "G2.2"]
    assert [c.label for c in the_map.overlaps] == ["G1.1"]
    assert [a.organization.key for a in the_map.goals[1].goal_level] == ["dallas-isd"]
    hospital = next(o for o in the_map.organizations if o.key == "childrens-health")
    assert the_map.contributions(hospital.id) == ("G1.1", "G1.2")
    isd = next(o for o in the_map.organizations if o.key == "dallas-isd")
    assert the_map.contributions(isd.id) == ("G2",)
    # The overlap threshold is a parameter.
    assert [c.label for c in activities_map(session, initiative_of(session).id, overlap_threshold=2).overlaps] == [
        "G1.1"
    ]
    assert activities_map(session, initiative_of(session).id, overlap_threshold=4).overlaps == ()
    assert len(activities_map(session, initiative_of(session).id, overlap_threshold=1).overlaps) == 4


def test_adding_an_activity_fills_a_gap(session: Session) -> None:
    added = add_activity(
        session, initiative_of(session), person(session, NURSE), "g2", "Nurses collect plans", NOW, strategy=1
    )
    assert (added.organization.key, added.goal_key, added.strategy_number) == ("dallas-isd", "G2", 1)
    assert added.strategy_text == "Nurses collect action plans at enrollment"
    assert [c.label for c in activities_map(session, initiative_of(session).id).gaps] == ["G2.2"]


@pytest.mark.parametrize(
    ("goal", "kwargs", "message"),
    [
        ("G9", {}, "no goal `G9`. The goals are: `G1`, `G2`, `G3`"),
        ("G1", {"strategy": 3}, "Goal G1 has no strategy 3: use one of 1, 2"),
        ("G1", {"strategy": 0}, "no strategy 0"),
        ("G1", {"text": " "}, "Say what Children's Health does toward G1"),
        ("G1", {"text": "Nurse call within 48 hours of every ED visit", "strategy": 1}, "already lists"),
        ("G1", {"org_key": "nowhere"}, "no organization `nowhere`"),
    ],
)
def test_bad_activities_are_refused_and_write_nothing(
    session: Session, goal: str, kwargs: dict[str, Any], message: str
) -> None:
    before = count(session, Activity)
    kwargs = dict(kwargs)  # the parameters are shared by both backends
    text = kwargs.pop("text", "Something new")
    with pytest.raises(InputError, match=message):
        add_activity(session, initiative_of(session), person(session, HOSPITAL), goal, text, NOW, **kwargs)
    session.rollback()
    assert count(session, Activity) == before


def test_activities_are_for_your_own_organization_unless_you_are_backbone(session: Session) -> None:
    initiative = initiative_of(session)
    with pytest.raises(NotAllowedError, match="your own organization only"):
        add_activity(session, initiative, person(session, HOSPITAL), "G2", "Plans", NOW, org_key="dallas-isd")
    with pytest.raises(NotAllowedError):
        add_activity(session, initiative, person(session, STRANGER), "G2", "Plans", NOW)
    added = add_activity(session, initiative, person(session, BACKBONE), "G2", "Plans", NOW, org_key="dallas-isd")
    assert added.organization.key == "dallas-isd"


def test_reapplying_the_file_replaces_its_activities_and_keeps_those_added_in_slack(tenant: Tenant) -> None:
    with tenant.session() as session, session.begin():
        add_activity(session, initiative_of(session), person(session, NURSE), "G2", "From Slack", NOW, strategy=2)
    changed = example_file()
    for org in changed["organizations"]:
        if org["key"] == "city-code":
            org["activities"] = []
    changed["organizations"] = [o for o in changed["organizations"] if o["key"] != "neighbors"]
    for indicator in changed["indicators"]:
        indicator["reporters"] = [r for r in indicator["reporters"] if r != "neighbors"] or ["city-code"]
    tenant.apply(changed)
    with tenant.session() as session:
        the_map = activities_map(session, initiative_of(session).id)
        g1, g2 = the_map.goals[:2]
        assert [o.key for o in g1.strategies[0].organizations] == ["childrens-health"]
        assert [a.text for a in g2.strategies[1].activities] == ["From Slack"]
        # Neighbors United left the initiative: its activities are off the map.
        assert [c.label for c in the_map.gaps] == ["G2.1", "G3.1", "G3.2"]
        assert the_map.overlaps == ()


# -- what the user sees ----------------------------------------------------------------------


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def test_the_list_stays_within_slacks_limits_for_any_number_of_items(session: Session) -> None:
    for i in range(120):
        add(session, [HOSPITAL, NEIGHBOR, CITY][i % 3], f"Item {i} " + "long words " * 60)
    initiative = initiative_of(session)
    for viewer in (HOSPITAL, BACKBONE):
        listing = list_actions(session, initiative, viewer, TODAY)
        blocks = action_blocks.list_blocks(listing, person(session, viewer), TODAY, note="Closed #1")
        assert validate_blocks(blocks, surface="message") == []
        assert len(blocks) <= MAX_MESSAGE_BLOCKS
        assert "more open items not shown" in _text(blocks)
    # A partner gets buttons on their own items only.
    listing = list_actions(session, initiative, HOSPITAL, TODAY)
    blocks = action_blocks.list_blocks(listing, person(session, HOSPITAL), TODAY)
    buttons = [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons and {value.partition(":")[0] for value in buttons} <= {str(v.id) for v in listing.own}


def test_user_text_is_escaped_in_every_rendering(session: Session) -> None:
    nasty = "<!channel> ping & <@U0BACK0001> <https://evil.example|click>"
    item = add(session, HOSPITAL, nasty, owner=NEIGHBOR, due=TODAY)
    view = action_view(session, item, TODAY)
    listing = list_actions(session, initiative_of(session), BACKBONE, TODAY)
    rendered = [
        action_blocks.list_message(listing, person(session, BACKBONE), TODAY),
        action_blocks.added_blocks(view, TODAY, assigned_by_someone_else=True),
        action_blocks.assignment_dm(view, HOSPITAL, TODAY),
        action_blocks.closed_note(view),
        action_blocks.pushed_note(view),
    ]
    activity = add_activity(session, initiative_of(session), person(session, NURSE), "G2", nasty, NOW, strategy=2)
    the_map = activities_map(session, initiative_of(session).id)
    rendered += [map_blocks.map_blocks(the_map), map_blocks.goal_blocks(the_map.goals[1], 3)]
    rendered.append(map_blocks.activity_added(activity))
    for output in rendered:
        text = json.dumps(output)
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U0BACK0001>" not in text
        # The overview names organizations, not activities; everything else shows the text, escaped.
        assert "&lt;!channel&gt;" in text or output is rendered[5]


def test_the_map_stays_within_slacks_limits_for_a_big_initiative(tenant: Tenant) -> None:
    raw = example_file()
    raw["goals"] = [
        {
            "key": f"G{g}",
            "title": f"Goal {g} " + "t" * 200,
            "strategies": [f"Strategy {s} " + "s" * 300 for s in range(30)],
        }
        for g in range(1, 41)
    ]
    raw["organizations"] += [
        {
            "key": f"org-{i}",
            "name": f"Organization {i}",
            "activities": [{"goal": "G1", "strategy": 1, "text": "x" * 400}],
        }
        for i in range(60)
    ]
    for org in raw["organizations"]:
        org["activities"] = [*org.get("activities", []), {"goal": "G2", "text": "goal-level " * 30}]
    raw["indicators"] = []
    tenant.apply(raw)
    with tenant.session() as session:
        the_map = activities_map(session, initiative_of(session).id)
        overview = map_blocks.map_blocks(the_map)
        detail = map_blocks.goal_blocks(the_map.goals[0], the_map.overlap_threshold)
        for blocks in (overview, detail, map_blocks.goal_blocks(the_map.goals[1], 3)):
            assert validate_blocks(blocks, surface="message") == []
            assert len(blocks) <= MAX_MESSAGE_BLOCKS
        assert "more goals" in _text(overview)
        assert "and 51 more" in _text(detail)  # 63 organizations on G1.1, 12 named
