"""A fault campaign against a real `ci-slackbot serve`: outages of minutes, Slack's retries, kill -9.

A real `serve` (the app's own default retry, backoff and lease settings, nothing
shortened) runs the example initiative against the stand-ins of Slack, Notion and
Google Sheets, and is put through three phases:

1. Notion and Sheets down: both answer 503 for `--outage-minutes` while partners send
   `/ci update`s, backbone staff `/ci decide`s and people `/ci action add … @owner`s,
   in waves across the outage. Then both come back, each with a storm of `--storm` 429s
   (Retry-After: 1), and the time until every outbox row is delivered is measured.
2. Slack's retries: `--events` `app_home_opened` events, each delivered again with
   `X-Slack-Retry-Num` 1, 2, 3 and the same event id (every other one with the retries
   racing the first delivery), and `--modals` "Record as decision" modals, each
   submitted twice (every other one four times at once). Each must have one effect:
   one Home tab published per event, one decision per modal.
3. kill -9 during delivery, `--kills` times: with Notion and Sheets slowed down, the
   serve process is killed (SIGKILL, master and worker) while a Notion page is half
   written (long decisions: a create and appends) or while a Sheets write is in flight
   (alternately), and a new `serve` is started on the same database. Slack is kept
   refusing during a Notion kill, as tests/test_outbox.py does: a Slack post has no key
   to look it up by, so one cut between Slack's answer and our record of it would be
   posted again; the kills are aimed at the services whose writes are meant to survive
   them.

At the end the outbox is left to settle and every record is counted where it should be:
values in the database and once in the Sheets `Values` tab (with its value and
revision); decisions in the database, once as a Notion page (with the whole text), once
as a Slack announcement with one "it's in Notion" reply; action items in the database
and once as a DM to their owner. Printed: sent, acknowledged, recorded, present once,
lost, doubled, wrong; the stand-ins' requests and 5xx/429 answers; the outbox's claims
(delivery attempts) per service; the kills and what each caught; the drain times.

Exit status 1 if anything was lost, doubled or wrong, an ack was refused, or an outbox
row ended `failed` (parked).

Run:

    python bench/faults.py [--outage-minutes 2] [--commands 60] [--storm 20] [--events 10]
                           [--modals 4] [--kills 3] [--postgres] [--database URL]

SQLite by default (a fresh file in a temporary folder); `--postgres` uses a fresh
database on CI_SLACKBOT_TEST_POSTGRES_URL, `--database` an empty one you give. A
default run takes about 7 minutes: the outage itself, the backoff that follows
it, and after each kill the outbox lease (30 s; a spreadsheet's turn, 40 s) the dead
process's claims must run out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk import WebClient
from sqlalchemy import case, func, select

from bench.measurement import fresh_database
from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.outbox import DELIVERING, DONE, FAILED, PENDING
from ci_slackbot.sandbox.base import StandIn
from ci_slackbot.sandbox.world import (
    BOT_TOKEN,
    DECISIONS_DB,
    SPREADSHEET,
    Sandbox,
    ServeProcess,
    SlackSender,
    load_example,
    wait_for,
)
from ci_slackbot.services.sheet_layout import VALUES_COLUMNS, VALUES_TAB
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ActionItem, Decision, IndicatorValue, OutboxItem

TZ = "America/Chicago"
BACKBONE, HOSPITAL, HOSPITAL_2 = "U0BACK0001", "U0CHLD0001", "U0CHLD0002"
NURSE, NEIGHBOR, NEIGHBOR_2, CITY = "U0DISD0001", "U0NBRS0001", "U0NBRS0002", "U0CITY0001"
DECISIONS_CHANNEL = "C0DECIDE01"
QUIET = {"CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": "off", "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off"}
# Partners reporting their own monthly indicators (the example initiative's reporters).
REPORTERS = [(HOSPITAL, "er-visits"), (HOSPITAL_2, "home-visits"), (NEIGHBOR, "home-visits")]
# Action items assigned to someone else, so that each one is also a DM to its owner.
ASSIGNMENTS = [(NEIGHBOR, HOSPITAL_2), (HOSPITAL, NEIGHBOR_2), (CITY, NURSE)]
HOME_USERS = [HOSPITAL, NURSE, NEIGHBOR, CITY]
FENCE_USER = "U0BACK0002"  # a later, different delivery: once it has had its effect, retries before it have too
ID, VALUE, REVISION = (VALUES_COLUMNS.index(c) for c in ("Value ID", "Value", "Revision"))
WAVES = 4
# Long enough for a create and two appends (100 blocks a request), so a kill can land between them.
LONG_DECISION_LINES = 260
NOTION_SLOW, SHEETS_SLOW = 0.3, 3.0
SETTLE_TIMEOUT = 1800.0


# -- what was sent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    kind: str  # "value", "decision", "action"
    tag: str  # unique across the run, carried in the record's text
    text: str
    acked: bool
    owner: str | None = None


@dataclass
class Kill:
    target: str
    caught: str
    not_done_at_kill: int
    drain_seconds: float = 0.0


@dataclass
class Trial:
    what: str
    deliveries: int
    effects: int


@dataclass
class Phase:
    name: str
    seconds: float
    requests: dict[str, tuple[int, int, int]]  # stand-in → (requests, 5xx, 429)


@dataclass(frozen=True)
class Check:
    kind: str  # "value", "decision", "action"
    record: str
    place: str
    expected: int
    once: int
    lost: int
    doubled: int
    wrong: int = 0

    @property
    def bad(self) -> bool:
        return bool(self.lost or self.doubled or self.wrong)


@dataclass
class Campaign:
    sandbox: Sandbox
    db: Database
    url: str
    log_dir: Path
    server: ServeProcess
    send: SlackSender
    marker: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    sent: list[Sent] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    drains: list[tuple[str, float]] = field(default_factory=list)
    counter: int = 0
    mixed: int = 0  # commands sent by send_mix so far, so that the proportions hold across waves

    def tag(self, kind: str) -> str:
        self.counter += 1
        return f"{self.marker}-{kind}{self.counter:04d}"

    @property
    def tag_pattern(self) -> re.Pattern[str]:
        return re.compile(rf"{self.marker}-[VDA]\d{{4}}")

    # -- sending -----------------------------------------------------------------------------

    def update(self, i: int) -> Sent:
        user, indicator = REPORTERS[i % len(REPORTERS)]
        tag = self.tag("V")
        period = Period.current(Frequency.MONTHLY, TZ).shift(-(1 + i % 12))
        # A ZIP of its own makes every update a new value, so each is one row in the sheet.
        text = f"update {indicator} {10 + i % 40} {period} zip=Z{tag.replace('-', '')} faults bench"
        answer = self.send.ci(text, user=user)
        return Sent("value", tag, text, "Recorded" in answer.get("text", ""))

    def decide(self, long: bool = False) -> Sent:
        tag = self.tag("D")
        text = f"Faults bench decision ({tag}): the pilot keeps going"
        if long:
            text += "\n" + "\n".join(f"Point {p} of decision {tag}." for p in range(LONG_DECISION_LINES))
        answer = self.send.ci(f"decide {text}", user=BACKBONE)
        return Sent("decision", tag, text, "is recorded" in answer.get("text", ""))

    def add_action(self, i: int) -> Sent:
        by, owner = ASSIGNMENTS[i % len(ASSIGNMENTS)]
        tag = self.tag("A")
        text = f"Call the clinic about the inhaler refills ({tag})"
        answer = self.send.ci(f"action add {text} <@{owner}>", user=by)
        return Sent("action", tag, text, "Added action item" in answer.get("text", ""), owner=owner)

    def send_mix(self, count: int) -> None:
        """`count` commands, in a coalition's proportions: mostly reports, some decisions and actions."""
        for i in range(self.mixed, self.mixed + count):
            slot = i % 6
            if slot == 4:
                self.sent.append(self.decide())
            elif slot == 5:
                self.sent.append(self.add_action(i))
            else:
                self.sent.append(self.update(i))
        self.mixed += count

    def restart(self) -> None:
        self.server = ServeProcess(self.url, self.server.env_extra).start(self.log_dir)
        self.send = SlackSender(self.server.events_url, self.sandbox.slack)

    # -- reading the outbox ------------------------------------------------------------------

    def outbox(self) -> Counter[tuple[str, str]]:
        with self.db.unit_of_work() as session:
            return Counter(
                (service, status) for service, status in session.execute(select(OutboxItem.service, OutboxItem.status))
            )

    def settled(self) -> bool:
        """Nothing left to try: every row done, or parked (which the final count reports)."""
        return not any(status in (PENDING, DELIVERING) for (_, status) in self.outbox())

    def wait_settled(self, label: str, since: float) -> float:
        wait_for(self.settled, timeout=SETTLE_TIMEOUT, interval=0.25)
        seconds = time.monotonic() - since
        self.drains.append((label, seconds))
        return seconds

    def service_done(self, service: str) -> bool:
        return all(status == DONE for (kind, status) in self.outbox() if kind == service)


def stand_ins(sandbox: Sandbox) -> dict[str, StandIn]:
    return {"Slack": sandbox.slack, "Notion": sandbox.notion, "Sheets": sandbox.sheets}


def request_totals(sandbox: Sandbox) -> dict[str, tuple[int, int, int]]:
    totals = {}
    for name, stand_in in stand_ins(sandbox).items():
        log = stand_in.requests()
        totals[name] = (len(log), sum(1 for e in log if e.status >= 500), sum(1 for e in log if e.status == 429))
    return totals


def since(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    return {name: tuple(a - b for a, b in zip(after[name], before[name], strict=True)) for name in after}


def phase(campaign: Campaign, name: str, run: Callable[[], None]) -> None:
    print(f"-- {name}", flush=True)
    before, started = request_totals(campaign.sandbox), time.monotonic()
    run()
    seconds = time.monotonic() - started
    campaign.phases.append(Phase(name, seconds, since(before, request_totals(campaign.sandbox))))
    print(f"   ({seconds:.0f} s)", flush=True)


# -- phase 1: Notion and Sheets down ----------------------------------------------------------


def outage_phase(campaign: Campaign, minutes: float, commands: int, storm: int) -> None:
    notion, sheets = campaign.sandbox.notion, campaign.sandbox.sheets
    notion.faults.outage(503)
    sheets.faults.outage(503)
    started = time.monotonic()
    outage = minutes * 60
    # Waves across the first three quarters of the outage: work keeps arriving while it lasts,
    # and the first wave has been refused (and backed off) for the whole of it.
    for wave in range(WAVES):
        due = started + wave * outage * 0.75 / WAVES
        while time.monotonic() < due:  # pacing the scenario, not waiting for work
            time.sleep(min(1.0, due - time.monotonic()))
        share = commands // WAVES + (1 if wave < commands % WAVES else 0)
        campaign.send_mix(share)
    while time.monotonic() < started + outage:
        time.sleep(min(1.0, started + outage - time.monotonic()))
    refused = request_totals(campaign.sandbox)
    print(f"   outage over: Notion answered {refused['Notion'][1]} 5xx, Sheets {refused['Sheets'][1]} 5xx so far")
    notion.faults.restore()
    sheets.faults.restore()
    restored = time.monotonic()
    # Back, but busy: a storm of 429s right after, as a service recovering does.
    notion.faults.throttle_next(storm, retry_after=1)
    sheets.faults.throttle_next(storm, retry_after=1)
    seconds = campaign.wait_settled(f"after the {minutes:g}-minute Notion+Sheets outage", restored)
    print(f"   outbox drained {seconds:.1f} s after Notion and Sheets came back")


# -- phase 2: Slack's retries -----------------------------------------------------------------


def publishes(campaign: Campaign, user: str) -> int:
    calls = campaign.sandbox.slack.calls("views.publish")
    return len([c for c in calls if c["params"].get("user_id") == user and c["ok"]])


def home_opened(user: str) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D0HOME0001", "tab": "home"}


def fence(campaign: Campaign) -> None:
    """Wait for a later delivery's effect: the listener pool runs deliveries in order of arrival."""
    before = publishes(campaign, FENCE_USER)
    assert campaign.send.event(home_opened(FENCE_USER)).status_code == 200
    wait_for(lambda: publishes(campaign, FENCE_USER) > before, timeout=30)


def retried_event(campaign: Campaign, n: int) -> Trial:
    user = HOME_USERS[n % len(HOME_USERS)]
    before = publishes(campaign, user)
    event_id = "Ev" + uuid.uuid4().hex[:10].upper()
    racing = n % 2 == 1
    if racing:
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda retry: campaign.send.event(home_opened(user), event_id=event_id, retry=retry or None),
                    range(4),
                )
            )
    else:
        answers = [campaign.send.event(home_opened(user), event_id=event_id)]
        wait_for(lambda: publishes(campaign, user) > before, timeout=30)
        answers += [campaign.send.event(home_opened(user), event_id=event_id, retry=r) for r in (1, 2, 3)]
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    fence(campaign)
    what = "app_home_opened, retries racing" if racing else "app_home_opened, retried later"
    return Trial(what, len(answers), publishes(campaign, user) - before)


def decision_modal(campaign: Campaign, text: str) -> dict[str, Any]:
    """Post a message, use "Record as decision" on it; the modal Slack opened, with its id."""
    slack = campaign.sandbox.slack
    ts = str(WebClient(token=BOT_TOKEN, base_url=slack.url).chat_postMessage(channel="C0GENERAL", text=text)["ts"])
    opened_before = len(slack.views(BACKBONE, callback_id="record_decision"))
    response = campaign.send.interaction(
        {
            "type": "message_action",
            "callback_id": "record_decision",
            "trigger_id": slack.new_trigger_id(BACKBONE),
            "user": {"id": BACKBONE},
            "channel": {"id": "C0GENERAL"},
            "message": {"type": "message", "ts": ts, "user": NURSE, "text": text},
            "response_url": slack.response_url(uuid.uuid4().hex),
        }
    )
    assert response.status_code == 200, response.text
    opened = wait_for(lambda: slack.views(BACKBONE, callback_id="record_decision")[opened_before:], timeout=15)[-1]
    return {**opened["view"], "id": opened["view_id"]}


def decisions_holding(campaign: Campaign, tag: str) -> int:
    with campaign.db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).where(Decision.text.contains(tag))) or 0)


def submitted_twice(campaign: Campaign, n: int) -> Trial:
    tag = campaign.tag("D")
    text = f"Faults bench modal decision ({tag}): we meet monthly"
    view = decision_modal(campaign, text)
    state = {"decision_text": {"text": {"type": "plain_text_input", "value": text}}}
    racing = n % 2 == 1
    submits = 4 if racing else 2
    if racing:
        with ThreadPoolExecutor(submits) as pool:
            answers = list(pool.map(lambda _: campaign.send.submit(BACKBONE, view, state), range(submits)))
    else:
        answers = [campaign.send.submit(BACKBONE, view, state) for _ in range(submits)]
    acked = all(a.status_code == 200 and a.json().get("response_action") == "update" for a in answers)
    campaign.sent.append(Sent("decision", tag, text, acked))
    what = "decision modal, submits racing" if racing else "decision modal, submitted again"
    return Trial(what, submits, decisions_holding(campaign, tag))


def retries_phase(campaign: Campaign, events: int, modals: int) -> None:
    for n in range(events):
        campaign.trials.append(retried_event(campaign, n))
    for n in range(modals):
        campaign.trials.append(submitted_twice(campaign, n))
    started = time.monotonic()
    campaign.wait_settled("after the Slack retries", started)


# -- phase 3: kill -9 during delivery ---------------------------------------------------------


def sheet_writes(sheets: Any) -> tuple[int, int]:
    """POSTs to the spreadsheet that have arrived, and that have been answered."""
    prefix = f"/v4/spreadsheets/{SPREADSHEET}"
    with sheets.lock:
        arrived = sum(1 for a in sheets.arrivals if a.method == "POST" and a.path.startswith(prefix))
        answered = sum(1 for e in sheets.log if e.method == "POST" and e.path.startswith(prefix))
    return arrived, answered


def kill_during_notion(campaign: Campaign, round_no: int) -> Kill:
    sandbox = campaign.sandbox
    round_sent = [campaign.decide(long=True) for _ in range(2)] + [campaign.add_action(round_no)]
    campaign.sent.extend(round_sent)
    # The announcements and DMs go out first; then Slack refuses, so the kill lands in Notion.
    wait_for(lambda: campaign.service_done("slack"), timeout=120, interval=0.1)
    sandbox.slack.faults.outage(503)
    tags = [s.tag for s in round_sent if s.kind == "decision"]

    def half_written() -> list[tuple[str, int]]:
        found = []
        for page in sandbox.notion.pages_in(DECISIONS_DB):
            blocks = len(sandbox.notion.children(page["id"]))
            if 0 < blocks < LONG_DECISION_LINES + 1 and any(t in sandbox.notion.page_text(page["id"]) for t in tags):
                found.append((page["id"], blocks))
        return found

    caught = wait_for(half_written, timeout=180, interval=0.05)
    not_done = sum(n for (_, status), n in campaign.outbox().items() if status != DONE)
    campaign.server.kill()
    blocks = ", ".join(f"{b} of {LONG_DECISION_LINES + 1} blocks" for _, b in caught)
    return Kill("Notion", f"page half written ({blocks})", not_done)


def kill_during_sheets(campaign: Campaign, round_no: int, updates: int) -> Kill:
    sandbox = campaign.sandbox
    arrived_before, _ = sheet_writes(sandbox.sheets)
    for i in range(updates):
        campaign.sent.append(campaign.update(1000 * round_no + i))

    def write_in_flight() -> bool:
        arrived, answered = sheet_writes(sandbox.sheets)
        return arrived > arrived_before and arrived > answered

    wait_for(write_in_flight, timeout=180, interval=0.02)
    not_done = sum(n for (_, status), n in campaign.outbox().items() if status != DONE)
    campaign.server.kill()
    return Kill("Sheets", "a values write sent to Sheets, not yet answered", not_done)


def kill_phase(campaign: Campaign, kills: int, updates: int) -> None:
    sandbox = campaign.sandbox
    for round_no in range(kills):
        sandbox.notion.faults.slow(NOTION_SLOW)
        sandbox.sheets.faults.slow(SHEETS_SLOW)
        if round_no % 2 == 0:
            kill = kill_during_notion(campaign, round_no)
        else:
            kill = kill_during_sheets(campaign, round_no, updates)
        for stand_in in stand_ins(sandbox).values():
            stand_in.faults.restore()
        restarted = time.monotonic()
        campaign.restart()
        kill.drain_seconds = campaign.wait_settled(f"after kill {round_no + 1} ({kill.target})", restarted)
        campaign.kills.append(kill)
        print(
            f"   kill {round_no + 1}: {kill.target}, {kill.caught}; {kill.not_done_at_kill} rows not done; "
            f"drained {kill.drain_seconds:.1f} s after the restart",
            flush=True,
        )


# -- counting ---------------------------------------------------------------------------------


def count_once(
    kind: str, record: str, place: str, expected: Sequence[str], found: Counter[str], wrong: int = 0
) -> Check:
    return Check(
        kind,
        record,
        place,
        expected=len(expected),
        once=sum(1 for t in expected if found[t] == 1),
        lost=sum(1 for t in expected if found[t] == 0),
        doubled=sum(1 for t in expected if found[t] > 1),
        wrong=wrong,
    )


def tags_in(pattern: re.Pattern[str], text: str) -> set[str]:
    return set(pattern.findall(text))


def check_values(campaign: Campaign, sent: list[Sent]) -> list[Check]:
    tags = [s.tag for s in sent]
    zip_to_tag = {"Z" + s.tag.replace("-", ""): s.tag for s in sent}
    with campaign.db.unit_of_work() as session:
        rows = [
            (v.id, v.value, v.revision, str((v.breakdown or {}).get("zip", "")))
            for v in session.scalars(select(IndicatorValue))
        ]
    in_db = Counter(zip_to_tag[z] for _, _, _, z in rows if z in zip_to_tag)
    tag_of = {value_id: zip_to_tag[z] for value_id, _, _, z in rows if z in zip_to_tag}
    current = {value_id: (value, revision) for value_id, value, revision, _ in rows}
    sheet_rows = [r for r in campaign.sandbox.sheets.values(SPREADSHEET, VALUES_TAB)[1:] if r]
    in_sheet: Counter[str] = Counter()
    wrong = 0
    for row in sheet_rows:
        value_id = int(row[ID])
        if value_id in tag_of:
            in_sheet[tag_of[value_id]] += 1
            if (float(row[VALUE]), int(row[REVISION])) != current[value_id]:
                wrong += 1
    return [
        count_once("value", "values (/ci update)", "database", tags, in_db),
        count_once("value", "", 'Sheets "Values" rows', tags, in_sheet, wrong),
    ]


def check_decisions(campaign: Campaign, sent: list[Sent]) -> list[Check]:
    tags = [s.tag for s in sent]
    text_of = {s.tag: s.text for s in sent}
    pattern = campaign.tag_pattern
    with campaign.db.unit_of_work() as session:
        texts = list(session.scalars(select(Decision.text)))
    in_db = Counter(t for text in texts for t in tags_in(pattern, text))
    notion = campaign.sandbox.notion
    in_notion: Counter[str] = Counter()
    incomplete = 0
    keys: Counter[str] = Counter()
    for page in notion.pages_in(DECISIONS_DB):
        page_text = notion.page_text(page["id"])
        keys.update(t["plain_text"] for t in page["properties"]["ci-slackbot key"]["rich_text"][:1])
        for tag in tags_in(pattern, page_text.split("\n", 1)[0]):
            in_notion[tag] += 1
            if tag in text_of and page_text != text_of[tag]:
                incomplete += 1
    doubled_keys = sum(1 for n in keys.values() if n > 1)
    messages = campaign.sandbox.slack.messages(DECISIONS_CHANNEL)
    announcements = [m for m in messages if m.get("thread_ts") in (None, m["ts"])]
    replies = Counter(m["thread_ts"] for m in messages if m.get("thread_ts") not in (None, m["ts"]))
    announced: Counter[str] = Counter()
    replied: Counter[str] = Counter()
    for message in announcements:
        for tag in tags_in(pattern, json.dumps(message)):
            announced[tag] += 1
            replied[tag] += replies[message["ts"]]
    return [
        count_once("decision", "decisions (/ci decide, modal)", "database", tags, in_db),
        count_once("decision", "", "Notion pages (whole text)", tags, in_notion, incomplete + doubled_keys),
        count_once("decision", "", "Slack announcements", tags, announced),
        count_once("decision", "", '"in Notion" thread replies', tags, replied),
    ]


def check_actions(campaign: Campaign, sent: list[Sent]) -> list[Check]:
    tags = [s.tag for s in sent]
    pattern = campaign.tag_pattern
    with campaign.db.unit_of_work() as session:
        texts = list(session.scalars(select(ActionItem.text)))
    in_db = Counter(t for text in texts for t in tags_in(pattern, text))
    dms: Counter[str] = Counter()
    wrong_owner = 0
    slack = campaign.sandbox.slack
    owners = {s.owner for s in sent if s.owner}
    owner_of = {s.tag: s.owner for s in sent}
    for owner in owners:
        for message in slack.dms(owner or ""):
            # The DM quotes the item's text in its fallback text and again in its blocks: one tag per message.
            for tag in tags_in(pattern, json.dumps(message)):
                dms[tag] += 1
                if owner_of.get(tag) != owner:
                    wrong_owner += 1
    return [
        count_once("action", "action items (/ci action add)", "database", tags, in_db),
        count_once("action", "", "Slack DMs to their owners", tags, dms, wrong_owner),
    ]


def outbox_rows(campaign: Campaign) -> list[tuple[str, int, int, int]]:
    """Per service: rows, claims (delivery attempts: every claim counts one, never reset), parked."""
    with campaign.db.unit_of_work() as session:
        # Any: SQLAlchemy types the sums as plain objects; int() below makes them numbers.
        rows: list[Any] = list(
            session.execute(
                select(
                    OutboxItem.service,
                    func.count(),
                    func.sum(OutboxItem.claims),
                    func.sum(case((OutboxItem.status == FAILED, 1), else_=0)),
                )
                .group_by(OutboxItem.service)
                .order_by(OutboxItem.service)
            )
        )
    return [(str(service), int(n), int(claims or 0), int(failed or 0)) for service, n, claims, failed in rows]


# -- the report -------------------------------------------------------------------------------


def report(campaign: Campaign, wall: float) -> bool:
    by_kind: dict[str, list[Sent]] = {"value": [], "decision": [], "action": []}
    for sent in campaign.sent:
        by_kind[sent.kind].append(sent)
    checks = (
        check_values(campaign, by_kind["value"])
        + check_decisions(campaign, by_kind["decision"])
        + check_actions(campaign, by_kind["action"])
    )
    refused = sum(1 for s in campaign.sent if not s.acked)

    print()
    print(f"== counts (campaign {campaign.marker}, {wall / 60:.1f} minutes)")
    print(f"  {'record':<31}{'where':<28}{'sent':>6}{'acked':>7}{'once':>7}{'lost':>6}{'doubled':>9}{'wrong':>7}")
    for check in checks:
        sent_here = by_kind[check.kind]
        sent_cell = f"{len(sent_here)}" if check.record else ""
        acked_cell = f"{sum(1 for s in sent_here if s.acked)}" if check.record else ""
        print(
            f"  {check.record:<31}{check.place:<28}{sent_cell:>6}{acked_cell:>7}{check.once:>7}"
            f"{check.lost:>6}{check.doubled:>9}{check.wrong:>7}"
        )
    print("  (wrong: Sheets row with another value or revision than the database; Notion page not the whole")
    print("   text, or a key on two pages; DM to someone other than the owner)")

    print()
    print("== Slack's retries: one effect each")
    trials: dict[str, list[Trial]] = {}
    for trial in campaign.trials:
        trials.setdefault(trial.what, []).append(trial)
    bad_trials = 0
    for what, group in trials.items():
        ones = sum(1 for t in group if t.effects == 1)
        bad_trials += len(group) - ones
        deliveries = sum(t.deliveries for t in group)
        effects = sum(t.effects for t in group)
        print(
            f"  {what:<36}{len(group):>3} tried, {deliveries:>3} deliveries, {effects:>3} effects, "
            f"{ones} with exactly one"
        )

    print()
    print("== stand-ins: requests answered (5xx, 429)")
    for item in campaign.phases:
        cells = " · ".join(f"{name} {n} ({e5} 5xx, {e4} 429)" for name, (n, e5, e4) in item.requests.items())
        print(f"  {item.name:<34}{cells}")
    totals = request_totals(campaign.sandbox)
    cells = " · ".join(f"{name} {n} ({e5} 5xx, {e4} 429)" for name, (n, e5, e4) in totals.items())
    print(f"  {'whole run (with start-ups)':<34}{cells}")

    print()
    print("== outbox: rows, delivery attempts (claims: a batch of n rows tried once is n), parked")
    parked = 0
    for service, rows, claims, failed in outbox_rows(campaign):
        parked += failed
        print(f"  {service:<8}{rows:>5} rows, {claims:>5} claims, {failed} parked (failed)")

    print()
    print(f"== kills: {len(campaign.kills)}")
    for n, kill in enumerate(campaign.kills, 1):
        print(f"  {n}. {kill.target}: {kill.caught}; {kill.not_done_at_kill} outbox rows not done at the kill")
    print()
    print("== drain times (until no outbox row is pending or being delivered)")
    for label, seconds in campaign.drains:
        print(f"  {label:<48}{seconds:7.1f} s")

    lost = sum(c.lost for c in checks)
    doubled = sum(c.doubled for c in checks)
    wrong = sum(c.wrong for c in checks)
    failed = bool(lost or doubled or wrong or refused or parked or bad_trials)
    print()
    print(
        f"== {'FAIL' if failed else 'OK'}: {lost} lost, {doubled} doubled, {wrong} wrong, {refused} acks refused, "
        f"{parked} parked, {bad_trials} retried deliveries without exactly one effect"
    )
    return not failed


def run(args: argparse.Namespace, url: str, log_dir: Path) -> bool:
    sandbox = Sandbox.start()
    load_example(url)
    db = Database(url)
    server = ServeProcess(url, {**sandbox.env(), **QUIET}).start(log_dir)
    campaign = Campaign(sandbox, db, url, log_dir, server, SlackSender(server.events_url, sandbox.slack))
    started = time.monotonic()
    try:
        phase(
            campaign,
            f"Notion and Sheets down {args.outage_minutes:g} min",
            lambda: outage_phase(campaign, args.outage_minutes, args.commands, args.storm),
        )
        phase(campaign, "Slack retries", lambda: retries_phase(campaign, args.events, args.modals))
        phase(campaign, f"kill -9 x{args.kills}", lambda: kill_phase(campaign, args.kills, args.kill_updates))
        wait_for(campaign.settled, timeout=SETTLE_TIMEOUT, interval=0.25)
        return report(campaign, time.monotonic() - started)
    except BaseException:
        print(f"serve log ({campaign.server.log_path}):\n{campaign.server.logs()[-4000:]}", file=sys.stderr)
        raise
    finally:
        campaign.server.stop()
        db.dispose()
        sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage-minutes", type=float, default=2.0, help="how long Notion and Sheets are down")
    parser.add_argument("--commands", type=int, default=60, help="commands sent during the outage")
    parser.add_argument("--storm", type=int, default=20, help="429s from each of Notion and Sheets after the outage")
    parser.add_argument("--events", type=int, default=10, help="app_home_opened events, each delivered 4 times")
    parser.add_argument("--modals", type=int, default=4, help="decision modals, each submitted 2 or 4 times")
    parser.add_argument("--kills", type=int, default=3, help="kill -9s during delivery, alternately Notion and Sheets")
    parser.add_argument("--kill-updates", type=int, default=10, help="updates sent before each Sheets kill")
    parser.add_argument("--postgres", action="store_true", help="a fresh database on CI_SLACKBOT_TEST_POSTGRES_URL")
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database")
    args = parser.parse_args()
    kind = "postgresql" if args.postgres else "sqlite"
    print(f"== {args.database or kind}", flush=True)
    with tempfile.TemporaryDirectory() as logs, fresh_database(kind, args.database) as url:
        ok = run(args, url, Path(logs))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
