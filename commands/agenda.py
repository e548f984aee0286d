"""`/ci agenda`: the common agenda — the Notion agenda page when one is set, else the initiative file.

The Notion page is read from the cache only; when the copy is missing or old,
a refresh starts after the answer has gone, so Slack never waits on Notion.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from ci_slackbot.services.agenda import cached_agenda, common_agenda
from ci_slackbot.store.models import Initiative
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.notion import refresh_agenda
from integrations.slack import agenda_blocks as views
from integrations.slack import blocks as bk
from integrations.slack.delivery import answer_through

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

USAGE = "/ci agenda"
# How long someone who asked while another's read of the page runs waits for it, to be answered from it.
WAIT_FOR_READ_SECONDS = 60.0
_NOT_READ = (
    "I could not read the agenda page from Notion just now, so the agenda above is the one in the "
    "initiative file. If this keeps happening, the backbone team can check that the page is shared "
    "with the integration."
)
# One read of an initiative's page at a time in this process, however many people ask.
_reading: dict[int, threading.Lock] = {}
_reading_guard = threading.Lock()


def _read_lock(initiative_id: int) -> threading.Lock:
    with _reading_guard:
        return _reading.setdefault(initiative_id, threading.Lock())


def _refresh_then_answer(services: Services, initiative_id: int, response_url: str | None) -> None:
    """Read the page now (after the ack), and send it to whoever asked when there was no copy yet.

    Asked while a read of the same page runs (someone else's `/ci agenda`, the scheduled refresh), the
    person is answered from that read once it is done: they were told the page would follow."""
    lock = _read_lock(initiative_id)
    if lock.acquire(blocking=False):
        try:
            fresh = refresh_agenda(services, initiative_id)
        except Exception:
            log.exception("reading the agenda page failed")
            fresh = False
        finally:
            lock.release()
    else:
        if not response_url or not lock.acquire(timeout=WAIT_FOR_READ_SECONDS):
            return  # nobody waits for this one, or the other read hangs: its own asker is told
        lock.release()
        fresh = True  # answered from the copy the other read kept, if it kept one
    if not response_url:
        return
    answer = None
    if fresh:
        with services.db.unit_of_work() as session:
            initiative = session.get(Initiative, initiative_id)
            cache = cached_agenda(session, initiative) if initiative is not None else None
            answer = views.notion_agenda(cache, services.now()) if cache is not None else None
    text, blocks = answer or (_NOT_READ, [bk.context(_NOT_READ)])
    _send(response_url, text, blocks)


def _send(response_url: str, text: str, blocks: list[bk.Block]) -> None:
    try:
        answer_through(response_url, text=text, blocks=blocks, response_type="ephemeral")
    except Exception:
        log.warning("could not follow up on /ci agenda", exc_info=True)


def handle(invocation: Invocation) -> Reply:
    services, initiative, session = invocation.services, invocation.initiative, invocation.session
    now = services.now()
    notion_on = bool(initiative.notion_agenda_page and services.settings.notion_enabled)
    cache = cached_agenda(session, initiative) if notion_on else None
    initiative_id = initiative.id
    if cache is not None:
        text, blocks = views.notion_agenda(cache, now)
        if now - cache.fetched_at <= timedelta(minutes=2 * services.settings.agenda_refresh_minutes):
            return Reply(text=text, blocks=blocks)

        def refresh() -> None:  # the job is late: catch up, for the next person who asks
            _refresh_then_answer(services, initiative_id, None)

        return Reply(text=text, blocks=blocks, after=refresh)
    if not notion_on:
        text, blocks = views.file_agenda(common_agenda(session, initiative))
        return Reply(text=text, blocks=blocks)
    response_url = invocation.response_url

    def first_read() -> None:
        _refresh_then_answer(services, initiative_id, response_url)

    note = "The agenda page in Notion has not been read yet; it is being read now and will follow here."
    text, blocks = views.file_agenda(common_agenda(session, initiative), note)
    return Reply(text=text, blocks=blocks, after=first_read)


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "agenda",
            USAGE,
            "the common agenda: vision, problem, goals and strategies (or the Notion agenda page)",
            handle,
            ("/ci agenda",),
        )
    )
