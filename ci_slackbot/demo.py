"""`ci-slackbot demo`: a short week of a coalition, played through the real app, offline.

It loads the example initiative into a fresh embedded database, starts local
stand-ins for Slack, Notion and Sheets, runs the real `ci-slackbot serve`
against them, sends signed requests as partners would, and prints what each
person would have seen in Slack, Notion and Sheets.
"""

from __future__ import annotations

import json
import re
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.sandbox.world import DECISIONS_DB, SPREADSHEET, Sandbox, ServeProcess, SlackSender, wait_for
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem

EXAMPLE = Path(__file__).resolve().parent / "examples" / "initiative.yml"

PEOPLE = {
    "U0BACK0001": "Dana (backbone, HWAC)",
    "U0CHLD0001": "Dr. Rivera (Children's Health)",
    "U0CHLD0002": "Maya (Children's Health)",
    "U0DISD0001": "Nurse Kim (Dallas ISD)",
    "U0NBRS0001": "Luis (Neighbors United)",
    "U0NBRS0002": "Ana (Neighbors United)",
    "U0CITY0001": "Officer Grant (City Code Compliance)",
    "U0CITY0002": "Inspector Ruiz (City Code Compliance)",
}
NEW_STAFFER = "U0CITY0002"
HOME_TAB = {"id": "VHOME", "type": "home"}
CHANNELS = {"C0DIGEST01": "digest", "C0DECIDE01": "decisions"}
EMOJI = {
    ":white_check_mark:": "✅",
    ":warning:": "⚠️ ",
    ":large_green_circle:": "🟢",
    ":red_circle:": "🔴",
    ":white_circle:": "⚪",
    ":dart:": "🎯",
    ":hourglass:": "⏳",
    ":rotating_light:": "🚨",
    ":memo:": "📝",
    ":spiral_note_pad:": "🗒",
    ":bar_chart:": "📊",
    ":bell:": "🔔",
    ":chart_with_upwards_trend:": "📈",
    ":inbox_tray:": "📥",
    ":outbox_tray:": "📤",
    ":jigsaw:": "🧩",
    ":scales:": "⚖️ ",
    ":classical_building:": "🏛",
    ":mag:": "🔍",
    ":wave:": "👋",
    ":leftwards_arrow_with_hook:": "↩️ ",
    ":speaking_head_in_silhouette:": "🗣 ",
    ":lock:": "🔒",
}


def _plain(text: str) -> str:
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    text = re.sub(r"<@([A-Z0-9]+)>", lambda m: "@" + PEOPLE.get(m.group(1), m.group(1)).split(" (")[0], text)
    text = re.sub(r"<#([A-Z0-9]+)(?:\|[^>]*)?>", lambda m: "#" + CHANNELS.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    # Entities stay visible: they show that user text was escaped, e.g. `&lt;!channel&gt;` pings nobody.
    text = text.replace("*", "")
    return text


def render_blocks(blocks: Iterable[dict[str, Any]], fallback: str = "") -> list[str]:
    """Block Kit as a person would read it, in plain text."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _plain(block["text"]["text"])
            lines += [title, "─" * min(len(title), 60)]
        elif kind == "section":
            if "text" in block:
                lines += _plain(block["text"]["text"]).splitlines()
            for item in block.get("fields", []):
                lines.append(_plain(item["text"]))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(f"  [ {accessory['text']['text']} ]")
        elif kind == "context":
            lines += ["  " + _plain(e.get("text", "")) for e in block.get("elements", [])]
        elif kind == "actions":
            buttons = [f"[ {e['text']['text']} ]" for e in block.get("elements", []) if "text" in e]
            lines.append("  " + "  ".join(buttons))
        elif kind == "divider":
            lines.append("  · · ·")
        elif kind == "image":
            lines.append(f"  [picture: {block.get('alt_text', 'chart')}]")
    if not lines and fallback:
        lines = _plain(fallback).splitlines()
    return lines


@dataclass
class Narrator:
    out: TextIO
    step: int = 0

    def title(self, text: str) -> None:
        self.step += 1
        self.out.write(f"\n━━ {self.step}. {text} " + "━" * max(3, 66 - len(text)) + "\n")

    def say(self, text: str) -> None:
        self.out.write(textwrap.fill(text, 88) + "\n")

    def shows(self, who: str, lines: list[str]) -> None:
        self.out.write(f"  {who}:\n")
        for line in lines or ["(nothing)"]:
            self.out.write(f"    │ {line}\n")


class Demo:
    def __init__(self, out: TextIO, workdir: Path) -> None:
        self.n = Narrator(out)
        self.workdir = workdir
        self.database_url = f"sqlite:///{workdir / 'demo.db'}"
        self.sandbox = Sandbox.start()
        self.server: ServeProcess | None = None
        self.send: SlackSender | None = None
        self.commands: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------
    def start(self) -> None:
        db = Database(self.database_url)
        db.upgrade()
        data = load_initiative_file(EXAMPLE)
        with db.unit_of_work() as session:
            initiative, _ = apply_initiative(session, data)
            name = initiative.name
        db.dispose()
        self.n.title(f"Loading the example initiative: {name}")
        self.n.say(
            f"{len(data.organizations)} organizations, {len(data.goals)} goals, {len(data.indicators)} shared "
            f"indicators. Slack, Notion and Google Sheets are local stand-ins on this machine; the app is the real "
            f"`ci-slackbot serve`, talking to them over HTTP."
        )
        env = {
            **self.sandbox.env(),
            "CI_SLACKBOT_OUTBOX_BACKOFF_BASE": "0.2",
            "CI_SLACKBOT_OUTBOX_BACKOFF_CAP": "2",
        }
        self.server = ServeProcess(self.database_url, env).start(self.workdir)
        self.send = SlackSender(self.server.events_url, self.sandbox.slack)
        from commands import build_router

        self.commands = set(build_router().subcommands)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.sandbox.stop()

    def ci(self, user: str, text: str) -> dict[str, Any]:
        assert self.send is not None
        self.n.out.write(f"\n  {PEOPLE.get(user, user)} types:  /ci {text}\n")
        response, key = self.send.command(text, user)
        answer = response.json() if response.content else {}
        lines = render_blocks(answer.get("blocks", []), answer.get("text", ""))
        if lines:
            self.n.shows("Slack shows them (only them)", lines)
        self._last_response_key = key
        return answer

    def click_undo(self, user: str, answer: dict[str, Any]) -> None:
        assert self.send is not None
        undo = next(
            e
            for b in answer.get("blocks", [])
            if b.get("type") == "actions"
            for e in b["elements"]
            if e["text"]["text"] == "Undo"
        )
        key = uuid.uuid4().hex
        self.n.out.write(f"\n  {PEOPLE.get(user, user)} clicks:  [ Undo ]\n")
        self.send.click(user, undo["action_id"], undo["value"], response_key=key)
        replaced = wait_for(lambda: self.sandbox.slack.responses(key), timeout=20)
        self.n.shows("The answer becomes", render_blocks(replaced[-1].get("blocks", []), replaced[-1].get("text", "")))

    def record_change(self, user: str, text: str, *, kind: str, organizations: tuple[str, ...], goal: str) -> None:
        """`/ci change <text>`, then the form filled in and submitted."""
        assert self.send is not None
        before = len(self.sandbox.slack.views(user, callback_id="record_systems_change"))
        self.ci(user, f"change {text}")
        opened = wait_for(
            lambda: self.sandbox.slack.views(user, callback_id="record_systems_change")[before:], timeout=20
        )
        self.n.out.write(
            f"\n  {PEOPLE.get(user, user)} fills in the form: {kind}, {', '.join(organizations)}, {goal}\n"
        )
        state: dict[str, dict[str, Any]] = {
            "change_kind": {"value": {"type": "static_select", "selected_option": {"value": kind}}},
            "change_text": {"value": {"type": "plain_text_input", "value": text}},
            "change_orgs": {
                "value": {"type": "multi_static_select", "selected_options": [{"value": o} for o in organizations]}
            },
            "change_goal": {"value": {"type": "static_select", "selected_option": {"value": goal}}},
            "change_date": {"value": {"type": "datepicker", "selected_date": date.today().isoformat()}},
        }
        answer = self.send.submit(user, opened[-1]["view"], state).json()
        self.n.shows("The form becomes", render_blocks(answer.get("view", {}).get("blocks", [])))

    def click_button(self, user: str, answer: dict[str, Any], label: str) -> None:
        """Click the first button labelled `label` in an answer, and show what replaces it."""
        assert self.send is not None
        elements = [b.get("accessory") or {} for b in answer.get("blocks", [])]
        elements += [e for b in answer.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]
        button = next((e for e in elements if e.get("type") == "button" and e["text"]["text"] == label), None)
        if button is None:
            return
        key = uuid.uuid4().hex
        self.n.out.write(f"\n  {PEOPLE.get(user, user)} clicks:  [ {label} ]\n")
        self.send.click(user, button["action_id"], button["value"], response_key=key)
        replaced = wait_for(lambda: self.sandbox.slack.responses(key), timeout=20)
        self.n.shows("The answer becomes", render_blocks(replaced[-1].get("blocks", []), replaced[-1].get("text", "")))

    def later_responses(self) -> list[str]:
        """What the app sent back after the ack, through the response URL."""
        posted = self.sandbox.slack.responses(self._last_response_key)
        lines: list[str] = []
        for message in posted:
            lines += render_blocks(message.get("blocks", []), message.get("text", ""))
        return lines

    def channel(self, channel: str, since: int = 0) -> list[dict[str, Any]]:
        return self.sandbox.slack.messages(channel)[since:]

    def drain_outbox(self, timeout: float = 30.0) -> None:
        db = Database(self.database_url)

        def waiting() -> int:
            with db.unit_of_work() as session:
                return int(
                    session.scalar(
                        select(func.count())
                        .select_from(OutboxItem)
                        .where(OutboxItem.status.in_(("pending", "delivering")))
                    )
                    or 0
                )

        try:
            wait_for(lambda: waiting() == 0, timeout=timeout)
        except AssertionError:
            self.n.say(f"(still {waiting()} mirror writes waiting; they will be delivered when the app runs again)")
        db.dispose()

    # -- the week ---------------------------------------------------------------------
    def play(self) -> None:
        now = datetime.now(UTC)
        month = Period.current(Frequency.MONTHLY, "America/Chicago", now)
        quarter = Period.current(Frequency.QUARTERLY, "America/Chicago", now)

        self.n.title("Monday: partners report their numbers")
        self.n.say(
            f"Partners report a period once it has ended. Dr. Rivera sends the asthma ER visits of "
            f"{month.previous().label()} without naming the month: the app files them under the month just "
            f"ended, the one partners report now. Then she sends {month.label()}'s so far, naming it."
        )
        self.ci("U0CHLD0001", "update er-visits 18.9")
        self.ci("U0CHLD0001", f"update er-visits 17.2 {month} fewer visits after the school inhaler campaign")
        self.n.say(
            "Home visits are a rate. Dr. Rivera reports it with its counts — 412 of the 700 emergency visits "
            "were followed by a home visit — so partners' rates are weighed, not averaged, and the answer "
            "says who has yet to report."
        )
        self.ci("U0CHLD0001", f"update home-visits 412 of 700 {month}")
        self.n.say(
            "Luis reports home visits for one ZIP code — breakdowns keep the equity view, "
            "and one ZIP's value never stands in for the whole coalition's."
        )
        self.ci("U0NBRS0001", f"update home-visits 45% {month} zip=75216")
        self.n.say("Luis sends one for last month by mistake, and takes it back with the answer's Undo.")
        mistake = self.ci("U0NBRS0001", f"update home-visits 38% {month.previous()} zip=75216")
        self.click_undo("U0NBRS0001", mistake)
        self.n.say("Nurse Kim's number moved the wrong way, so the app asks for the story behind it.")
        self.ci("U0DISD0001", f"update action-plans 62 {quarter.previous()}")
        self.ci("U0DISD0001", f"update action-plans 55 {quarter} two campus nurses left in August")
        self.n.say("A typo is refused privately, with how to write it right — nothing is recorded.")
        self.ci("U0DISD0001", "update action-plans lots")

        self.add_staffer_in_home(month)

        self.n.title("The equity lens: the gap between ZIP codes")
        self.n.say(
            "Dr. Rivera splits ER visits by ZIP code, the indicator's equity lens. `/ci indicator`, the digest "
            "and App Home point out the ZIP furthest from the target, the one best off, and whether the gap "
            "between them narrowed or widened; a ZIP under the small-number threshold would never be shown."
        )
        for period, worst, best in ((month.previous(), 22, 18), (month, 23.5, 16.5)):
            self.ci("U0CHLD0001", f"update er-visits {worst} {period} zip=75216")
            self.ci("U0CHLD0001", f"update er-visits {best} {period} zip=75201")

        self.n.title("Where the indicators stand")
        self.ci("U0BACK0001", "indicators")
        if "indicator" in self.commands:
            self.ci("U0CHLD0001", "indicator er-visits")
            files = wait_for(lambda: self.sandbox.slack.files(), timeout=20)
            for file in files[-1:]:
                self.n.shows("Slack shows them a chart", [f"[picture: {file.get('title') or file.get('name')}]"])

        if "decide" in self.commands:
            self.n.title("A decision is recorded and mirrored to Notion")
            before = len(self.channel("C0DECIDE01"))
            self.ci(
                "U0BACK0001",
                "decide Pharmacies will refill school inhalers at no cost from January; "
                "<!channel> pilot in 75216 first",
            )
            announced = wait_for(lambda: self.channel("C0DECIDE01", before), timeout=20)
            for message in announced[:1]:
                self.n.shows("#decisions sees", render_blocks(message.get("blocks", []), message.get("text", "")))

        if "story" in self.commands:
            self.community_story()

        if "action" in self.commands:
            self.n.title("Mutually reinforcing activities: an action item")
            due = (date.today() + timedelta(days=5)).isoformat()
            answer = self.ci(
                "U0BACK0001",
                f"action add Schedule home visits for the 12 new referrals <@U0NBRS0001> due {due} goal G1",
            )
            match = re.search(r"#(\d+)", json.dumps(answer))
            self.show_dm("U0NBRS0001", "assigned")
            if "actions" in self.commands:
                self.ci("U0NBRS0001", "actions")
            if match:
                self.ci("U0NBRS0001", f"action done {match.group(1)}")

        self.n.title("The backbone checks who has reported, and reminds the others")
        self.ci("U0BACK0001", "status")
        if "remind" in self.commands:
            self.ci("U0BACK0001", "remind")
            self.show_dm("U0CITY0001", "Report")

        if {"change", "changes", "wish"} <= self.commands:
            self.n.title("What will outlast the coalition, and the data it still needs")
            self.record_change(
                "U0DISD0001",
                "Every school nurse now files an asthma action plan at enrollment",
                kind="practices",
                organizations=("dallas-isd", "childrens-health"),
                goal="G2",
            )
            listing = self.ci("U0BACK0001", "changes")
            self.click_button("U0BACK0001", listing, "Confirm")
            self.ci(
                "U0DISD0001",
                "wish How many school days do children miss because of asthma? org dallas-isd by 2027-06-30",
            )

        if "digest" in self.commands:
            self.n.title("The weekly digest")
            before = len(self.channel("C0DIGEST01"))
            self.ci("U0BACK0001", "digest post")
            posted = wait_for(lambda: self.channel("C0DIGEST01", before), timeout=30)
            self.n.shows("#digest sees", render_blocks(posted[0].get("blocks", []), posted[0].get("text", "")))

        self.n.title("Meanwhile, the mirrors")
        self.drain_outbox()
        self.show_notion()
        self.show_sheets()

    def add_staffer_in_home(self, month: Period) -> None:
        """The backbone adds a partner's new staffer in App Home (Set-up → Organizations → Edit), and
        the staffer reports at once: no file, no server."""
        from integrations.slack import setup_blocks as setup

        assert self.send is not None
        slack, dana = self.sandbox.slack, "U0BACK0001"
        self.n.title("A partner's new staffer, added in App Home")
        self.n.say(
            "Inspector Ruiz joins City Code Compliance. Dana adds him herself, in the app's Home tab: "
            "Set-up → Organizations, Edit City Code Compliance, Ruiz in the members picker, Save. "
            "No file to edit and no server to touch; he can report at once."
        )
        before = slack.home(dana)
        self.send.event({"type": "app_home_opened", "user": dana, "tab": "home", "channel": f"D{dana}"})

        def published() -> dict[str, Any] | None:
            view = slack.home(dana)
            return view if view and view != before else None

        home = wait_for(published, timeout=20)
        assert home is not None  # wait_for returns only a published view
        blocks = home["blocks"]
        at = next(i for i, b in enumerate(blocks) if b.get("block_id") == "setup_buttons")
        self.n.shows("Dana's Home tab shows (backbone staff only)", render_blocks(blocks[at - 1 : at + 1]))

        def next_view(callback_id: str, seen: int) -> dict[str, Any]:
            entry = wait_for(lambda: slack.views(dana, callback_id=callback_id)[seen:], timeout=20)[-1]
            return dict(entry["view"])

        self.n.out.write(f"\n  {PEOPLE[dana]} clicks:  [ Organizations ]\n")
        seen = len(slack.views(dana, callback_id=setup.ORGS_LIST))
        self.send.click(dana, setup.SETUP_ORGANIZATIONS, "open", view=HOME_TAB)
        listing = next_view(setup.ORGS_LIST, seen)
        city = [b for b in listing["blocks"] if "city-code" in json.dumps(b)]
        self.n.shows("The Organizations window opens (City Code Compliance's entry)", render_blocks(city))

        self.n.out.write(f"\n  {PEOPLE[dana]} clicks:  [ Edit ]  next to City Code Compliance\n")
        seen_forms = len(slack.views(dana, callback_id=setup.ORG_SAVE))
        self.send.click(dana, setup.ORG_EDIT, "city-code", view=listing)
        form = next_view(setup.ORG_SAVE, seen_forms)
        fields = {b.get("block_id"): b for b in form["blocks"]}
        members = list(fields[setup.ORG_MEMBERS]["element"].get("initial_users", []))
        name = fields[setup.ORG_NAME]["element"].get("initial_value", "")
        sector = fields[setup.ORG_SECTOR]["element"].get("initial_value", "")
        self.n.out.write(f"\n  {PEOPLE[dana]} adds Inspector Ruiz in the Members picker and clicks [ Save ]\n")
        seen = len(slack.views(dana, callback_id=setup.ORGS_LIST))
        values = {
            setup.ORG_NAME: {setup.ORG_NAME: {"type": "plain_text_input", "value": name}},
            setup.ORG_SECTOR: {setup.ORG_SECTOR: {"type": "plain_text_input", "value": sector}},
            setup.ORG_MEMBERS: {
                setup.ORG_MEMBERS: {"type": "multi_users_select", "selected_users": [*members, NEW_STAFFER]}
            },
            setup.ORG_BACKUP: {setup.ORG_BACKUP: {"type": "users_select", "selected_user": None}},
        }
        self.send.submit(dana, form, values)
        listing = next_view(setup.ORGS_LIST, seen)
        shown = [b for b in listing["blocks"][:1] if b.get("type") == "section"]
        shown += [b for b in listing["blocks"] if b.get("type") == "section" and "city-code" in json.dumps(b)]
        self.n.shows("The form goes back to the list, which now reads", render_blocks(shown))
        self.n.say("Ruiz reports his first number straight away; the change is in the set-up's change log, under Dana.")
        self.ci(NEW_STAFFER, f"update home-assessments 9 {month} first month on the team")

    def community_story(self) -> None:
        """A parent's words, saved by a partner with the parent's consent, on their way to the digest."""
        assert self.send is not None
        self.n.title("Community voice: a parent's story, shared with consent")
        self.n.say(
            "Luis heard a parent at the 75216 clinic. Who told it, whether they are named and whether they "
            "agreed to share it are asked in a form, so the story itself carries no name."
        )
        said = "The evening clinic hours meant I could take my daughter without losing a shift."
        before = len(self.sandbox.slack.views("U0NBRS0001", callback_id="save_community_story"))
        self.ci("U0NBRS0001", f"story {said}")
        opened = wait_for(
            lambda: self.sandbox.slack.views("U0NBRS0001", callback_id="save_community_story")[before:], timeout=20
        )[-1]

        def chosen(value: str, kind: str = "radio_buttons") -> dict[str, Any]:
            return {"value": {"type": kind, "selected_option": {"value": value}}}

        values = {
            "cv_text": {"value": {"type": "plain_text_input", "value": said}},
            "cv_role": chosen("parent", "static_select"),
            "cv_credit": chosen("anonymous"),
            "cv_consent": chosen("yes"),
            "cv_indicator": chosen("er-visits", "static_select"),
            "cv_place": {"value": {"type": "plain_text_input", "value": "ZIP 75216"}},
        }
        self.n.out.write("\n  Luis fills in the form: a parent, anonymous, agreed to share it, about er-visits.\n")
        answer = self.send.submit("U0NBRS0001", {**opened["view"], "id": opened["view_id"]}, values).json()
        self.n.shows("The form says", render_blocks(answer.get("view", {}).get("blocks", [])))

    def show_dm(self, user: str, containing: str) -> None:
        """Wait for the app's DM to `user` (delivered through the outbox) and show it."""

        def arrived() -> list[dict[str, Any]]:
            return [m for m in self.sandbox.slack.dms(user) if containing in json.dumps(m)]

        try:
            message = wait_for(arrived, timeout=20)[-1]
        except AssertionError:
            return
        self.n.shows(f"{PEOPLE[user]} gets a DM", render_blocks(message.get("blocks", []), message.get("text", "")))

    def show_notion(self) -> None:
        pages = self.sandbox.notion.pages_in(DECISIONS_DB)
        lines = []
        for page in pages:
            props = page.get("properties", {})
            title = next(
                (
                    "".join(t.get("plain_text", "") for t in p.get("title", []))
                    for p in props.values()
                    if p.get("type") == "title"
                ),
                "",
            )
            lines.append(f"• {title[:80]}")
            body = self.sandbox.notion.page_text(page["id"])
            if body:
                lines.append(f"    {body[:120]}{'…' if len(body) > 120 else ''}")
        self.n.shows("Notion — Decisions database", lines or ["(no decisions mirrored)"])

    def show_sheets(self) -> None:
        titles = self.sandbox.sheets.worksheet_titles(SPREADSHEET)
        lines = [f"tabs: {', '.join(titles)}"]
        if "Values" in titles:
            for row in self.sandbox.sheets.values(SPREADSHEET, "Values")[:8]:
                # A withdrawn value's row has no value; its note says why.
                shown = row[:9] if len(row) > 8 and row[6] in ("", None) else row[:8]
                lines.append(" | ".join(str(c) for c in shown))
        self.n.shows("Google Sheets — the coalition's data", lines)


def run_demo(out: TextIO, keep: Path | None = None, on_ready: Callable[[Demo], None] | None = None) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ci-slackbot-demo-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        demo = Demo(out, workdir)
        try:
            demo.start()
            if on_ready:
                on_ready(demo)
            demo.play()
        finally:
            demo.stop()
    out.write(
        f"\nDone in {time.monotonic() - started:.1f} s. Try it for real: see README.md, “Set up the Slack app”.\n"
    )
    return 0
