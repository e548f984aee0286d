"""The Slack stand-in, driven by the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from ci_slackbot.sandbox.slack import (
    MAX_BLOCKS_TOTAL,
    SlackStandIn,
    blocks_size,
    manifest_scopes,
    sdk_problems,
    validate_blocks,
    validate_view,
)
from integrations.slack.manifest import bot_scopes, load_manifest
from tests.paths import ROOT

TOKEN = "xoxb-sandbox"
ALICE = "U0ALICE01"


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def modal(title: str = "Report a value", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "report_value",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "value",
                "label": {"type": "plain_text", "text": "Value"},
                "element": {"type": "plain_text_input", "action_id": "input"},
            }
        ],
        **extra,
    }


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn()
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url)


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


# -- auth --------------------------------------------------------------------------------
def test_url_is_the_api_base(slack: SlackStandIn) -> None:
    assert slack.url.endswith("/api/")
    assert slack.url.startswith("http://127.0.0.1:")


def test_missing_token_is_not_authed(slack: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=slack.url).auth_test()
    assert api_error(excinfo) == "not_authed"
    assert excinfo.value.response.status_code == 200


def test_unknown_token_is_invalid_auth(slack: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token="xoxb-wrong", base_url=slack.url).chat_postMessage(channel="C0GENERAL", text="hi")
    assert api_error(excinfo) == "invalid_auth"
    assert slack.messages() == []


def test_auth_test_names_the_bot_and_reports_scopes(client: WebClient) -> None:
    response = client.auth_test()
    assert response["team_id"] == "T0SANDBOX"
    assert response["user_id"] == "U0CIBOT"
    assert response["bot_id"] == "B0CIBOT"
    assert response["url"] == "https://sandbox.slack.com/"
    scopes = response.headers["x-oauth-scopes"].split(",")
    assert "chat:write" in scopes and "users:read" in scopes


def test_missing_scope_is_refused_with_needed_and_provided(slack: SlackStandIn, client: WebClient) -> None:
    slack.set_scopes(["chat:write"])
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user=ALICE)
    assert api_error(excinfo) == "missing_scope"
    assert excinfo.value.response["needed"] == "users:read"
    assert excinfo.value.response["provided"] == "chat:write"
    assert client.auth_test().headers["x-oauth-scopes"] == "chat:write"


def test_token_in_form_body_is_accepted_but_not_in_json_body(slack: SlackStandIn) -> None:
    blocks = [section("*From a form*")]
    form = requests.post(
        slack.url + "chat.postMessage",
        data={"token": TOKEN, "channel": "C0FORMPOST1", "text": "fallback", "blocks": json.dumps(blocks)},
        timeout=5,
    )
    assert form.status_code == 200
    assert form.json()["ok"] is True
    assert slack.messages("C0FORMPOST1")[0]["blocks"][0]["text"]["text"] == "*From a form*"

    as_json = requests.post(
        slack.url + "chat.postMessage", json={"token": TOKEN, "channel": "C0FORMPOST1", "text": "x"}, timeout=5
    )
    assert as_json.json() == {"ok": False, "error": "not_authed"}


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.teleport")
    assert api_error(excinfo) == "unknown_method"


def test_extra_workspace_messages_carry_their_team(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_token("xoxb-other", "T0OTHER", team_name="Other Coalition")
    other = WebClient(token="xoxb-other", base_url=slack.url)
    assert other.auth_test()["team_id"] == "T0OTHER"
    client.chat_postMessage(channel="C0GENERAL", text="home team")
    other.chat_postMessage(channel="C0GENERAL", text="other team")
    assert [m["team"] for m in slack.messages("C0GENERAL")] == ["T0SANDBOX", "T0OTHER"]
    assert [m["text"] for m in slack.messages(team="T0OTHER")] == ["other team"]
    assert {c["team"] for c in slack.calls("chat.postMessage")} == {"T0SANDBOX", "T0OTHER"}


# -- messages ------------------------------------------------------------------------------
def test_post_message_returns_real_keys_and_is_stored(slack: SlackStandIn, client: WebClient) -> None:
    response = client.chat_postMessage(channel="C0GENERAL", text="Weekly digest", blocks=[section("*Digest*")])
    assert set(response.data) >= {"ok", "channel", "ts", "message"}
    assert response["channel"] == "C0GENERAL"
    assert response["message"]["ts"] == response["ts"]
    assert response["message"]["bot_id"] == "B0CIBOT"
    # Slack gives every stored block a block_id.
    assert response["message"]["blocks"][0]["block_id"]

    (stored,) = slack.messages("C0GENERAL")
    assert stored["ts"] == response["ts"]
    assert stored["text"] == "Weekly digest"
    assert stored["user"] == "U0CIBOT"
    assert stored["team"] == "T0SANDBOX"
    assert stored["blocks"][0]["text"]["text"] == "*Digest*"
    assert slack.calls("chat.postMessage")[0]["params"]["channel"] == "C0GENERAL"


def test_message_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    # Twenty channels: one channel takes about a message a second.
    stamps = [client.chat_postMessage(channel=f"C0STAMPS{i:02d}", text=str(i))["ts"] for i in range(20)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 20


def test_permalink_and_thread(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0GENERAL", text="parent")
    reply = client.chat_postMessage(channel="C0GENERAL", text="reply", thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]

    permalink = client.chat_getPermalink(channel="C0GENERAL", message_ts=parent["ts"])["permalink"]
    assert permalink == f"https://sandbox.slack.com/archives/C0GENERAL/p{parent['ts'].replace('.', '')}"
    reply_link = client.chat_getPermalink(channel="C0GENERAL", message_ts=reply["ts"])["permalink"]
    assert f"thread_ts={parent['ts']}" in reply_link

    stored_parent = slack.messages("C0GENERAL")[0]
    assert stored_parent["reply_count"] == 1
    assert stored_parent["latest_reply"] == reply["ts"]
    assert [m["text"] for m in slack.messages(thread_ts=parent["ts"])] == ["parent", "reply"]


def test_permalink_of_unknown_message(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_getPermalink(channel="C0GENERAL", message_ts="1700000000.000100")
    assert api_error(excinfo) == "message_not_found"


def test_dm_by_user_id_lands_in_a_stable_im(slack: SlackStandIn, client: WebClient) -> None:
    slack.set_scopes([*manifest_scopes(), "im:read"])  # conversations.info, below
    first = client.chat_postMessage(channel=ALICE, text="Your report is due")
    assert first["channel"].startswith("D")
    opened = client.conversations_open(users=ALICE)
    assert opened["channel"]["id"] == first["channel"]
    assert opened["already_open"] is True
    client.chat_postMessage(channel=opened["channel"]["id"], text="Second")
    assert [m["text"] for m in slack.dms(ALICE)] == ["Your report is due", "Second"]
    assert slack.dms("U0SOMEONE") == []
    info = client.conversations_info(channel=first["channel"])["channel"]
    assert info["is_im"] is True and info["user"] == ALICE


def test_unknown_dm_channel_is_not_found(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="D0NEVEROPENED", text="hi")
    assert api_error(excinfo) == "channel_not_found"


def test_message_needs_text_or_blocks(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"channel": "C0GENERAL"})
    assert api_error(excinfo) == "no_text"


def test_archived_and_not_member_channels(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_channel("C0ARCHIVED1", "old", is_archived=True)
    slack.add_channel("C0OUTSIDE1", "outside", is_member=False)
    with pytest.raises(SlackApiError) as archived:
        client.chat_postMessage(channel="C0ARCHIVED1", text="hi")
    with pytest.raises(SlackApiError) as outside:
        client.chat_postMessage(channel="C0OUTSIDE1", text="hi")
    assert api_error(archived) == "is_archived"
    assert api_error(outside) == "not_in_channel"


def test_update_keeps_blocks_and_delete_removes(slack: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="v1", blocks=[section("one")])
    updated = client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="v2")
    assert set(updated.data) >= {"channel", "ts", "text", "message"}
    (stored,) = slack.messages("C0GENERAL")
    assert stored["text"] == "v2"
    assert stored["blocks"][0]["text"]["text"] == "one"
    assert "edited" in stored

    client.chat_delete(channel="C0GENERAL", ts=posted["ts"])
    assert slack.messages("C0GENERAL") == []
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="v3")
    assert api_error(excinfo) == "message_not_found"


def test_ephemeral_needs_a_user(slack: SlackStandIn, client: WebClient) -> None:
    response = client.chat_postEphemeral(channel="C0GENERAL", user=ALICE, text="only you")
    assert response["message_ts"]
    (ephemeral,) = slack.ephemerals(ALICE)
    assert ephemeral["text"] == "only you" and ephemeral["channel"] == "C0GENERAL"
    assert slack.messages() == []
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postEphemeral", json={"channel": "C0GENERAL", "text": "x"})
    assert api_error(excinfo) == "invalid_arguments"


def test_users_and_team_info(slack: SlackStandIn, client: WebClient) -> None:
    slack.set_scopes([*manifest_scopes(), "team:read"])  # the app itself never asks team.info
    user = client.users_info(user=ALICE)["user"]
    assert user["id"] == ALICE
    assert user["team_id"] == "T0SANDBOX"
    assert user["tz"] == "America/Chicago"
    assert set(user["profile"]) >= {"display_name", "real_name"}
    assert user["name"] and user["real_name"]
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="not-a-user")
    assert api_error(excinfo) == "user_not_found"

    team = client.team_info()["team"]
    assert team["id"] == "T0SANDBOX" and team["domain"] == "sandbox"


def test_added_user_is_returned(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_user(ALICE, real_name="Alice Nurse", display_name="alice", tz="America/New_York")
    user = client.users_info(user=ALICE)["user"]
    assert user["real_name"] == "Alice Nurse"
    assert user["profile"]["display_name"] == "alice"
    assert user["tz"] == "America/New_York"


def test_a_bot_user_cannot_be_sent_a_direct_message(slack: SlackStandIn, client: WebClient) -> None:
    """As Slack answers a bot token (HubSpot/slack-client#90): no DM between two bots, the app's own included."""
    slack.add_user("U0WORKFLOW", real_name="Workflow Bot", is_bot=True)
    for call in (
        lambda: client.conversations_open(users="U0WORKFLOW"),
        lambda: client.chat_postMessage(channel="U0WORKFLOW", text="Your report is due"),
    ):
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert api_error(excinfo) == "cannot_dm_bot"
    assert client.chat_postMessage(channel=ALICE, text="Your report is due")["ok"]


# -- Block Kit validation -----------------------------------------------------------------
def _picker(element: dict[str, Any]) -> dict[str, Any]:
    return {"type": "input", "label": {"type": "plain_text", "text": "Pick"}, "element": {**element, "action_id": "p"}}


def test_good_pickers_pass() -> None:
    blocks = [
        _picker({"type": "multi_users_select", "initial_users": ["U0OK00001", "W0OK00002"], "max_selected_items": 5}),
        _picker({"type": "users_select", "initial_user": "U0OK00001"}),
        _picker(
            {
                "type": "conversations_select",
                "initial_conversation": "C0GENERAL1",
                "filter": {"include": ["public", "private"], "exclude_bot_users": True},
            }
        ),
    ]
    for index, block in enumerate(blocks):
        block["block_id"] = f"b{index}"
    assert validate_blocks(blocks, surface="modal") == []


def test_owners_and_admins_are_told_apart_by_users_info(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_user("U0OWNER001", is_primary_owner=True)
    slack.add_user("U0ADMIN001", is_admin=True)
    owner = client.users_info(user="U0OWNER001")["user"]
    admin = client.users_info(user="U0ADMIN001")["user"]
    assert (owner["is_owner"], owner["is_primary_owner"]) == (True, True)
    assert (admin["is_admin"], admin["is_owner"]) == (True, False)


def test_51_blocks_are_refused(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[{"type": "divider"}] * 51)
    assert api_error(excinfo) == "invalid_blocks"
    assert any("[json-pointer:/blocks]" in e and "50" in e for e in excinfo.value.response["errors"])
    assert slack.messages() == []
    client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[{"type": "divider"}] * 50)
    assert len(slack.messages()) == 1


def test_section_text_over_3000_is_refused(client: WebClient) -> None:
    client.chat_postMessage(channel="C0GENERAL", text="ok", blocks=[section("a" * 3000)])
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[section("a" * 3001)])
    assert api_error(excinfo) == "invalid_blocks"
    assert excinfo.value.response["errors"] == ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]


def test_blocks_are_validated_on_update_and_ephemeral_too(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="v1")
    with pytest.raises(SlackApiError) as on_update:
        client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="v2", blocks=[{"type": "carousel"}])
    with pytest.raises(SlackApiError) as on_ephemeral:
        client.chat_postEphemeral(channel="C0GENERAL", user=ALICE, text="x", blocks=[section("")])
    assert api_error(on_update) == "invalid_blocks"
    assert api_error(on_ephemeral) == "invalid_blocks"


def test_message_text_over_40000_is_too_long(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0GENERAL", text="a" * 40_001)
    assert api_error(excinfo) == "msg_too_long"


def test_validate_blocks_accepts_good_blocks() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Dashboard"}},
        section("*Kindergarten readiness*", fields=[{"type": "mrkdwn", "text": "62%"}] * 10),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "as of May"}]},
        {"type": "divider"},
        {
            "type": "actions",
            "block_id": "report",
            "elements": [
                {"type": "button", "action_id": "report", "text": {"type": "plain_text", "text": "Report"}},
                {
                    "type": "static_select",
                    "action_id": "pick",
                    "placeholder": {"type": "plain_text", "text": "Pick"},
                    "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}],
                },
            ],
        },
        {"type": "image", "image_url": "https://example.org/chart.png", "alt_text": "chart"},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": []}]},
        {"type": "markdown", "text": "**bold**"},
    ]
    assert validate_blocks(blocks, surface="message") == []


@pytest.mark.parametrize(
    ("blocks", "surface", "pointer"),
    [
        ([{"type": "carousel"}], "message", "/blocks/0/type"),
        ([section("x", block_id="a"), section("y", block_id="a")], "message", "/blocks/1/block_id"),
        ([section("x", block_id="b" * 256)], "message", "/blocks/0/block_id"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "message", "/blocks/0/fields"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "message",
            "/blocks/0/fields/0/text",
        ),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "message", "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "message", "/blocks/0/text/type"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "message", "/blocks/0/elements"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": f"a{i}"}
                        for i in range(26)
                    ],
                }
            ],
            "message",
            "/blocks/0/elements",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "a"}
                    ],
                }
            ],
            "message",
            "/blocks/0/elements/0/text/text",
        ),
        ([{"type": "section", "text": {"type": "html", "text": "x"}}], "message", "/blocks/0/text/type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "message", "/blocks/0/text/text"),
        ([{"type": "input", "label": {"type": "plain_text", "text": "L"}}], "modal", "/blocks/0/element"),
        ([{"type": "input", "element": {"type": "plain_text_input"}}], "modal", "/blocks/0/label"),
        ([{"type": "divider"}] * 101, "modal", "/blocks"),
        ([{"type": "markdown", "text": "x"}], "home", "/blocks/0/type"),
        (
            [_picker({"type": "multi_users_select", "initial_users": ["U0OK00001", "not-a-user"]})],
            "modal",
            "/blocks/0/element/initial_users/1",
        ),
        ([_picker({"type": "users_select", "initial_user": "C0CHANNEL1"})], "modal", "/blocks/0/element/initial_user"),
        (
            [_picker({"type": "multi_users_select", "max_selected_items": 0})],
            "modal",
            "/blocks/0/element/max_selected_items",
        ),
        (
            [_picker({"type": "conversations_select", "filter": {"include": ["channels"]}})],
            "modal",
            "/blocks/0/element/filter/include",
        ),
        ([_picker({"type": "conversations_select", "filter": {}})], "modal", "/blocks/0/element/filter"),
        (
            [_picker({"type": "conversations_select", "initial_conversation": "general"})],
            "modal",
            "/blocks/0/element/initial_conversation",
        ),
    ],
)
def test_validate_blocks_names_the_problem(blocks: list[Any], surface: str, pointer: str) -> None:
    problems = validate_blocks(blocks, surface=surface)
    assert problems, "expected a problem"
    assert any(p.endswith(f"[json-pointer:{pointer}]") for p in problems), problems


def test_100_blocks_fit_a_modal_but_not_a_message() -> None:
    blocks = [{"type": "divider"}] * 100
    assert validate_blocks(blocks, surface="modal") == []
    assert validate_blocks(blocks, surface="home") == []
    assert validate_blocks(blocks, surface="message") != []


def test_validate_view_limits() -> None:
    assert validate_view(modal()) == []
    assert validate_view(modal(title="t" * 25))
    assert validate_view(modal(private_metadata="m" * 3001))
    assert validate_view(modal(callback_id="c" * 256))
    assert validate_view(modal(submit={"type": "plain_text", "text": "s" * 25}))
    assert validate_view(modal(close={"type": "plain_text", "text": "s" * 25}))
    no_submit = modal()
    del no_submit["submit"]
    assert validate_view(no_submit)
    assert validate_view({"type": "workflow", "blocks": []})


# -- views and triggers -------------------------------------------------------------------
def test_views_open_records_the_modal(slack: SlackStandIn, client: WebClient) -> None:
    trigger = slack.new_trigger_id(ALICE)
    response = client.views_open(trigger_id=trigger, view=modal(private_metadata="ind-7"))
    view = response["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "report_value"
    assert view["root_view_id"] == view["id"]
    assert view["state"] == {"values": {}}
    (record,) = slack.views(ALICE)
    assert record["method"] == "views.open"
    assert record["view_id"] == view["id"]
    assert record["trigger_id"] == trigger
    assert record["callback_id"] == "report_value"
    assert record["private_metadata"] == "ind-7"
    assert slack.view_stack(ALICE)[0]["id"] == view["id"]


def test_trigger_rules(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.views_open(trigger_id="123.456.abc", view=modal())
    assert api_error(unknown) == "invalid_trigger_id"

    old = slack.new_trigger_id(ALICE, issued_at=time.time() - 3.5)
    with pytest.raises(SlackApiError) as expired:
        client.views_open(trigger_id=old, view=modal())
    assert api_error(expired) == "expired_trigger_id"

    fresh = slack.new_trigger_id(ALICE)
    client.views_open(trigger_id=fresh, view=modal())
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id=fresh, view=modal())
    assert api_error(reused) == "exchanged_trigger_id"
    assert len(slack.views(ALICE)) == 1


def test_trigger_just_inside_three_seconds_works(slack: SlackStandIn, client: WebClient) -> None:
    trigger = slack.new_trigger_id(ALICE, issued_at=time.time() - 2.5)
    assert client.views_open(trigger_id=trigger, view=modal())["ok"] is True


def test_long_modal_title_is_invalid_arguments(slack: SlackStandIn, client: WebClient) -> None:
    trigger = slack.new_trigger_id(ALICE)
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id=trigger, view=modal(title="A title much longer than 24"))
    assert api_error(excinfo) == "invalid_arguments"
    messages = excinfo.value.response["response_metadata"]["messages"]
    assert messages == ["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]
    assert slack.views() == []
    # A refused view does not use the trigger up.
    assert client.views_open(trigger_id=trigger, view=modal())["ok"] is True


def test_push_and_update(slack: SlackStandIn, client: WebClient) -> None:
    root = client.views_open(trigger_id=slack.new_trigger_id(ALICE), view=modal())["view"]
    pushed = client.views_push(trigger_id=slack.new_trigger_id(ALICE), view=modal(title="Step 2"))["view"]
    assert pushed["previous_view_id"] == root["id"]
    assert pushed["root_view_id"] == root["id"]
    client.views_push(trigger_id=slack.new_trigger_id(ALICE), view=modal(title="Step 3"))
    with pytest.raises(SlackApiError) as excinfo:
        client.views_push(trigger_id=slack.new_trigger_id(ALICE), view=modal(title="Step 4"))
    assert api_error(excinfo) == "push_limit_reached"

    updated = client.views_update(view_id=root["id"], hash=root["hash"], view=modal(title="Saved"))["view"]
    assert updated["id"] == root["id"]
    assert updated["title"]["text"] == "Saved"
    assert updated["hash"] != root["hash"] or updated["title"] != root["title"]
    with pytest.raises(SlackApiError) as conflict:
        client.views_update(view_id=root["id"], hash="1.stale", view=modal())
    assert api_error(conflict) == "hash_conflict"
    with pytest.raises(SlackApiError) as missing:
        client.views_update(view_id="V404", view=modal())
    assert api_error(missing) == "not_found"
    assert [v["method"] for v in slack.views(ALICE)] == ["views.open", "views.push", "views.push", "views.update"]
    assert slack.view(root["id"])["title"]["text"] == "Saved"  # type: ignore[index]


def test_a_submission_answer_closes_updates_or_keeps_the_view_as_slack_does(
    slack: SlackStandIn, client: WebClient
) -> None:
    root = client.views_open(trigger_id=slack.new_trigger_id(ALICE), view=modal())["view"]
    first = client.views_push(trigger_id=slack.new_trigger_id(ALICE), view=modal(title="Step 2"))["view"]
    # Field errors keep the stack; an empty answer closes the pushed view only, so another may be pushed.
    slack.submission_answered(ALICE, first["id"], {"response_action": "errors", "errors": {"value": "no"}})
    assert [v["id"] for v in slack.view_stack(ALICE)] == [root["id"], first["id"]]
    slack.submission_answered(ALICE, first["id"], {})
    assert [v["id"] for v in slack.view_stack(ALICE)] == [root["id"]]
    second = client.views_push(trigger_id=slack.new_trigger_id(ALICE), view=modal(title="Step 2 again"))["view"]
    client.views_push(trigger_id=slack.new_trigger_id(ALICE), view=modal(title="Step 3"))
    # `update` replaces the submitted view in place: same id, and views.update may follow on it.
    slack.submission_answered(ALICE, second["id"], {"response_action": "update", "view": modal(title="Saved")})
    assert slack.view(second["id"])["title"]["text"] == "Saved"  # type: ignore[index]
    assert client.views_update(view_id=second["id"], view=modal(title="Checked"))["ok"] is True
    with pytest.raises(ValueError, match="invalid"):
        slack.submission_answered(ALICE, second["id"], {"response_action": "update", "view": modal(title="x" * 30)})
    slack.submission_answered(ALICE, second["id"], {"response_action": "clear"})
    assert slack.view_stack(ALICE) == []


def test_a_private_channel_the_app_is_not_in_is_not_found(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_channel("G0SECRET001", "secret", is_private=True, is_member=False)
    slack.add_channel("C0OUTSIDE01", "outside", is_member=False)
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_info(channel="G0SECRET001")
    assert api_error(excinfo) == "channel_not_found"
    assert client.conversations_info(channel="C0OUTSIDE01")["channel"]["is_member"] is False
    # groups:read alone reads private channels, never public ones.
    slack.set_scopes(["groups:read", "chat:write"])
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_info(channel="C0OUTSIDE01")
    assert api_error(excinfo) == "missing_scope" and excinfo.value.response["needed"] == "channels:read"


def test_views_publish_sets_home(slack: SlackStandIn, client: WebClient) -> None:
    assert slack.home(ALICE) is None
    home = {"type": "home", "blocks": [section("Your indicators")]}
    first = client.views_publish(user_id=ALICE, view=home)["view"]
    assert first["type"] == "home"
    second = client.views_publish(user_id=ALICE, view={"type": "home", "blocks": [section("Updated")]})["view"]
    assert second["id"] == first["id"]
    published = slack.home(ALICE)
    assert published is not None
    assert published["blocks"][0]["text"]["text"] == "Updated"

    with pytest.raises(SlackApiError) as too_many:
        client.views_publish(user_id=ALICE, view={"type": "home", "blocks": [{"type": "divider"}] * 101})
    assert api_error(too_many) == "invalid_arguments"
    with pytest.raises(SlackApiError) as wrong_type:
        client.views_publish(user_id=ALICE, view=modal())
    assert api_error(wrong_type) == "invalid_arguments"


# -- files ----------------------------------------------------------------------------------
def test_files_upload_v2_into_a_channel(slack: SlackStandIn, client: WebClient) -> None:
    response = client.files_upload_v2(
        channel="C0GENERAL",
        content=b"indicator,value\nreadiness,62\n",
        filename="digest.csv",
        title="Digest",
        initial_comment="This week's numbers",
    )
    file_id = response["file"]["id"]
    assert response["file"]["title"] == "Digest"

    (stored,) = slack.files()
    assert stored["content"] == b"indicator,value\nreadiness,62\n"
    assert stored["channels"] == ["C0GENERAL"]
    (message,) = slack.messages("C0GENERAL")
    assert message["text"] == "This week's numbers"
    assert message["files"][0]["id"] == file_id

    info = client.files_info(file=file_id)["file"]
    assert info["name"] == "digest.csv"
    assert info["size"] == len(stored["content"])
    assert "C0GENERAL" in info["channels"]
    download = requests.get(info["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert download.content == stored["content"]


def test_files_upload_v2_without_a_channel_stays_private(slack: SlackStandIn, client: WebClient) -> None:
    response = client.files_upload_v2(content="private notes", filename="notes.txt")
    assert response["file"]["channels"] == []
    assert slack.messages() == []
    assert slack.files()[0]["content"] == b"private notes"
    assert client.files_info(file=response["file"]["id"])["file"]["filetype"] == "text"


def test_complete_upload_without_bytes_fails(client: WebClient) -> None:
    ticket = client.files_getUploadURLExternal(filename="x.txt", length=3)
    assert ticket["upload_url"].endswith(ticket["file_id"])
    with pytest.raises(SlackApiError):
        client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])
    with pytest.raises(SlackApiError) as excinfo:
        client.files_info(file=ticket["file_id"])
    assert api_error(excinfo) == "file_not_found"


# -- response_url -----------------------------------------------------------------------------
def test_response_url_posts_are_validated_and_recorded(slack: SlackStandIn) -> None:
    url = slack.response_url("cmd-1")
    assert url.startswith(slack.origin + "/")
    ok = requests.post(url, json={"text": "Saved", "blocks": [section("*Saved*")]}, timeout=5)
    assert ok.status_code == 200
    assert ok.json() == {"ok": True}
    bad = requests.post(url, json={"text": "x", "blocks": [{"type": "divider"}] * 51}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_blocks"
    (recorded,) = slack.responses("cmd-1")
    assert recorded["key"] == "cmd-1"
    assert recorded["text"] == "Saved"
    assert recorded["response_type"] == "ephemeral"
    assert slack.responses("other") == []


def test_response_url_allows_five_uses_then_used_url(slack: SlackStandIn) -> None:
    url = slack.response_url("five")
    statuses = [requests.post(url, json={"text": f"#{i}"}, timeout=5).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    sixth = requests.post(url, json={"text": "again"}, timeout=5)
    assert sixth.json() == {"ok": False, "error": "used_url"}
    assert len(slack.responses("five")) == 5


def test_response_url_expires_after_thirty_minutes(slack: SlackStandIn) -> None:
    url = slack.response_url("old", issued_at=time.time() - 31 * 60)
    response = requests.post(url, json={"text": "late"}, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"] == "expired_url"
    unknown = requests.post(slack.origin + "/_response/never-issued", json={"text": "x"}, timeout=5)
    assert unknown.status_code == 404


def test_response_url_replace_and_in_channel_act_on_the_bound_message(slack: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="Approve?", blocks=[section("Approve?")])
    url = slack.response_url(channel="C0GENERAL", message_ts=posted["ts"], user=ALICE)
    requests.post(url, json={"replace_original": True, "text": "Approved"}, timeout=5).raise_for_status()
    (message,) = slack.messages("C0GENERAL")
    assert message["text"] == "Approved"
    requests.post(url, json={"response_type": "in_channel", "text": "Everyone: approved"}, timeout=5)
    assert [m["text"] for m in slack.messages("C0GENERAL")] == ["Approved", "Everyone: approved"]
    requests.post(url, json={"delete_original": True}, timeout=5).raise_for_status()
    assert [m["text"] for m in slack.messages("C0GENERAL")] == ["Everyone: approved"]


# -- rate limits and faults ---------------------------------------------------------------------
def test_throttle_next_gives_429_with_retry_after(slack: SlackStandIn, client: WebClient) -> None:
    slack.faults.throttle_next(1, retry_after=1)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0GENERAL", text="hi")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "1"
    assert api_error(excinfo) == "ratelimited"
    assert slack.messages() == []


def test_rate_limit_retry_handler_succeeds_after_waiting(slack: SlackStandIn) -> None:
    # The real wait (Retry-After: 1) is the point of this test.
    client = WebClient(token=TOKEN, base_url=slack.url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack.faults.throttle_next(1, retry_after=1)
    started = time.monotonic()
    response = client.chat_postMessage(channel="C0GENERAL", text="eventually")
    assert response["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert [c["status"] for c in slack.calls("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in slack.messages()] == ["eventually"]


def test_outage_gives_503(slack: SlackStandIn, client: WebClient) -> None:
    slack.faults.outage(503)
    with pytest.raises(SlackApiError) as excinfo:
        client.auth_test()
    assert excinfo.value.response.status_code == 503
    slack.faults.restore()
    assert client.auth_test()["ok"] is True


def test_server_error_retry_handler_recovers_from_one_500(slack: SlackStandIn) -> None:
    slack.faults.fail_next(1, status=500)
    bare = WebClient(token=TOKEN, base_url=slack.url)
    with pytest.raises(SlackApiError) as excinfo:
        bare.auth_test()
    assert excinfo.value.response.status_code == 500
    assert api_error(excinfo) == "internal_error"

    slack.faults.fail_next(1, status=500)
    handler = ServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(fixed_internal=0.01)
    )
    retrying = WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[handler])
    assert retrying.auth_test()["ok"] is True


def test_posts_to_one_channel_are_paced_at_about_one_a_second_with_a_short_burst(client: WebClient) -> None:
    """docs.slack.dev/apis/web-api/rate-limits: "Posting messages: 1 per second [per channel]. Short bursts >1
    allowed." Always so, whatever `strict_rate_limits` says."""
    outcomes = []
    for i in range(6):
        try:
            client.chat_postMessage(channel="C0BUSYCHAN1", text=str(i))
            outcomes.append(200)
        except SlackApiError as error:
            outcomes.append(error.response.status_code)
            assert int(error.response.headers["Retry-After"]) >= 1
    assert outcomes[:3] == [200, 200, 200]
    assert 429 in outcomes[3:]
    # Another channel has its own bucket; a DM by user id shares its conversation's.
    assert client.chat_postMessage(channel="C0QUIETCHA1", text="fine")["ok"] is True
    for _ in range(3):
        client.chat_postMessage(channel=ALICE, text="due")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=client.conversations_open(users=ALICE)["channel"]["id"], text="more")
    assert excinfo.value.response.status_code == 429
    # A second later the channel takes another.
    time.sleep(1.05)
    assert client.chat_postMessage(channel="C0BUSYCHAN1", text="later")["ok"] is True


def test_tiers_are_lenient_unless_strict(slack: SlackStandIn, client: WebClient) -> None:
    for i in range(60):
        client.chat_postMessage(channel=f"C0CHANNEL{i:02d}", text=str(i))
    for _ in range(60):
        client.users_info(user=ALICE)
    assert all(c["ok"] for c in slack.calls())


def test_only_the_manifests_scopes_are_granted(client: WebClient) -> None:
    granted = client.auth_test().headers["x-oauth-scopes"].split(",")
    assert granted == manifest_scopes() == bot_scopes(load_manifest(ROOT / "manifest.yml"))
    with pytest.raises(SlackApiError) as excinfo:
        client.team_info()
    assert api_error(excinfo) == "missing_scope"
    assert excinfo.value.response["needed"] == "team:read"
    assert excinfo.value.response["provided"] == ",".join(granted)


def test_a_channel_must_be_a_conversation_id(slack: SlackStandIn, client: WebClient) -> None:
    """`^[CGDZ][A-Z0-9]{8,}$` (slackapi/python-slack-sdk#1426); chat.postMessage also takes a user id (the DM)."""
    for channel in ("general", "#general", "C0SHORT", "c0general1", "X0GENERAL1"):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=channel, text="hi")
        assert api_error(excinfo) == "channel_not_found", channel
    assert client.chat_postMessage(channel="Z0SOMETHING", text="hi")["ok"] is True
    assert client.chat_postMessage(channel=ALICE, text="hi")["channel"] == f"D{ALICE}"
    with pytest.raises(ValueError):
        slack.add_channel("C0SHORT")


# -- inspection helpers -------------------------------------------------------------------------
def test_wait_for_returns_once_the_message_arrives(slack: SlackStandIn, client: WebClient) -> None:
    poster = threading.Timer(0.05, lambda: client.chat_postMessage(channel="C0LATERCH1", text="late"))
    poster.start()
    try:
        found = slack.wait_for(lambda: slack.messages("C0LATERCH1"), timeout=5)
    finally:
        poster.join()
    assert found[0]["text"] == "late"


def test_wait_for_times_out(slack: SlackStandIn) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        slack.wait_for(lambda: slack.messages("C0NEVERCH1"), timeout=0.2)
    assert time.monotonic() - started < 2


def test_inspection_returns_copies(slack: SlackStandIn, client: WebClient) -> None:
    client.chat_postMessage(channel="C0GENERAL", text="original")
    slack.messages()[0]["text"] = "tampered"
    assert slack.messages()[0]["text"] == "original"


def test_reset_clears_recorded_state(slack: SlackStandIn, client: WebClient) -> None:
    client.chat_postMessage(channel="C0GENERAL", text="x")
    slack.faults.throttle_next(5)
    slack.reset()
    assert slack.messages() == [] and slack.calls() == []
    assert client.auth_test()["ok"] is True


def test_concurrent_posts_are_all_kept(slack: SlackStandIn) -> None:
    def post(n: int) -> None:
        WebClient(token=TOKEN, base_url=slack.url).chat_postMessage(channel=f"C0PARALLEL{n:02d}", text=str(n))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = slack.messages()
    assert sorted(int(m["text"]) for m in messages) == list(range(40))
    assert len({m["ts"] for m in messages}) == 40


# -- whole-message size, initial options, slack_sdk models ------------------------------------------
def _sections_of(total: int) -> list[dict[str, Any]]:
    """Sections each within their own 3,000-character limit whose blocks JSON comes to about `total`."""
    blocks = []
    while blocks_size(blocks) < total:
        blocks.append(section("a" * 2900))
    return blocks


def test_a_message_over_the_total_block_text_limit_is_refused_everywhere(
    slack: SlackStandIn, client: WebClient
) -> None:
    too_long = _sections_of(MAX_BLOCKS_TOTAL + 1)
    assert validate_blocks(too_long, surface="message") == []  # every block is fine on its own
    posted = client.chat_postMessage(channel="C0GENERAL", text="v1")
    calls = {
        "chat.postMessage": lambda: client.chat_postMessage(channel="C0GENERAL", text="x", blocks=too_long),
        "chat.postEphemeral": lambda: client.chat_postEphemeral(
            channel="C0GENERAL", user=ALICE, text="x", blocks=too_long
        ),
        "chat.update": lambda: client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="x", blocks=too_long),
    }
    for method, call in calls.items():
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert api_error(excinfo) == "msg_blocks_too_long", method
    answer = requests.post(slack.response_url("big"), json={"text": "x", "blocks": too_long}, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"] == "msg_blocks_too_long"
    assert [m["text"] for m in slack.messages()] == ["v1"] and slack.ephemerals() == []


def test_the_total_counts_the_blocks_json_not_only_their_text(client: WebClient) -> None:
    # 10,500 characters of text, but in many small blocks: their containers take it over 12,000.
    blocks = [section("b" * 100) for _ in range(45)] + [section("c" * 3000), section("d" * 3000)]
    assert sum(len(b["text"]["text"]) for b in blocks) < MAX_BLOCKS_TOTAL < blocks_size(blocks)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks)
    assert api_error(excinfo) == "msg_blocks_too_long"
    just_in = _sections_of(MAX_BLOCKS_TOTAL - 3000)
    assert blocks_size(just_in) <= MAX_BLOCKS_TOTAL
    client.chat_postMessage(channel="C0GENERAL", text="x", blocks=just_in)


def _option(text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": text}


def test_an_initial_option_must_be_one_of_the_options(slack: SlackStandIn, client: WebClient) -> None:
    select = {"type": "static_select", "action_id": "pick", "options": [_option("a"), _option("b")]}
    good = [section("Pick", accessory={**select, "initial_option": _option("b")})]
    bad = [section("Pick", accessory={**select, "initial_option": _option("z")})]
    assert validate_blocks(good, surface="message") == []
    assert validate_blocks(bad, surface="message") == [
        "must exactly match one of the options [json-pointer:/blocks/0/accessory/initial_option]"
    ]
    client.chat_postMessage(channel="C0GENERAL", text="x", blocks=good)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0GENERAL", text="x", blocks=bad)
    assert api_error(excinfo) == "invalid_blocks"
    form = modal()
    form["blocks"].append(
        {
            "type": "input",
            "block_id": "which",
            "label": {"type": "plain_text", "text": "Which"},
            "element": {**select, "initial_option": _option("z")},
        }
    )
    with pytest.raises(SlackApiError) as on_view:
        client.views_open(trigger_id=slack.new_trigger_id(ALICE), view=form)
    assert api_error(on_view) == "invalid_arguments"
    # An external select's options come later, from the app: any initial option is its own to give.
    external = {"type": "external_select", "action_id": "pick", "initial_option": _option("z")}
    assert validate_blocks([section("Pick", accessory=external)], surface="message") == []


def test_slack_sdk_models_check_the_blocks_too() -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert sdk_problems([section("ok"), header]) == [
        "text attribute cannot exceed 150 characters [json-pointer:/blocks/1]"
    ]
    assert sdk_problems([section("ok"), {"type": "divider"}]) == []


def test_a_file_shared_in_a_public_channel_is_visible_in_its_own_workspace_only() -> None:
    from ci_slackbot.sandbox.slack import _File, file_visible_to

    upload = _File("F0CHART001", "T0DALLAS01", "U0BOT00001", "c.png", 10, 0, completed=True)
    upload.shares["C0PUBLIC01"] = ["1.0"]
    public = {("T0DALLAS01", "C0PUBLIC01")}
    assert file_visible_to(upload, "C0OTHER001", None, public)
    moved = _File("F0CHART002", "T0FWORTH01", "U0BOT00001", "c.png", 10, 0, completed=True)
    moved.shares["C0PUBLIC01"] = ["1.0"]  # the same channel id, in another workspace: not a share there
    assert not file_visible_to(moved, "C0OTHER001", None, public)


# -- user groups ---------------------------------------------------------------------------
def test_usergroups_list_gives_enabled_groups_with_their_handles(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_usergroup("S0CHLD0001", "childrens-health", [ALICE, "U0BOB0001"], name="Children's Health")
    slack.add_usergroup("S0OLD00001", "old-group", [ALICE])
    slack.disable_usergroup("S0OLD00001")
    slack.add_usergroup("S0OTHER001", "elsewhere", [ALICE], team_id="T0OTHER001")  # another workspace's
    (group,) = client.usergroups_list()["usergroups"]
    assert (group["id"], group["handle"], group["name"], group["team_id"]) == (
        "S0CHLD0001",
        "childrens-health",
        "Children's Health",
        "T0SANDBOX",
    )
    assert group["is_usergroup"] is True and group["date_delete"] == 0
    assert "users" not in group and "user_count" not in group  # only when asked for
    full = client.usergroups_list(include_users=True, include_count=True, include_disabled=True)["usergroups"]
    by_id = {g["id"]: g for g in full}
    assert set(by_id) == {"S0CHLD0001", "S0OLD00001"}
    assert by_id["S0CHLD0001"]["users"] == [ALICE, "U0BOB0001"] and by_id["S0CHLD0001"]["user_count"] == "2"
    assert by_id["S0OLD00001"]["date_delete"] > 0
    # No paging: no cursor in the answer, whatever is asked.
    assert "response_metadata" not in client.usergroups_list(cursor="abc").data


def test_usergroups_users_list_and_its_errors(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_usergroup("S0CHLD0001", "childrens-health", [ALICE])
    assert client.usergroups_users_list(usergroup="S0CHLD0001")["users"] == [ALICE]
    slack.set_usergroup_users("S0CHLD0001", [ALICE, "W0GRID0001"])
    assert client.usergroups_users_list(usergroup="S0CHLD0001")["users"] == [ALICE, "W0GRID0001"]
    with pytest.raises(SlackApiError) as unknown:
        client.usergroups_users_list(usergroup="S0NOSUCH01")
    assert api_error(unknown) == "no_such_subteam"
    with pytest.raises(SlackApiError) as missing:
        client.api_call("usergroups.users.list", params={})
    assert api_error(missing) == "invalid_arguments"
    # It takes no JSON body: the group named there is not read.
    with pytest.raises(SlackApiError) as as_json:
        client.api_call("usergroups.users.list", json={"usergroup": "S0CHLD0001"})
    assert api_error(as_json) == "invalid_arguments"
    slack.disable_usergroup("S0CHLD0001")
    with pytest.raises(SlackApiError) as disabled:
        client.usergroups_users_list(usergroup="S0CHLD0001")
    assert api_error(disabled) == "no_such_subteam"
    assert client.usergroups_users_list(usergroup="S0CHLD0001", include_disabled=True)["users"] == [ALICE, "W0GRID0001"]
    slack.remove_usergroup("S0CHLD0001")
    with pytest.raises(SlackApiError) as gone:
        client.usergroups_users_list(usergroup="S0CHLD0001", include_disabled=True)
    assert api_error(gone) == "no_such_subteam"


def test_usergroups_need_their_scope_and_a_paid_plan(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_usergroup("S0CHLD0001", "childrens-health", [ALICE])
    slack.set_usergroups_plan(False)
    for call in (client.usergroups_list, lambda: client.usergroups_users_list(usergroup="S0CHLD0001")):
        with pytest.raises(SlackApiError) as free:
            call()
        assert api_error(free) == "plan_upgrade_required"
    slack.set_scopes(["chat:write", "users:read"])
    with pytest.raises(SlackApiError) as refused:
        client.usergroups_list()
    assert api_error(refused) == "missing_scope" and refused.value.response["needed"] == "usergroups:read"
