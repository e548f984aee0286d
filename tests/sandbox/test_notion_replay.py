"""Replay notion-sdk-py's recordings of the live Notion API against the stand-in.

Each cassette was recorded by notion-sdk-py's own suite talking to Notion at
Notion-Version 2025-09-03. For each one a fresh stand-in is given what the
recording presupposes — the workspace's people and bot, and the pages the
suite worked under — and then every recorded request is sent to it, in order,
with the recorded Notion-Version header. IDs that the live API minted are
mapped onto the ones the stand-in mints for the same thing, and substituted in
later requests.

Checked for every interaction: the status code; the set of top-level keys;
for lists, the keys of `results[0]`; and then the whole body, key for key and
value for value, with IDs compared through the mapping (one live ID is always
the same stand-in ID, and no two live IDs share one). Only wall-clock values
(`created_time`, `last_edited_time`, `request_id`, avatars) are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from ci_slackbot.sandbox.notion import NotionStandIn, normalize_id
from tests.paths import ROOT

RECORDINGS = ROOT.parent / "shared" / "reference" / "recordings" / "notion"
CASSETTES = sorted(RECORDINGS.glob("*.yaml")) if RECORDINGS.is_dir() else []
LIVE_ORIGIN = "https://api.notion.com"
TOKEN = "ntn_sandbox_replay_token"
# The recordings mask every token; a 401 in them means the suite sent one Notion rejected.
REJECTED_TOKEN = "ntn_not_a_token_of_this_workspace"
VOLATILE = frozenset({"created_time", "last_edited_time", "request_id", "avatar_url"})
# Who last edited a seeded page is history from before the recording.
SEED_HISTORY = frozenset({"last_edited_by"})
ID_TOKEN = re.compile(r"(?<![0-9a-f])[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(?![0-9a-f])")
# Endpoints whose answers bring new objects into being.
CREATING = re.compile(
    r"^(POST /v1/(pages|databases|data_sources)|PATCH /v1/blocks/[^/]+/children|PATCH /v1/pages/[^/]+/markdown)$"
)

# Cassettes that cannot be reproduced: name -> precise reason. Kept empty on purpose.
SKIPPED: dict[str, str] = {}


@dataclass
class Interaction:
    method: str
    path: str  # with the query string
    body: str
    version: str | None
    status: int
    response: Any

    @property
    def route(self) -> str:
        return f"{self.method} {self.path.split('?')[0]}"

    def request_json(self) -> Any:
        return json.loads(self.body) if self.body else None


def load(cassette: Path) -> list[Interaction]:
    data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    interactions = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        uri = request["uri"]
        assert uri.startswith(LIVE_ORIGIN), uri
        versions = request["headers"].get("notion-version") or request["headers"].get("Notion-Version")
        text = response["body"]["string"]
        interactions.append(
            Interaction(
                method=request["method"],
                path=uri[len(LIVE_ORIGIN) :],
                body=request.get("body") or "",
                version=versions[0] if versions else None,
                status=response["status"]["code"],
                response=json.loads(text) if text else None,
            )
        )
    return interactions


def plain(rich_text: list[Any]) -> str:
    return "".join(item.get("plain_text", "") for item in rich_text)


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def hex_of(token: str) -> str:
    return token.replace("-", "").lower()


class IdMap:
    """Live IDs -> stand-in IDs, kept one-to-one."""

    def __init__(self) -> None:
        self.forward: dict[str, str] = {}
        self.backward: dict[str, str] = {}

    def same(self, live: str, ours: str) -> None:
        self.forward[hex_of(live)] = hex_of(ours)
        self.backward[hex_of(ours)] = hex_of(live)

    def pair(self, live: str, ours: str) -> bool:
        live_hex, our_hex = hex_of(live), hex_of(ours)
        if live_hex in self.forward:
            return self.forward[live_hex] == our_hex
        if our_hex in self.backward:
            return False
        self.same(live_hex, our_hex)
        return True

    def rewrite(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            token = match.group(0)
            ours = self.forward.get(hex_of(token))
            if ours is None:
                return token
            return normalize_id(ours) or ours if "-" in token else ours

        return ID_TOKEN.sub(swap, text)


def compare(live: Any, ours: Any, ids: IdMap, seeded: set[str], path: str = "$") -> list[str]:
    """Every difference between a live body and the stand-in's, IDs compared through `ids`."""
    if isinstance(live, dict) and isinstance(ours, dict):
        problems = []
        if set(live) != set(ours):
            problems.append(
                f"{path}: keys only live {sorted(set(live) - set(ours))}, only ours {sorted(set(ours) - set(live))}"
            )
        history = SEED_HISTORY if isinstance(live.get("id"), str) and hex_of(live["id"]) in seeded else frozenset()
        for key, value in live.items():
            if key in ours and key not in VOLATILE and key not in history:
                problems += compare(value, ours[key], ids, seeded, f"{path}.{key}")
        return problems
    if isinstance(live, list) and isinstance(ours, list):
        problems = [] if len(live) == len(ours) else [f"{path}: {len(live)} items live, {len(ours)} ours"]
        for index, (left, right) in enumerate(zip(live, ours, strict=False)):
            problems += compare(left, right, ids, seeded, f"{path}[{index}]")
        return problems
    if isinstance(live, str) and isinstance(ours, str):
        live_ids, our_ids = ID_TOKEN.findall(live), ID_TOKEN.findall(ours)
        same_text = ID_TOKEN.sub("<id>", live) == ID_TOKEN.sub("<id>", ours)
        if same_text and len(live_ids) == len(our_ids):
            if all(ids.pair(left, right) for left, right in zip(live_ids, our_ids, strict=True)):
                return []
            return [f"{path}: {live!r} is not the stand-in's {ours!r} under the ID mapping"]
        return [f"{path}: live {live!r}, ours {ours!r}"]
    if live != ours or type(live) is not type(ours):
        return [f"{path}: live {live!r}, ours {ours!r}"]
    return []


# -- what a recording presupposes -----------------------------------------------------


def workspace_settings(interactions: list[Interaction]) -> dict[str, Any]:
    """Stand-in settings that reproduce the recorded workspace's bot, owner and URL style."""
    settings: dict[str, Any] = {}
    for interaction in interactions:
        for value in walk(interaction.response):
            if not isinstance(value, dict):
                continue
            if value.get("object") == "user" and value.get("type") == "bot" and isinstance(value.get("bot"), dict):
                settings["bot_name"] = value["name"]
                settings["workspace_name"] = value["bot"].get("workspace_name") or value["name"]
            elif value.get("object") == "user" and value.get("type") == "person" and "owner_name" not in settings:
                settings["owner_name"] = value["name"]
                settings["owner_email"] = (value.get("person") or {}).get("email")
            elif value.get("object") == "page" and isinstance(value.get("url"), str):
                match = re.match(r"^(https://[^/]+/(?:p/)?)", value["url"])
                if match:
                    settings["page_url_base"] = match.group(1)
    return settings


def presupposed_pages(interactions: list[Interaction]) -> dict[str, dict[str, Any]]:
    """Pages the recording uses but never creates: live hex ID -> what it shows of them.

    They are the IDs a request names before any answer has, and the pages that
    answers list (search results) without the recording having made them."""
    learned: set[str] = set()
    created: set[str] = set()
    pages: dict[str, dict[str, Any]] = {}
    for interaction in interactions:
        for token in ID_TOKEN.findall(interaction.path + " " + interaction.body):
            if hex_of(token) not in learned and not interaction.path.startswith("/v1/users"):
                pages.setdefault(hex_of(token), {})
        creating = bool(CREATING.match(interaction.route)) and interaction.status == 200
        for value in walk(interaction.response):
            if isinstance(value, str):
                for token in ID_TOKEN.findall(value):
                    if hex_of(token) not in learned and hex_of(token) not in pages and creating:
                        created.add(hex_of(token))
                    learned.add(hex_of(token))
        for value in walk(interaction.response):
            if (
                isinstance(value, dict)
                and value.get("object") == "page"
                and isinstance(value.get("id"), str)
                and hex_of(value["id"]) not in created
            ):
                pages[hex_of(value["id"])] = value
    return pages


def seed(stand_in: NotionStandIn, pages: dict[str, dict[str, Any]], ids: IdMap) -> set[str]:
    seeded: set[str] = set()

    def add(page_hex: str) -> None:
        if page_hex in seeded:
            return
        shown = pages[page_hex]
        parent = shown.get("parent") or {}
        parent_hex = hex_of(parent["page_id"]) if parent.get("type") == "page_id" else None
        if parent_hex is not None and parent_hex in pages:
            add(parent_hex)
        title = plain((shown.get("properties") or {}).get("title", {}).get("title", []))
        stand_in.add_page(title, parent_page_id=parent_hex, page_id=page_hex)
        ids.same(page_hex, page_hex)
        seeded.add(page_hex)

    for page_hex in pages:
        add(page_hex)
    return seeded


# -- the test -------------------------------------------------------------------------


@pytest.mark.skipif(not CASSETTES, reason=f"no Notion recordings at {RECORDINGS}")
@pytest.mark.parametrize("cassette", CASSETTES, ids=[path.stem for path in CASSETTES])
def test_replay_matches_the_live_api(cassette: Path) -> None:
    if cassette.stem in SKIPPED:
        pytest.skip(SKIPPED[cassette.stem])
    interactions = load(cassette)
    ids = IdMap()
    # The suite's requests come faster than 3 a second; pacing is not what is checked here.
    with NotionStandIn(TOKEN, burst=1000, **workspace_settings(interactions)) as stand_in:
        seeded = seed(stand_in, presupposed_pages(interactions), ids)
        with requests.Session() as session:
            for number, interaction in enumerate(interactions):
                where = f"{cassette.stem} #{number} {interaction.route}"
                live = interaction.response
                rejected = interaction.status == 401 and isinstance(live, dict) and live.get("code") == "unauthorized"
                headers = {"Authorization": f"Bearer {REJECTED_TOKEN if rejected else TOKEN}"}
                if interaction.version:
                    headers["Notion-Version"] = interaction.version
                body = ids.rewrite(interaction.body)
                if body:
                    headers["Content-Type"] = "application/json"
                answer = session.request(
                    interaction.method,
                    stand_in.url + ids.rewrite(interaction.path),
                    data=body.encode("utf-8") if body else None,
                    headers=headers,
                    timeout=10,
                )
                assert answer.status_code == interaction.status, f"{where}: {answer.text}"
                ours = answer.json()
                assert set(ours) == set(live), where
                if live.get("object") == "list" and live.get("results") and ours.get("results"):
                    assert set(ours["results"][0]) == set(live["results"][0]), where
                problems = compare(live, ours, ids, seeded)
                assert not problems, f"{where}:\n" + "\n".join(problems)
