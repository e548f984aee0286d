"""Organizations that follow a Slack user group (issue 19, point 2): their members are kept in step.

An organization's `usergroup` names a Slack user group (S0123ABCD, shown in Slack as
`@childrens-health`). The scheduler reads the group at once when it is set, and hourly after, and
makes the group's members the organization's through the set-up service, authored by the group:
the change log says so, new members are welcomed and can report at once, and those who left the
group lose their rights at once. A group that vanished changes no member; backbone staff are told.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ci_slackbot import jobs
from ci_slackbot.bootstrap import Services
from ci_slackbot.cli.schedule import describe
from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.sandbox.slack import manifest_scopes
from ci_slackbot.services.change_log import recent_changes
from ci_slackbot.services.initiative_export import export_initiative_file
from ci_slackbot.services.initiatives import apply_initiative, find_initiative
from ci_slackbot.services.setup import SetupError
from ci_slackbot.services.usergroups import follow_members, followed_usergroups, set_usergroup
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Initiative, Membership, Organization
from integrations.slack.usergroups import usergroup_choices
from tests.harness import BACKBONE, HOSPITAL, World, wait_for
from tests.paths import EXAMPLE

GROUP = "S0CHLDHLTH"
HANDLE = "childrens-health"
NEWCOMER = "U0CHLDNEW1"  # joins the user group in Slack
LEAVER = "U0CHLD0002"  # a member of Children's Health in the file, not in the group


@pytest.fixture
def serve_env() -> dict[str, str]:
    # The scheduler looks for changed set-ups often, so that "at once" is soon in a test.
    return {"CI_SLACKBOT_SCHEDULER_POLL_SECONDS": "0.2"}


def text_of(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def members(db: Database, org_key: str) -> set[str]:
    with db.unit_of_work() as session:
        return set(
            session.scalars(
                select(Membership.slack_user_id)
                .join(Organization, Organization.id == Membership.organization_id)
                .where(Organization.key == org_key)
            )
        )


def services_of(world: World) -> Services:
    services = world.server.services
    assert isinstance(services, Services)
    return services


def initiative_id(db: Database) -> int:
    with db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        return initiative.id


def follow(db: Database, usergroup: str | None, org_key: str = "childrens-health") -> None:
    with db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        set_usergroup(session, initiative, BACKBONE, org_key, usergroup)


# -- the service the organization form calls --------------------------------------------------------


def test_set_usergroup_checks_the_id_as_init_does_and_logs_who_set_it(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            apply_initiative(session, parse_initiative(yaml.safe_load(EXAMPLE.read_text())))
        with pytest.raises(SetupError) as bad:
            follow(db, "@childrens-health")
        (problem,) = bad.value.at("organizations[1].usergroup").values()
        assert "is not a Slack user group ID" in problem and "S0123ABCD" in problem
        with pytest.raises(SetupError, match="`nobody` is not"):
            follow(db, GROUP, "nobody")
        follow(db, GROUP)
        with db.unit_of_work() as session:
            initiative = session.get_one(Initiative, initiative_id(db))
            assert [f.usergroup for f in followed_usergroups(session, initiative.id)] == [GROUP]
            assert export_initiative_file(session, initiative)["organizations"][1]["usergroup"] == GROUP
            line = recent_changes(session, initiative.id, 1)[0]
            assert (line.author, line.subject, line.what) == (
                BACKBONE,
                "organization childrens-health",
                f"usergroup: none → {GROUP}",
            )
        follow(db, None)  # stops following; the members stay as they are
        with db.unit_of_work() as session:
            initiative = session.get_one(Initiative, initiative_id(db))
            assert followed_usergroups(session, initiative.id) == []
            assert "usergroup" not in export_initiative_file(session, initiative)["organizations"][1]
    finally:
        db.dispose()


# -- the job, against the Slack stand-in --------------------------------------------------------------


def test_members_follow_the_group_at_once_with_the_group_as_author(fresh_world: World) -> None:
    world, slack, db = fresh_world, fresh_world.slack, fresh_world.db()
    slack.add_usergroup(GROUP, HANDLE, [HOSPITAL, NEWCOMER], name="Children's Health")
    assert members(db, "childrens-health") == {HOSPITAL, LEAVER}
    follow(db, GROUP)
    # The scheduler notices the organization now follows a group and reads it at once.
    wait_for(lambda: members(db, "childrens-health") == {HOSPITAL, NEWCOMER}, timeout=15)
    with db.unit_of_work() as session:
        line = recent_changes(session, initiative_id(db), 1)[0]
    assert line.author == f"Slack user group @{HANDLE}"
    assert line.subject == "organization childrens-health members"
    assert line.what == f"members: + {NEWCOMER} − {LEAVER}"
    # The newcomer is welcomed, and can report at once; the one who left the group cannot.
    welcome = wait_for(lambda: slack.dms(NEWCOMER), timeout=15)
    assert "Welcome to Breathe Easy Dallas" in text_of(welcome)
    assert "er-visits" in text_of(world.send.ci("update er-visits 15.2 2026-10", user=NEWCOMER))
    refused = world.send.ci("update er-visits 15.3 2026-10", user=LEAVER)
    assert refused["response_type"] == "ephemeral" and "member" in refused["text"]
    # App Home names the group as the author, as text: it is no person to mention.
    world.send.event({"type": "app_home_opened", "user": BACKBONE, "tab": "home", "channel": f"D{BACKBONE}"})
    home = wait_for(lambda: (h := slack.home(BACKBONE)) and f"@{HANDLE}" in text_of(h) and h, timeout=10)
    assert f"Slack user group @{HANDLE}" in text_of(home) and "<@Slack" not in text_of(home)

    # The form's select offers the workspace's groups by handle; its after-commit sync finds nothing new.
    services = services_of(world)
    slack.add_usergroup("S0AAAAAAAA", "a-team", [BACKBONE])
    choices = usergroup_choices(services, initiative_id(db))
    assert [(c.id, c.handle, c.members) for c in choices] == [("S0AAAAAAAA", "a-team", 1), (GROUP, HANDLE, 2)]
    assert "in step with @childrens-health" in jobs.sync_usergroups_now(services, initiative_id(db))

    # Someone leaves the group in Slack: the next hourly run takes them out, nothing else changes.
    slack.set_usergroup_users(GROUP, [NEWCOMER])
    iid = initiative_id(db)
    assert "members set to @childrens-health's 1" in jobs.run_usergroups(services, iid, "2026-12-05T03:00")
    assert members(db, "childrens-health") == {NEWCOMER}
    assert "in step" in jobs.run_usergroups(services, iid, "2026-12-05T04:00")
    # One process a slot: the same slot again does nothing.
    assert jobs.run_usergroups(services, iid, "2026-12-05T04:00") == "already claimed by another process"
    # `ci-slackbot schedule` lists what is followed, and how the last run went.
    listing = "\n".join(describe(services.settings, db, count=1, now=services.now()))
    assert f"usergroups: every 60 min: childrens-health ← {GROUP}" in listing
    assert "last run: slot 2026-12-05T04:00" in listing and "in step with @childrens-health" in listing
    db.dispose()


def test_a_vanished_group_keeps_the_members_and_backbone_staff_are_told_once(fresh_world: World) -> None:
    world, slack, db = fresh_world, fresh_world.slack, fresh_world.db()
    slack.add_usergroup(GROUP, HANDLE, [HOSPITAL, NEWCOMER])
    follow(db, GROUP)
    wait_for(lambda: members(db, "childrens-health") == {HOSPITAL, NEWCOMER}, timeout=15)
    services, iid = services_of(world), initiative_id(db)

    slack.remove_usergroup(GROUP)
    outcome = jobs.run_usergroups(services, iid, "2026-12-05T03:00")
    assert f"{GROUP} is gone, members kept" in outcome
    assert members(db, "childrens-health") == {HOSPITAL, NEWCOMER}
    told = wait_for(lambda: [m for m in slack.dms(BACKBONE) if GROUP in m["text"]], timeout=10)
    assert len(told) == 1 and "Children's Health" in text_of(told) and "gone" in text_of(told)
    assert [m for m in slack.dms("U0BACK0002") if GROUP in m["text"]]  # every backbone staff member
    # The next run says nothing new: once a day per group, not every hour.
    assert "is gone" in jobs.run_usergroups(services, iid, "2026-12-05T04:00")
    assert len([m for m in slack.dms(BACKBONE) if GROUP in m["text"]]) == 1
    # A disabled group is gone too (usergroups.list leaves it out).
    slack.add_usergroup(GROUP, HANDLE, [HOSPITAL])
    assert "members set to" in jobs.run_usergroups(services, iid, "2026-12-05T05:00")
    slack.disable_usergroup(GROUP)
    assert "is gone" in jobs.run_usergroups(services, iid, "2026-12-05T06:00")
    assert members(db, "childrens-health") == {HOSPITAL}
    # Found again after it came back, so a second loss is told again.
    assert len([m for m in slack.dms(BACKBONE) if GROUP in m["text"]]) == 2
    db.dispose()


def test_without_the_scope_or_on_a_free_plan_backbone_staff_are_told_what_to_do(fresh_world: World) -> None:
    world, slack, db = fresh_world, fresh_world.slack, fresh_world.db()
    slack.add_usergroup(GROUP, HANDLE, [NEWCOMER])
    slack.set_scopes([s for s in manifest_scopes() if s != "usergroups:read"])
    follow(db, GROUP)
    told = wait_for(lambda: [m for m in slack.dms(BACKBONE) if "usergroups:read" in text_of(m)], timeout=15)
    assert "Install the app again" in text_of(told)
    assert members(db, "childrens-health") == {HOSPITAL, LEAVER}
    slack.set_scopes(manifest_scopes())
    slack.set_usergroups_plan(False)
    outcome = jobs.run_usergroups(services_of(world), initiative_id(db), "2026-12-05T03:00")
    assert "plan_upgrade_required" in outcome
    assert wait_for(lambda: [m for m in slack.dms(BACKBONE) if "plan has no user groups" in text_of(m)], timeout=10)
    assert members(db, "childrens-health") == {HOSPITAL, LEAVER}
    db.dispose()


def test_an_older_read_of_the_group_that_commits_last_is_not_applied(database_url: str) -> None:
    """Two syncs overlap (the hourly run beside the one at once after a set-up change): each reads the
    group from Slack, then applies what it read. The one that read before a member joined committed
    last and took them out again, until the next run an hour later (and welcomed them twice)."""
    db = Database(database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            apply_initiative(session, parse_initiative(yaml.safe_load(EXAMPLE.read_text())))
        follow(db, GROUP)
        before_joining = datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC)
        after_joining = before_joining + timedelta(seconds=2)

        def apply(users: list[str], read_at: datetime) -> bool:
            with db.unit_of_work() as session:
                initiative = session.get_one(Initiative, initiative_id(db))
                report = follow_members(session, initiative, "childrens-health", GROUP, HANDLE, users, read_at=read_at)
                return report is not None

        assert apply([HOSPITAL, NEWCOMER], after_joining)  # the later read commits first
        assert not apply([HOSPITAL], before_joining)  # the earlier read, committed after it
        assert members(db, "childrens-health") == {HOSPITAL, NEWCOMER}
        # A read that found the members in step counts too: an older one after it is not applied either.
        later = after_joining + timedelta(hours=1)
        assert not apply([HOSPITAL, NEWCOMER], later)
        assert not apply([HOSPITAL], later - timedelta(seconds=1))
        assert members(db, "childrens-health") == {HOSPITAL, NEWCOMER}
        # A newer read is applied, as always.
        assert apply([HOSPITAL], later + timedelta(seconds=1))
        assert members(db, "childrens-health") == {HOSPITAL}
    finally:
        db.dispose()
