"""People's names from users.info, kept per process: bounded in number and in age, failures not kept."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from integrations.slack.names import SlackNames


class FakeSlack:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.down = False

    def users_info(self, *, user: str) -> dict[str, Any]:
        self.asked.append(user)
        if self.down:
            response = SlackResponse(
                client=None,
                http_verb="POST",
                api_url="",
                req_args={},
                data={"ok": False, "error": "ratelimited"},
                headers={},
                status_code=429,
            )
            raise SlackApiError("ratelimited", response)
        return {"user": {"id": user, "name": user.lower(), "profile": {"real_name": f"Name of {user}"}}}


def test_names_are_kept_a_while_and_only_so_many() -> None:
    now = [0.0]
    slack = FakeSlack()
    names = SlackNames(ttl=60, max_people=2, clock=lambda: now[0])
    client: Any = lambda: slack  # noqa: E731
    assert names.name(client, "U0A") == "Name of U0A"
    assert names.name(client, "U0A") == "Name of U0A"
    assert slack.asked == ["U0A"]
    names.name(client, "U0B")
    names.name(client, "U0C")  # the third person pushes out the least recently used
    names.name(client, "U0A")
    assert slack.asked == ["U0A", "U0B", "U0C", "U0A"]
    now[0] += 61  # and after the TTL, everyone is asked again
    names.name(client, "U0A")
    assert slack.asked[-1] == "U0A" and len(slack.asked) == 5


def test_a_failed_look_up_gives_no_name_and_is_asked_again_next_time() -> None:
    slack = FakeSlack()
    names = SlackNames()
    client: Any = lambda: slack  # noqa: E731
    slack.down = True
    assert names.name(client, "U0A") is None
    slack.down = False
    assert names.name(client, "U0A") == "Name of U0A"
    assert slack.asked == ["U0A", "U0A"]
