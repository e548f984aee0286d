"""manifest.yml stays in step with the code.

The command, the shortcuts and the events in the manifest are exactly those
the app listens to, and its bot scopes are exactly those needed by the Web API
methods the code calls: a method added without its scope fails here (not in a
workspace), and a scope left behind after its last caller went fails too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from commands import build_router
from integrations.slack.manifest import bot_scopes, load_manifest
from tests.paths import ROOT

MANIFEST = ROOT / "manifest.yml"
PRODUCTION = [ROOT / "ci_slackbot", ROOT / "commands", ROOT / "integrations"]
NOT_PRODUCTION = {ROOT / "ci_slackbot" / "sandbox"}  # the stand-ins implement Slack; they do not call it

# The bot scopes each Web API method needs, from its page on docs.slack.dev ("Required scopes"):
# any one of them is enough. () means no scope: auth.test, chat.getPermalink and the views.* methods
# (those are allowed by the trigger_id or the user's App Home). A method the code starts to call must
# be added here, with the scopes from its docs page.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.scheduleMessage": ("chat:write",),
    "chat.getPermalink": (),
    "conversations.open": ("im:write", "mpim:write"),
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.members": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.history": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.replies": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.join": ("channels:join",),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "team.info": ("team:read",),
    "views.open": (),
    "views.push": (),
    "views.update": (),
    "views.publish": (),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "files.delete": ("files:write",),
    "files.info": ("files:read",),
    "reactions.add": ("reactions:write",),
    "pins.add": ("pins:write",),
    "bookmarks.add": ("bookmarks:write",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
}
# What the manifest's own features need, whatever the code calls.
FEATURE_SCOPES = {"commands": "a slash command or a shortcut"}
# Events that need a scope to be delivered (app_home_opened needs none).
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_mention": ("app_mentions:read",),
    "message.im": ("im:history",),
    "message.channels": ("channels:history",),
    "member_joined_channel": ("channels:read", "groups:read"),
}
# WebClient helpers that call more than one method.
COMPOSITE_METHODS = {"files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}
WEB_CLIENT_METHODS = {name for name in vars(WebClient) if not name.startswith("_")}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest(MANIFEST)


def production_modules() -> Iterator[tuple[Path, ast.Module]]:
    for root in PRODUCTION:
        for path in sorted(root.rglob("*.py")):
            if any(path.is_relative_to(skip) for skip in NOT_PRODUCTION):
                continue
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def api_method(python_name: str) -> tuple[str, ...]:
    """`chat_postMessage` → `chat.postMessage`; `files_upload_v2` → the two methods it calls."""
    return COMPOSITE_METHODS.get(python_name, (python_name.replace("_", "."),))


def called_web_api_methods() -> dict[str, set[str]]:
    """Every Web API method the production code calls, with where: `{method: {"path:line", …}}`."""
    found: dict[str, set[str]] = {}
    for path, tree in production_modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            methods: tuple[str, ...] = ()
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in WEB_CLIENT_METHODS:
                methods = api_method(func.attr)
            elif isinstance(func, ast.Attribute) and func.attr == "api_call" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    methods = (first.value,)
            elif isinstance(func, ast.Name) and func.id == "say":  # Bolt's say() is chat.postMessage
                methods = ("chat.postMessage",)
            for method in methods:
                found.setdefault(method, set()).add(where)
    return found


def bolt_registrations(kind: str) -> set[str]:
    """The literal names passed to `app.<kind>(...)` (`command`, `event`, `shortcut`) in production code."""
    names: set[str] = set()
    for _, tree in production_modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == kind
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "app"
                and node.args
            ):
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
                elif isinstance(first, ast.Dict):
                    for key, value in zip(first.keys, first.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value in ("type", "callback_id"):
                            assert isinstance(value, ast.Constant), "listener keys should be literals"
                            names.add(str(value.value))
    return names


def event_listeners() -> set[str]:
    events = bolt_registrations("event")
    if bolt_registrations("message"):
        events.add("message.*")  # decide which message.* events, and add their scopes
    for _, tree in production_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "enable_token_revocation_listeners":
                events |= {"tokens_revoked", "app_uninstalled"}
    return events


# -- the manifest's shape -------------------------------------------------------------


def test_the_manifest_has_what_slack_needs_to_create_the_app(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"]
    assert len(manifest["display_information"]["description"]) <= 140
    long_description = manifest["display_information"].get("long_description", "")
    assert not long_description or 175 <= len(long_description) <= 4000
    features = manifest["features"]
    assert features["bot_user"]["display_name"]
    assert features["app_home"]["home_tab_enabled"] is True
    # The reminders and assignment DMs land in the Messages tab.
    assert features["app_home"]["messages_tab_enabled"] is True
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_every_request_url_is_the_one_slack_events_endpoint(manifest: dict[str, Any]) -> None:
    urls = [command["url"] for command in manifest["features"]["slash_commands"]]
    urls += [manifest["settings"]["interactivity"]["request_url"]]
    urls += [manifest["settings"]["interactivity"]["message_menu_options_url"]]
    urls += [manifest["settings"]["event_subscriptions"]["request_url"]]
    assert urls and all(url.startswith("https://") and url.endswith("/slack/events") for url in urls)
    redirects = manifest["oauth_config"]["redirect_urls"]
    assert redirects and all(url.endswith("/slack/oauth_redirect") for url in redirects)


def test_the_slash_command_is_escaped_and_is_the_one_the_app_listens_to(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert {command["command"] for command in commands} == bolt_registrations("command") == {"/ci"}
    for command in commands:
        # Slack then sends mentions as <@U…> and & < > as entities, which the parser relies on.
        assert command["should_escape"] is True
        assert command["description"] and command["usage_hint"]


def test_the_shortcuts_match_the_router_both_ways(manifest: dict[str, Any]) -> None:
    in_manifest = {shortcut["callback_id"] for shortcut in manifest["features"].get("shortcuts", [])}
    assert "record_decision" in in_manifest
    for shortcut in manifest["features"]["shortcuts"]:
        assert shortcut["type"] in ("message", "global") and shortcut["name"] and shortcut["description"]
    listened = set(build_router().shortcuts) | bolt_registrations("shortcut")
    assert in_manifest - listened == set(), "shortcuts in manifest.yml that no listener handles"
    assert listened - in_manifest == set(), "shortcuts the app handles that manifest.yml does not declare"


def test_external_select_options_have_a_url_exactly_when_the_app_gives_options(manifest: dict[str, Any]) -> None:
    """Slack asks `message_menu_options_url` for an external select's options; without it the select stays empty."""
    options = set(build_router().options)
    assert options, "the /ci update form's external select needs an options handler"
    assert manifest["settings"]["interactivity"].get("message_menu_options_url")


def test_the_bot_events_are_exactly_those_the_app_listens_to(manifest: dict[str, Any]) -> None:
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    # tokens_revoked and app_uninstalled: Bolt's token revocation listeners, for installs by OAuth (issue 8).
    assert subscribed == event_listeners() == {"app_home_opened", "tokens_revoked", "app_uninstalled"}
    # The Home tab is published on app_home_opened: one goes with the other.
    assert manifest["features"]["app_home"]["home_tab_enabled"] == ("app_home_opened" in subscribed)


# -- scopes -----------------------------------------------------------------------------


def test_every_web_api_method_the_code_calls_is_in_the_scope_table() -> None:
    unknown = {
        method: sorted(where) for method, where in called_web_api_methods().items() if method not in METHOD_SCOPES
    }
    assert unknown == {}, "add these methods to METHOD_SCOPES with the scopes their docs page requires"


def test_the_scopes_cover_every_method_the_code_calls(manifest: dict[str, Any]) -> None:
    scopes = set(bot_scopes(manifest))
    uncovered = {
        method: (METHOD_SCOPES[method], sorted(where))
        for method, where in called_web_api_methods().items()
        if METHOD_SCOPES.get(method) and not scopes & set(METHOD_SCOPES[method])
    }
    assert uncovered == {}, "add one of these scopes to manifest.yml (and reinstall the app)"
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    for event in events:
        needed = EVENT_SCOPES.get(event, ())
        assert not needed or scopes & set(needed), f"the {event} event needs one of {needed}"


def test_every_scope_in_the_manifest_is_used(manifest: dict[str, Any]) -> None:
    """Least privilege: a scope stays only while some call, feature or event needs it."""
    called = called_web_api_methods()
    has_commands = bool(manifest["features"].get("slash_commands") or manifest["features"].get("shortcuts"))
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    unused = []
    for scope in bot_scopes(manifest):
        if scope in FEATURE_SCOPES:
            used = has_commands
        else:
            used = any(scope in METHOD_SCOPES.get(method, ()) for method in called) or any(
                scope in EVENT_SCOPES.get(event, ()) for event in events
            )
        if not used:
            unused.append(scope)
    assert unused == [], "manifest.yml asks for scopes nothing uses: remove them"


def test_each_scope_is_listed_once_and_explained(manifest: dict[str, Any]) -> None:
    scopes = bot_scopes(manifest)
    assert len(scopes) == len(set(scopes))
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    for scope in scopes:
        index = next(i for i, line in enumerate(lines) if line.strip() == f"- {scope}")
        assert lines[index - 1].strip().startswith("#"), f"say which feature needs {scope} in a comment above it"


def test_the_scan_finds_the_calls_it_is_meant_to_find() -> None:
    """The scan itself: known calls in the code are found, so an empty result cannot pass by accident."""
    called = called_web_api_methods()
    assert "chat.postMessage" in called
    assert "views.open" in called
    assert api_method("files_upload_v2") == ("files.getUploadURLExternal", "files.completeUploadExternal")
    assert api_method("chat_getPermalink") == ("chat.getPermalink",)
