"""Slack's requests over HTTP, checked before anything reads them.

1. The signature, with slack_sdk's `SignatureVerifier` over the raw body and Slack's 5-minute
   window: a request that fails is answered 401 and never parsed.
2. The body: JSON, or a form whose `payload` field is JSON. One that is not an object, not
   Unicode text, or shaped where Bolt looks to route it as Slack never sends it, is answered
   400: nobody in Slack is waiting for that answer.
3. Replays: Slack never sends a slash command or an interaction twice, so the same signature
   again is someone replaying a captured request. Each accepted signature is remembered for the
   window in the database (every process sees it), and a repeat is answered 200, empty, and
   otherwise ignored. The Events API's retries (`X-Slack-Retry-Num`) keep their own dedup by
   `event_id` (`first_delivery`). A slash command's signature is remembered by the first
   statement of the command's own transaction (`ReplayCheck`): one transaction a command, not
   two, which on SQLite is one write turn instead of two (bench/ack_latency.py).

Only then does Bolt see the request, already parsed: Bolt's own parser takes any form whose
text contains the word "payload" for an interaction payload, and loses a `/ci decide` that says it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltContext, BoltRequest
from slack_bolt.request.internals import build_context
from slack_sdk.signature import Clock, SignatureVerifier
from sqlalchemy import Insert, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ci_slackbot.store.db import Database
from ci_slackbot.store.models import SeenRequest

log = logging.getLogger(__name__)

# Slack's window: a request stamped further than this from now is refused (slack_sdk's own check).
WINDOW_SECONDS = 5 * 60
# How often a process purges remembered signatures that are past the window.
PURGE_EVERY_SECONDS = 60.0
# Runs a piece of work elsewhere than on the calling thread (a pool's `submit`).
Runner = Callable[[Callable[[], None]], object]

# A Unix time in seconds, as Slack stamps it. `int()` alone would take `1_700_000_000`, `١٢`,
# ` 12 ` or 5,000 digits (and raise on `1e10` or `abc`), none of which Slack sends.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Answer:
    """The answer to a request that goes no further than this module."""

    status: int
    reason: str  # short, and never any of the request itself


@dataclass(frozen=True)
class Accepted:
    request: BoltRequest
    # A slash command's replay check, left to its transaction; settled after Bolt has answered.
    replay_check: ReplayCheck | None = None


# Where a slash command's `ReplayCheck` waits for the Dispatcher in Bolt's context.
REPLAY_CHECK = "ci_slackbot_replay_check"


class MalformedBody(ValueError):
    """A signed body that is not a Slack payload."""


class SignedRequests:
    """Verifies, parses and de-duplicates what arrives on POST /slack/events (see the module docstring)."""

    def __init__(
        self, signing_secret: str, db: Database, *, clock: Clock | None = None, purge_in: Runner | None = None
    ) -> None:
        self.clock = clock or Clock()
        self.verifier = SignatureVerifier(signing_secret, clock=self.clock)
        self.seen = SeenRequests(db, self.clock.now, purge_in=purge_in)

    def check(self, body: bytes, headers: Mapping[str, str], query: str = "") -> Accepted | Answer:
        """`headers` with lower-case names, as Bolt keeps them."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not self._signed(body, timestamp, signature):
            return Answer(401, "invalid request signature")
        text = body.decode("utf-8")  # the verifier has decoded it already
        try:
            payload = parse_body(text, headers.get("content-type", ""))
            context = _context(payload)
        except MalformedBody as exc:
            return Answer(400, f"bad request: {exc}")
        retry = bool(headers.get("x-slack-retry-num")) and payload.get("type") == "event_callback"
        replay_check = None
        if _is_slash_command(payload):
            replay_check = ReplayCheck(self.seen, int(timestamp), signature)
            context[REPLAY_CHECK] = replay_check
        elif not retry and not self.seen.first_time(int(timestamp), signature):
            log.info("ignored a replayed request (signed at %s)", timestamp)
            return Answer(200, "")
        # The body as parsed here, not as Bolt's parser would take it (see the module docstring).
        request = BoltRequest(body="", query=query, headers=dict(headers))
        request.raw_body, request.body, request.context = text, payload, context
        return Accepted(request, replay_check)

    def _signed(self, body: bytes, timestamp: str, signature: str) -> bool:
        if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
            return False
        try:
            # The verifier decodes the body as UTF-8: a body that is not cannot be Slack's.
            return self.verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:
            return False


def _is_slash_command(payload: dict[str, Any]) -> bool:
    # Slack posts a slash command as a form with `command` and no `type`; whatever else names a
    # `command` (an event, an interaction) is checked before Bolt, as any other request.
    return isinstance(payload.get("command"), str) and "type" not in payload


def parse_body(text: str, content_type: str) -> dict[str, Any]:
    """A Slack body as Bolt's listeners read it: JSON (events), or a form (slash commands) whose
    `payload` field, when it has one, is the JSON of an interaction."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media != "application/x-www-form-urlencoded" and text.startswith("{")):
        return _json_object(text)
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except ValueError:
        raise MalformedBody("not a form") from None
    if "payload" in fields:
        return _json_object(fields["payload"])
    return fields


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedBody("not JSON") from None
    if not isinstance(value, dict):
        raise MalformedBody("not a JSON object")
    if _has_lone_surrogate(value):
        # JSON may escape half of a UTF-16 pair (`"\ud800"`): text no database or Slack can take.
        raise MalformedBody("text that is not Unicode")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# -- the envelope: where Bolt looks to route a payload and find its workspace, user and channel -----

_NONE = type(None)
_TOP_LEVEL: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "command": (str,),
    "callback_id": (str,),
    "trigger_id": (str,),
    "response_url": (str,),
    "challenge": (str,),
    "event_id": (str,),
    "team_id": (str, _NONE),
    "user_id": (str, _NONE),
    "channel_id": (str, _NONE),
    "enterprise_id": (str, _NONE),
    "is_enterprise_install": (bool, str, _NONE),
    "team": (dict, str, _NONE),
    "user": (dict, str, _NONE),
    "channel": (dict, str, _NONE),
    "enterprise": (dict, str, _NONE),
    "message": (dict, _NONE),
    "container": (dict, _NONE),
    "view": (dict,),
    "actions": (list,),
    "event": (dict,),
    "authorizations": (list,),
}
# Names and ids, which the app looks up: PostgreSQL can neither store nor compare a NUL character.
_NAMES = (
    "type",
    "command",
    "callback_id",
    "trigger_id",
    "event_id",
    "team_id",
    "user_id",
    "channel_id",
    "enterprise_id",
)
# Inside `team`, `user`, `channel`, `enterprise`, an event, an authorization or a view.
_IDS = ("id", "team_id", "user_id", "enterprise_id", "app_installed_team_id", "user_team", "bot_id", "subtype")
_EVENT_ACTORS = ("user", "channel", "team")
_REQUIRED_BY_TYPE = {
    "block_actions": "actions",
    "view_submission": "view",
    "view_closed": "view",
    "shortcut": "callback_id",
    "message_action": "callback_id",
    "event_callback": "event",
    "url_verification": "challenge",
}


def envelope_problem(payload: dict[str, Any]) -> str | None:
    """What in `payload` Bolt could not route or read (a shape Slack never sends), or None."""
    for key, kinds in _TOP_LEVEL.items():
        if key in payload and not isinstance(payload[key], kinds):
            return f"`{key}` has the wrong type"
        if key in _NAMES and "\x00" in (payload.get(key) or ""):
            return f"`{key}` holds a NUL character"
    required = _REQUIRED_BY_TYPE.get(str(payload.get("type")))
    if required and required not in payload:
        return f"`{required}` is missing"
    for key in ("team", "user", "channel", "enterprise", "view"):
        if isinstance(payload.get(key), dict) and (problem := _ids_problem(payload[key], key)):
            return problem
    for authorization in payload.get("authorizations", []):
        if not isinstance(authorization, dict) or _ids_problem(authorization, "authorization"):
            return "`authorizations` has the wrong shape"
    view = payload.get("view")
    if view is not None and not (isinstance(view.get("type"), str) and isinstance(view.get("callback_id", ""), str)):
        return "`view` has no type or callback_id"
    if "actions" in payload:
        # Bolt routes a click by its first action's id.
        first = payload["actions"][0] if payload["actions"] else None
        needs_id = payload.get("type") == "block_actions"
        if not isinstance(first, dict) or not isinstance(first.get("action_id", None if needs_id else ""), str):
            return "`actions` names no action"
    event = payload.get("event")
    if event is not None:
        if not isinstance(event.get("type"), str):
            return "`event` has no type"
        if problem := _ids_problem(event, "event"):
            return problem
        for key in _EVENT_ACTORS:
            actor = event.get(key)
            if not isinstance(actor, str | dict | None) or (isinstance(actor, dict) and _ids_problem(actor, key)):
                return f"`event.{key}` has the wrong type"
    return None


def _context(payload: dict[str, Any]) -> BoltContext:
    """Bolt's context for `payload` (its workspace, user, channel…), once the envelope is known to be sound."""
    if problem := envelope_problem(payload):
        raise MalformedBody(problem)
    try:
        return build_context(BoltContext({}), payload)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError):
        # Bolt reads further corners of a payload than the envelope covers (`response_urls`, a
        # Slack Connect event's actors…): one it cannot read is not Slack's either.
        raise MalformedBody("a payload Bolt cannot read") from None


def _ids_problem(part: dict[str, Any], name: str) -> str | None:
    for key in _IDS:
        if key in part and not isinstance(part[key], str | None):
            return f"`{name}.{key}` is not text"
        if "\x00" in (part.get(key) or ""):
            return f"`{name}.{key}` holds a NUL character"
    return None


_SEEN: Table = SeenRequest.__table__  # type: ignore[assignment]
# Built once, one per backend: a signature already there inserts nothing (a replay), and no error is
# raised and caught for it, nor an ORM object flushed for a row nobody reads back. Its values are named
# parameters, so that PostgreSQL's can also be made by another statement (`ReplayCheck.rides_along`).
_REMEMBER: dict[str, Insert] = {
    dialect.dialect.name: dialect.insert(_SEEN)
    .values(signature=bindparam("signature"), timestamp=bindparam("timestamp"))
    .on_conflict_do_nothing()
    .returning(_SEEN.c.signature)
    for dialect in (postgresql, sqlite)
}


class SeenRequests:
    """Signatures accepted within the window, in the database so that every process sees them.

    `purge_in` runs the purge of old ones off the request's thread (`serve` gives it the after-ack
    pool): otherwise the request that finds it due waits for it before its answer goes out. At
    500 commands a second a minute brings 30,000 signatures (53,000 took PostgreSQL 25 ms to
    delete here, alone), and on SQLite the DELETE holds the write turn every command waits for.
    """

    def __init__(self, db: Database, now: Callable[[], float] = time.time, *, purge_in: Runner | None = None) -> None:
        self.db = db
        self.now = now
        self.purge_in = purge_in
        self._next_purge = 0.0
        self._lock = threading.Lock()

    def first_time(self, timestamp: int, signature: str) -> bool:
        """Remember a signature; False when it was seen before (a replay)."""
        try:
            if not self._remember(timestamp, signature):
                return False
        except SQLAlchemyError as exc:
            # The database is down: the command will be answered with the failure anyway, and a
            # replay protection that blocked every request then would only hide it.
            log.warning("could not remember a request's signature: %s", type(exc).__name__)
            return True
        self.purge_if_due()
        return True

    def remember_in(self, session: Session, timestamp: int, signature: str) -> bool:
        """`_remember` as a statement of `session`'s transaction: kept if, and only if, it commits."""
        values = {"signature": signature, "timestamp": timestamp}
        return session.execute(_REMEMBER[self.db.engine.dialect.name], values).first() is not None

    def _remember(self, timestamp: int, signature: str) -> bool:
        """One INSERT that adds the signature unless it is there: True when it added it.

        Every request comes here before its command's own transaction. On PostgreSQL the INSERT runs
        alone in autocommit, one round trip instead of four (BEGIN, INSERT, COMMIT, and the pool's
        ping); a signature inserted at the same moment by another process makes it wait for that
        commit and insert nothing. SQLite writers take turns (`Database.serialised`) anyway.
        """
        engine = self.db.engine
        statement = _REMEMBER[engine.dialect.name]
        values = {"signature": signature, "timestamp": timestamp}
        if engine.dialect.name == "sqlite":
            with self.db.serialised(), engine.begin() as connection:
                return connection.execute(statement, values).first() is not None
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            return connection.execute(statement, values).first() is not None

    def purge_if_due(self) -> None:
        now = self.now()
        with self._lock:
            if now < self._next_purge:
                return
            self._next_purge = now + PURGE_EVERY_SECONDS
        # Twice the window: a request stamped up to 5 minutes ahead is still accepted, and the clocks
        # of two processes may disagree a little.
        cutoff = int(now) - 2 * WINDOW_SECONDS
        if self.purge_in is None:
            self._purge(cutoff)
            return
        # A pool shut down refuses it: the process is stopping, and the next one purges.
        with contextlib.suppress(RuntimeError):
            self.purge_in(partial(self._purge, cutoff))

    def _purge(self, cutoff: int) -> None:
        try:
            with self.db.unit_of_work() as session:
                session.execute(delete(SeenRequest).where(SeenRequest.timestamp < cutoff))
        except SQLAlchemyError as exc:
            log.warning("could not purge old request signatures: %s", type(exc).__name__)
        except Exception:
            log.exception("purging old request signatures failed")  # in a pool, it would go unseen


class ReplayCheck:
    """A slash command's replay check, made inside the command's own transaction.

    The Dispatcher calls `first_time_in` as the transaction's first statement (or, on PostgreSQL,
    makes the INSERT part of that statement: `rides_along`), and `committed` once it commits. Two
    copies of one command at once are told apart by the database: the second's INSERT waits for
    the first's transaction, and inserts nothing once that commits. `settle()`, after Bolt has
    answered, remembers the signature on its own where no transaction kept it (a refusal rolls
    back; no listener ran): a replay of that request is then ignored all the same.
    """

    def __init__(self, seen: SeenRequests, timestamp: int, signature: str) -> None:
        self.seen, self.timestamp, self.signature = seen, timestamp, signature
        self.kept = False

    @property
    def rides_along(self) -> bool:
        """On PostgreSQL the signature's INSERT is made by the transaction's first statement, the look-up
        of the initiative (a WITH that inserts), rather than by a statement of its own: one round trip
        less for every command. The Dispatcher then calls `noted` with what it wrote."""
        return self.seen.db.engine.dialect.name == "postgresql"

    def along(self) -> tuple[Insert, dict[str, object]]:
        """The INSERT … RETURNING that remembers the signature, and its values, for `rides_along`."""
        return _REMEMBER["postgresql"], {"signature": self.signature, "timestamp": self.timestamp}

    def first_time_in(self, session: Session) -> bool:
        """False when the signature was seen before: the request is a replay, and nothing else is done."""
        return self.noted(self.seen.remember_in(session, self.timestamp, self.signature))

    def noted(self, remembered: bool) -> bool:
        """What the transaction's INSERT did: False (a replay) when it remembered nothing."""
        if remembered:
            return True
        log.info("ignored a replayed request (signed at %s)", self.timestamp)
        self.kept = True  # by the request it replays
        return False

    def committed(self) -> None:
        self.kept = True

    def settle(self) -> None:
        if self.kept:
            self.seen.purge_if_due()
        else:
            self.seen.first_time(self.timestamp, self.signature)
