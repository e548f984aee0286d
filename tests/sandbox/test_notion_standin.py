"""The Notion stand-in driven by the real notion_client, as the app drives Notion."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from notion_client import APIResponseError, Client
from notion_client.errors import UnknownHTTPResponseError
from notion_client.helpers import collect_paginated_api, get_id

from ci_slackbot.sandbox.notion import NotionStandIn

TOKEN = "ntn_test_token"
# notion_client types every result as `Any | Awaitable[Any]` (one signature for the sync and
# async clients); the sync client always returns the parsed JSON, so tests hold it as Any.
NotionClient = Any


def connect(stand_in: NotionStandIn, **options: Any) -> NotionClient:
    return Client(auth=TOKEN, base_url=stand_in.url, **options)


def paragraph(text: str) -> dict[str, Any]:
    return {"paragraph": {"rich_text": [{"text": {"content": text}}]}}


def title(text: str) -> list[dict[str, Any]]:
    return [{"text": {"content": text}}]


@pytest.fixture
def stand_in() -> Iterator[NotionStandIn]:
    # Pacing has its own tests; the rest would only be slowed down by it.
    with NotionStandIn(TOKEN, rate=None) as running:
        yield running


@pytest.fixture
def client(stand_in: NotionStandIn) -> Iterator[NotionClient]:
    with connect(stand_in, retry=False) as notion:
        yield notion


@pytest.fixture
def decisions(stand_in: NotionStandIn, client: NotionClient) -> str:
    """A decisions data source like the backbone's, built over the API; returns its ID."""
    root = stand_in.add_page("Backbone")
    database = client.databases.create(
        parent={"type": "page_id", "page_id": root},
        title=title("Decisions"),
        initial_data_source={"properties": {"Decision": {"title": {}}}},
    )
    data_source_id: str = database["data_sources"][0]["id"]
    client.data_sources.update(
        data_source_id,
        properties={
            "Decision ID": {"rich_text": {}},
            "Decided on": {"date": {}},
            "Votes": {"number": {"format": "number"}},
            "Status": {"select": {"options": [{"name": "Adopted", "color": "green"}, {"name": "Draft"}]}},
            "Public": {"checkbox": {}},
        },
    )
    return data_source_id


def add_decision(client: NotionClient, data_source_id: str, key: str, **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "Decision": {"title": title(f"Decision {key}")},
        "Decision ID": {"rich_text": title(key)},
    }
    properties.update(extra)
    page: dict[str, Any] = client.pages.create(parent={"data_source_id": data_source_id}, properties=properties)
    return page


def api_error(call: Any, *args: Any, **kwargs: Any) -> APIResponseError:
    with pytest.raises(APIResponseError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- databases and data sources ---------------------------------------------------------


def test_database_gets_a_data_source_whose_schema_grows(
    stand_in: NotionStandIn, client: NotionClient, decisions: str
) -> None:
    data_source = client.data_sources.retrieve(decisions)
    properties = data_source["properties"]
    assert set(properties) == {"Decision", "Decision ID", "Decided on", "Votes", "Status", "Public"}
    assert properties["Decision"]["id"] == "title"
    assert properties["Status"]["select"]["options"][0]["name"] == "Adopted"
    assert all({"id", "name", "type"} <= set(prop) for prop in properties.values())
    database = client.databases.retrieve(data_source["parent"]["database_id"])
    assert database["data_sources"] == [{"id": decisions, "name": "Decisions"}]
    assert stand_in.data_source(decisions)["properties"].keys() == properties.keys()

    client.data_sources.update(decisions, properties={"Votes": {"name": "Vote count"}, "Public": None})
    renamed = client.data_sources.retrieve(decisions)["properties"]
    assert "Vote count" in renamed and "Votes" not in renamed and "Public" not in renamed
    assert renamed["Vote count"]["id"] == properties["Votes"]["id"]


def test_a_page_must_follow_the_schema(client: NotionClient, decisions: str) -> None:
    error = api_error(
        client.pages.create,
        parent={"data_source_id": decisions},
        properties={"Decision": {"title": title("x")}, "Colour": {"rich_text": title("red")}},
    )
    assert (error.status, error.code) == (400, "validation_error")
    assert "Colour is not a property that exists." in str(error)

    wrong_type = api_error(
        client.pages.create,
        parent={"data_source_id": decisions},
        properties={"Decided on": {"rich_text": title("yesterday")}},
    )
    assert wrong_type.code == "validation_error"


def test_database_parent_works_while_it_has_one_data_source(client: NotionClient, decisions: str) -> None:
    database_id = client.data_sources.retrieve(decisions)["parent"]["database_id"]
    page = client.pages.create(parent={"database_id": database_id}, properties={"Decision": {"title": title("x")}})
    assert page["parent"] == {"type": "data_source_id", "data_source_id": decisions, "database_id": database_id}

    client.data_sources.create(parent={"type": "database_id", "database_id": database_id}, title=title("Second"))
    error = api_error(
        client.pages.create, parent={"database_id": database_id}, properties={"Decision": {"title": title("y")}}
    )
    assert error.code == "validation_error"


# -- pages and blocks -------------------------------------------------------------------


def test_at_most_100_children_at_once(stand_in: NotionStandIn, client: NotionClient) -> None:
    root = stand_in.add_page("Backbone")
    too_many = api_error(
        client.pages.create,
        parent={"page_id": root},
        properties={"title": title("Too long")},
        children=[paragraph(f"line {i}") for i in range(150)],
    )
    assert (too_many.status, too_many.code) == (400, "validation_error")
    assert "body.children.length should be ≤ `100`, instead was `150`." in str(too_many)
    assert stand_in.children(root) == []  # nothing half-made

    page = client.pages.create(
        parent={"page_id": root},
        properties={"title": title("Just right")},
        children=[paragraph(f"line {i}") for i in range(100)],
    )
    assert len(stand_in.children(page["id"])) == 100
    assert page["url"] == f"https://www.notion.so/Just-right-{page['id'].replace('-', '')}"
    assert get_id(page["url"]) == page["id"]

    append = api_error(client.blocks.children.append, page["id"], children=[paragraph("x")] * 101)
    assert append.code == "validation_error"


def test_appended_children_read_back_page_by_page(stand_in: NotionStandIn, client: NotionClient) -> None:
    page_id = stand_in.add_page("Agenda")
    for start in (0, 100, 200):
        client.blocks.children.append(page_id, children=[paragraph(f"item {i}") for i in range(start, start + 100)])
    first = client.blocks.children.list(page_id, page_size=100)
    assert len(first["results"]) == 100 and first["has_more"]
    # As in the live API, the cursor is the ID of the first block of the next page.
    second = client.blocks.children.list(page_id, page_size=100, start_cursor=first["next_cursor"])
    assert second["results"][0]["id"] == first["next_cursor"]
    blocks = collect_paginated_api(client.blocks.children.list, block_id=page_id, page_size=37)
    texts = [block["paragraph"]["rich_text"][0]["plain_text"] for block in blocks]
    assert texts == [f"item {i}" for i in range(300)]
    assert stand_in.page_text(page_id).splitlines() == texts


def test_a_rich_text_item_holds_at_most_2000_characters(stand_in: NotionStandIn, client: NotionClient) -> None:
    page_id = stand_in.add_page("Agenda")
    error = api_error(client.blocks.children.append, page_id, children=[paragraph("x" * 2001)])
    assert (error.status, error.code) == (400, "validation_error")
    assert "body.children[0].paragraph.rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`." in str(
        error
    )
    client.blocks.children.append(page_id, children=[paragraph("x" * 2000)])
    too_many_items = api_error(
        client.blocks.children.append,
        page_id,
        children=[{"paragraph": {"rich_text": [{"text": {"content": "x"}}] * 101}}],
    )
    assert "rich_text.length should be ≤ `100`, instead was `101`." in str(too_many_items)
    echoed = api_error(client.blocks.children.append, page_id, children=[{**paragraph("x"), "archived": False}])
    assert "body.children[0].archived should be not present" in str(echoed)


def test_nesting_is_two_levels_a_request(stand_in: NotionStandIn, client: NotionClient) -> None:
    page_id = stand_in.add_page("Agenda")
    two_levels = {"toggle": {"rich_text": title("Goals"), "children": [paragraph("Goal 1")]}}
    client.blocks.children.append(page_id, children=[two_levels])
    toggle = stand_in.children(page_id)[0]
    assert toggle["has_children"] and stand_in.children(toggle["id"])[0]["paragraph"]["rich_text"][0]["plain_text"]

    inner = {"bulleted_list_item": {"rich_text": title("deep"), "children": [paragraph("too deep")]}}
    three_levels = {"toggle": {"rich_text": title("Goals"), "children": [inner]}}
    assert api_error(client.blocks.children.append, page_id, children=[three_levels]).code == "validation_error"


def test_page_size_is_at_most_100(stand_in: NotionStandIn, client: NotionClient, decisions: str) -> None:
    page_id = stand_in.add_page("Agenda")
    assert api_error(client.blocks.children.list, page_id, page_size=101).code == "validation_error"
    assert api_error(client.data_sources.query, decisions, page_size=101).code == "validation_error"


def test_last_edited_time_moves_with_the_content(stand_in: NotionStandIn, client: NotionClient) -> None:
    page_id = stand_in.add_page("Agenda", blocks=[paragraph("Vision")])
    seen = [client.pages.retrieve(page_id)["last_edited_time"]]
    block = client.blocks.children.append(page_id, children=[paragraph("Goal")])["results"][0]
    seen.append(client.pages.retrieve(page_id)["last_edited_time"])
    client.blocks.update(block["id"], paragraph={"rich_text": title("Goal, revised")})
    seen.append(client.pages.retrieve(page_id)["last_edited_time"])
    client.blocks.delete(block["id"])
    seen.append(client.pages.retrieve(page_id)["last_edited_time"])
    stand_in.replace_blocks(page_id, [paragraph("A new vision")])  # as a person editing in Notion
    seen.append(client.pages.retrieve(page_id)["last_edited_time"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert stand_in.page_text(page_id) == "A new vision"


def test_minute_timestamps_like_the_live_api() -> None:
    with NotionStandIn(TOKEN, rate=None, minute_timestamps=True) as stand_in:
        page = stand_in.page(stand_in.add_page("Agenda"))
        assert page["last_edited_time"].endswith(":00.000Z")


def test_trash_and_restore(stand_in: NotionStandIn, client: NotionClient) -> None:
    root = stand_in.add_page("Backbone")
    page = client.pages.create(parent={"page_id": root}, properties={"title": title("Notes")})
    deleted = client.blocks.delete(page["id"])
    assert (deleted["type"], deleted["in_trash"], deleted["archived"]) == ("child_page", True, True)
    assert api_error(client.blocks.children.append, page["id"], children=[paragraph("x")]).code == "validation_error"
    assert client.pages.update(page["id"], in_trash=False)["in_trash"] is False
    assert client.pages.update(page["id"], archived=True)["archived"] is True
    assert client.search(query="Notes")["results"] == []


def test_unknown_ids_and_urls(stand_in: NotionStandIn, client: NotionClient) -> None:
    missing = api_error(client.pages.retrieve, "0" * 32)
    assert (missing.status, missing.code) == (404, "object_not_found")
    assert api_error(client.pages.retrieve, "not-an-id").code == "validation_error"
    assert api_error(client.request, "invalid", "GET").code == "invalid_request_url"
    # IDs are accepted with or without dashes.
    page_id = stand_in.add_page("Agenda")
    assert client.pages.retrieve(page_id.replace("-", ""))["id"] == page_id


def test_page_property_items(stand_in: NotionStandIn, client: NotionClient, decisions: str) -> None:
    page = add_decision(client, decisions, "d-1", Votes={"number": 7})
    votes_id = page["properties"]["Votes"]["id"]
    assert client.pages.properties.retrieve(page["id"], votes_id)["number"] == 7
    title_items = client.pages.properties.retrieve(page["id"], "title")
    assert title_items["results"][0]["title"]["plain_text"] == "Decision d-1"


def test_markdown_round_trip(stand_in: NotionStandIn, client: NotionClient) -> None:
    page_id = stand_in.add_page("Agenda")
    client.pages.update_markdown(
        page_id, type="insert_content", insert_content={"content": "## Goals\n\n- Read by 3rd grade\n- [x] Kickoff"}
    )
    assert [block["type"] for block in stand_in.children(page_id)] == ["heading_2", "bulleted_list_item", "to_do"]
    markdown = client.pages.retrieve_markdown(page_id)["markdown"]
    assert markdown == "## Goals\n- Read by 3rd grade\n- [x] Kickoff"


# -- queries and search -----------------------------------------------------------------


def test_rich_text_equals_finds_exactly_the_page(client: NotionClient, decisions: str) -> None:
    wanted = add_decision(client, decisions, "d-2")
    for key in ("d-1", "d-20", "D-2"):
        add_decision(client, decisions, key)
    found = client.data_sources.query(decisions, filter={"property": "Decision ID", "rich_text": {"equals": "d-2"}})
    assert [page["id"] for page in found["results"]] == [wanted["id"]]
    assert found["type"] == "page_or_data_source"


def test_filters_and_sorts(stand_in: NotionStandIn, client: NotionClient, decisions: str) -> None:
    add_decision(client, decisions, "a", Votes={"number": 3}, Status={"select": {"name": "Adopted"}})
    add_decision(client, decisions, "b", Votes={"number": 9}, Status={"select": {"name": "Draft"}})
    add_decision(
        client, decisions, "c", Votes={"number": 5}, Status={"select": {"name": "Adopted"}}, Public={"checkbox": True}
    )
    add_decision(client, decisions, "d", **{"Decided on": {"date": {"start": "2026-03-01"}}})

    def keys(**query: Any) -> list[str]:
        pages = collect_paginated_api(client.data_sources.query, data_source_id=decisions, page_size=2, **query)
        return [page["properties"]["Decision ID"]["rich_text"][0]["plain_text"] for page in pages]

    by_votes = keys(sorts=[{"property": "Votes", "direction": "descending"}])
    assert by_votes == ["b", "c", "a", "d"]  # empty values last
    adopted = {"property": "Status", "select": {"equals": "Adopted"}}
    assert sorted(keys(filter=adopted)) == ["a", "c"]
    both = {"and": [adopted, {"property": "Votes", "number": {"greater_than": 4}}]}
    assert keys(filter=both) == ["c"]
    either = {
        "or": [{"property": "Public", "checkbox": {"equals": True}}, {"property": "Votes", "number": {"less_than": 4}}]
    }
    assert sorted(keys(filter=either)) == ["a", "c"]
    dated = {"property": "Decided on", "date": {"on_or_after": "2026-01-01"}}
    assert keys(filter=dated) == ["d"]
    assert keys(filter={"property": "Decision", "title": {"contains": "DECISION B"}}) == ["b"]
    oldest_first = keys(sorts=[{"timestamp": "created_time", "direction": "ascending"}])
    assert oldest_first == ["a", "b", "c", "d"]
    unknown = api_error(client.data_sources.query, decisions, filter={"property": "Nope", "rich_text": {"equals": "x"}})
    assert unknown.code == "validation_error"
    assert len(stand_in.pages_in(decisions)) == 4


def test_search_by_title(stand_in: NotionStandIn, client: NotionClient, decisions: str) -> None:
    stand_in.add_page("Common agenda")
    found = client.search(query="agenda", filter={"property": "object", "value": "page"})["results"]
    assert [page["properties"]["title"]["title"][0]["plain_text"] for page in found] == ["Common agenda"]
    sources = client.search(filter={"property": "object", "value": "data_source"})["results"]
    assert [source["id"] for source in sources] == [decisions]
    old_style = api_error(client.search, filter={"property": "object", "value": "database"})
    assert old_style.code == "validation_error"


def test_users(client: NotionClient, stand_in: NotionStandIn) -> None:
    me = client.users.me()
    assert me["type"] == "bot" and me["bot"]["workspace_name"]
    listed = client.users.list()["results"]
    assert {user["type"] for user in listed} == {"bot", "person"}
    retrieved = client.users.retrieve(me["id"])
    assert {key: value for key, value in retrieved.items() if key != "request_id"} == {
        key: value for key, value in me.items() if key != "request_id"
    }
    assert api_error(client.users.retrieve, "0" * 32).status == 404


# -- the edges: auth, versions, limits, faults ------------------------------------------


def test_headers_are_checked(stand_in: NotionStandIn) -> None:
    url = f"{stand_in.url}/v1/users/me"
    no_version = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert no_version.status_code == 400
    assert no_version.json()["code"] == "missing_version"
    assert {"object", "status", "code", "message", "request_id"} == set(no_version.json())

    headers = {"Notion-Version": "2025-09-03"}
    assert requests.get(url, headers={**headers, "Authorization": "Bearer secret_wrong"}, timeout=5).status_code == 401
    assert requests.get(url, headers=headers, timeout=5).json()["code"] == "unauthorized"
    ok = requests.get(url, headers={**headers, "Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["request_id"]

    bad_json = requests.post(
        f"{stand_in.url}/v1/search",
        data=b"{not json",
        headers={**headers, "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "invalid_json")


def test_bursts_faster_than_3_a_second_are_throttled() -> None:
    with NotionStandIn(TOKEN) as stand_in:
        with connect(stand_in, retry=False) as client, pytest.raises(APIResponseError) as caught:
            for _ in range(30):
                client.users.me()
        error = caught.value
        assert (error.status, error.code) == (429, "rate_limited")
        assert error.headers["Retry-After"].isdigit() and int(error.headers["Retry-After"]) >= 1
        assert stand_in.throttled_count == 1
        # At least the burst allowance of 10 got through before the 429.
        assert stand_in.request_count("GET", "/v1/users/me") - 1 >= 10


def test_the_client_waits_out_a_429() -> None:
    with NotionStandIn(TOKEN) as stand_in:
        stand_in.faults.throttle_next(1, retry_after=0.2)
        with connect(stand_in) as client:  # retries on, as the app runs it
            assert client.users.me()["object"] == "user"
        assert stand_in.throttled_count == 1


def test_faults_answer_like_notion(stand_in: NotionStandIn, client: NotionClient) -> None:
    stand_in.faults.fail_next(1, status=503)
    unavailable = api_error(client.users.me)
    assert (unavailable.status, unavailable.code) == (503, "service_unavailable")
    stand_in.faults.fail_next(1, status=504)
    assert api_error(client.users.me).code == "gateway_timeout"
    stand_in.faults.fail_next(1, status=500)
    assert api_error(client.users.me).code == "internal_server_error"
    # A 502 comes from Notion's edge as an HTML page, which the client cannot parse as an API error.
    stand_in.faults.fail_next(1, status=502)
    with pytest.raises(UnknownHTTPResponseError) as gateway:
        client.users.me()
    assert gateway.value.status == 502
    stand_in.faults.outage(503)
    assert api_error(client.users.me).status == 503
    stand_in.faults.restore()
    assert client.users.me()["object"] == "user"


# -- seeding, inspection, concurrency ---------------------------------------------------


def test_seeding_api(stand_in: NotionStandIn, client: NotionClient) -> None:
    root = stand_in.add_page("Backbone")
    agenda = stand_in.add_page(
        "Common agenda",
        parent_page_id=root,
        blocks=[{"heading_1": {"rich_text": title("Vision")}}, paragraph("Every child reads by third grade.")],
        page_id="11111111-2222-4333-8444-555555555555",
    )
    assert agenda == "11111111-2222-4333-8444-555555555555"
    assert stand_in.page_text(agenda) == "Vision\nEvery child reads by third grade."
    database_id, data_source_id = stand_in.add_database(
        root, "Decisions", {"Name": {"title": {}}, "Key": {"rich_text": {}}}
    )
    assert client.databases.retrieve(database_id)["data_sources"][0]["id"] == data_source_id
    assert set(stand_in.data_source(data_source_id)["properties"]) == {"Name", "Key"}
    client.pages.create(parent={"data_source_id": data_source_id}, properties={"Key": {"rich_text": title("k")}})
    assert [page["properties"]["Key"]["rich_text"][0]["plain_text"] for page in stand_in.pages_in(database_id)] == ["k"]
    with pytest.raises(ValueError):
        stand_in.add_page("Again", page_id=agenda)
    with pytest.raises(KeyError):
        stand_in.page("0" * 32)


def test_wait_for_returns_the_first_truthy_value(stand_in: NotionStandIn, client: NotionClient) -> None:
    page_id = stand_in.add_page("Agenda")
    timer = threading.Timer(0.1, lambda: client.blocks.children.append(page_id, children=[paragraph("late")]))
    timer.start()
    assert stand_in.wait_for(lambda: stand_in.page_text(page_id), timeout=5) == "late"
    timer.join()
    with pytest.raises(TimeoutError):
        stand_in.wait_for(lambda: None, timeout=0.1)


def test_concurrent_clients(stand_in: NotionStandIn) -> None:
    page_id = stand_in.add_page("Agenda")
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            with connect(stand_in, retry=False) as notion:
                for batch in range(5):
                    notion.blocks.children.append(
                        page_id, children=[paragraph(f"{number}-{batch}-{i}") for i in range(10)]
                    )
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    lines = stand_in.page_text(page_id).splitlines()
    assert len(lines) == len(set(lines)) == 8 * 5 * 10
    # Each append lands as one contiguous run.
    for start in range(0, len(lines), 10):
        assert len({line.rsplit("-", 1)[0] for line in lines[start : start + 10]}) == 1
    assert stand_in.request_count("PATCH", "/v1/blocks/") == 40
