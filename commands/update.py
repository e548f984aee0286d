"""`/ci update`: report an indicator value, by text or through a modal, and tell its story."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.measurement import ValueParseError, parse_value
from ci_slackbot.domain.periods import PeriodError, PeriodReading, local_today, parse_period_words
from ci_slackbot.domain.stories import CURVE_FIELDS, StoryError, TurnTheCurve
from ci_slackbot.outbox import enqueue
from ci_slackbot.services.decisions import claim_submission
from ci_slackbot.services.measurement import (
    IndicatorView,
    MeasurementError,
    add_story,
    find_indicator,
    record_value,
    story_target,
    undo_report,
    withdraw_value,
)
from ci_slackbot.services.people import NotAllowedError, OrgRef, Person
from commands.grammar import UsageError, looks_like_period, refuse_split_key, split_pair, take_fraction, take_period
from commands.payload import STALE, record_id
from commands.router import Interaction, Invocation, Reply, Router, Subcommand, ViewAnswer, opening, replacing
from integrations.slack import measurement_blocks as views
from integrations.slack.escape import escape, unescape

log = logging.getLogger(__name__)

USAGE = "/ci update <indicator> <value or numerator of denominator> [<period>] [<dim>=<val> …] [note]"
WITHDRAW = "withdraw"
WITHDRAW_USAGE = "/ci update <indicator> withdraw [<period>] [<dim>=<val> …] [org=<key>]"


def _reportable(indicators: list[IndicatorView], person: Person) -> list[IndicatorView]:
    """The indicators this person's organizations report; backbone staff may report any."""
    if person.is_backbone:
        return indicators
    mine = {o.id for o in person.organizations}
    return [i for i in indicators if any(r.id in mine for r in i.reporters)]


def _organizations_for(person: Person, indicator: IndicatorView | None) -> list[OrgRef]:
    if indicator is None:
        return list(person.organizations)
    if person.is_backbone:
        return list(indicator.reporters)
    return [r for r in indicator.reporters if any(o.id == r.id for o in person.organizations)]


def _modal_for(request: Invocation | Interaction, key: str | None) -> dict[str, Any]:
    person, initiative = request.person, request.initiative
    person.require_member()
    indicators = _reportable(request.indicators(), person)
    if not indicators:
        raise MeasurementError("Your organization does not report any indicator yet; the backbone team assigns them.")
    selected = find_indicator(indicators, key) if key else (indicators[0] if len(indicators) == 1 else None)
    # The period partners report now: the last completed one, not the one still running.
    period = selected.window(initiative.timezone, request.services.now()).period if selected else None
    return views.update_modal(indicators, selected, _organizations_for(person, selected), period)


def _which_value(
    invocation: Invocation, indicator: IndicatorView
) -> tuple[PeriodReading | None, dict[str, str], str | None]:
    """`[<period>] [<dim>=<val> …] [org=<key>]`, after the value (or `withdraw`), the period before or after the pairs.

    A word that looks like a date or a period is the period it names, or refused: never the note.
    """
    words = invocation.words
    today = local_today(invocation.initiative.timezone, invocation.services.now())
    reading: PeriodReading | None = None
    breakdown: dict[str, str] = {}
    org_key = None
    while words.peek() is not None:
        pair = split_pair(words.peek() or "")
        if pair is not None:
            words.take("a breakdown")
            dimension, dim_value = pair
            if dimension == "org":
                org_key = dim_value
            else:
                breakdown[dimension] = dim_value
            continue
        if reading is not None:
            break
        reading = take_period(words, indicator.frequency, today, indicator.key)
        if reading is None:
            break
    if reading is not None and looks_like_period(words.peek() or ""):
        raise UsageError(
            f"Give one period: `{reading.period}` is already the period, and `{escape(unescape(words.peek() or ''))}` "
            "looks like another.",
            USAGE,
        )
    return reading, breakdown, org_key


def _withdraw(invocation: Invocation, indicator: IndicatorView) -> Reply:
    words = invocation.words
    words.take("withdraw")
    reading, breakdown, org_key = _which_value(invocation, indicator)
    if words.rest():
        raise UsageError("`withdraw` takes no note.", WITHDRAW_USAGE)
    undone = withdraw_value(
        invocation.session,
        invocation.initiative,
        invocation.person,
        indicator=indicator,
        period=reading.period if reading else None,
        breakdown=breakdown,
        organization_key=org_key,
        now=invocation.services.now(),
    )
    message = views.undone_message(undone)
    return Reply(text=message.text, blocks=message.blocks)


def update(invocation: Invocation) -> Reply:
    words = invocation.words
    person = invocation.person
    person.require_member()
    services = invocation.services
    if len(words.tokens) <= 1:
        # `/ci update` alone (or with just an indicator) opens the modal.
        return opening(invocation, _modal_for(invocation, words.peek()))
    indicators = invocation.indicators()
    refuse_split_key(words, [(i.key, i.name) for i in indicators], "/ci update", "indicator")
    indicator = find_indicator(indicators, words.take("the indicator"))
    if (words.peek() or "").lower() == WITHDRAW:
        return _withdraw(invocation, indicator)
    fraction = take_fraction(words)
    numerator: float | None
    denominator: float | None
    if fraction is not None:
        numerator, denominator = parse_fraction(*fraction)
        value = 0.0  # made from the fraction by record_value
    else:
        numerator = denominator = None
        value = parse_value(words.take("the value"), indicator.unit)
    reading, breakdown, org_key = _which_value(invocation, indicator)
    recorded = record_value(
        invocation.session,
        invocation.initiative,
        person,
        indicator=indicator,
        value=value,
        numerator=numerator,
        denominator=denominator,
        period=reading.period if reading else None,
        breakdown=breakdown,
        note=words.rest(),
        organization_key=org_key,
        entered_via="text",
        now=services.now(),
    )
    blocks = views.recorded_reply(recorded, assumed=reading.explanation() if reading else None)
    return Reply(text=f"Recorded {recorded.value:g} for {indicator.key}", blocks=blocks)


def parse_fraction(numerator: str, denominator: str) -> tuple[float, float]:
    """The two counts of `412 of 700`, each a plain number (not a percentage)."""
    parts = []
    for text, what in ((numerator, "numerator"), (denominator, "denominator")):
        if text.strip().endswith("%"):
            raise ValueParseError(
                f"`{escape(text)}` is a percentage: a rate is written as two counts, like `412 of 700`."
            )
        try:
            parts.append(parse_value(text, None))
        except ValueParseError:
            raise ValueParseError(
                f"The {what} `{escape(text)}` is not a number: write a rate as two counts, like `412 of 700` "
                "or `412/700`."
            ) from None
    return parts[0], parts[1]


def open_update_modal(interaction: Interaction) -> Reply:
    """A "Report" button (reminder DM, App Home): open the modal on that indicator."""
    return opening(interaction, _modal_for(interaction, interaction.action_value or None))


def indicator_options(interaction: Interaction) -> list[dict[str, Any]]:
    """What the form's indicator select offers for what the person typed: the indicators they report."""
    interaction.person.require_member()
    typed = str(interaction.payload.get("value") or "")
    return views.indicator_options(_reportable(interaction.indicators(), interaction.person), typed)


def pick_indicator(interaction: Interaction) -> Reply:
    """The indicator was chosen in the modal: rebuild it with that indicator's fields."""
    view = interaction.read.obj("view")
    if not view.text("id"):
        raise UsageError(STALE)  # no form to rebuild
    state = interaction.view_state()
    modal = _modal_for(interaction, state.get("indicator"))
    kept = {k: str(v) for k, v in state.items() if v and k in ("value", "numerator", "denominator", "note")}
    for block in modal["blocks"]:
        element = block.get("element", {})
        if block.get("block_id") in kept and element.get("type") == "plain_text_input":
            element["initial_value"] = kept[block["block_id"]]
    slack, view_id, view_hash = interaction.slack, view.text("id"), view.text("hash") or None

    def rebuild() -> None:  # after the commit, like every Web API call (see `_opening`)
        try:
            slack.views_update(view_id=view_id, hash=view_hash, view=modal)
        except SlackApiError as exc:
            # Closed, or changed by another click meanwhile (`hash_conflict`): the form the person sees stands.
            log.info("the update form was not rebuilt: %s", exc.response.get("error"))

    return Reply(text="", after=rebuild)


def submit_update(interaction: Interaction) -> ViewAnswer:
    state = interaction.view_state()
    person = interaction.person
    session, initiative, services = interaction.session, interaction.initiative, interaction.services
    indicators = _reportable(interaction.indicators(), person)
    errors: dict[str, str] = {}
    try:
        indicator = find_indicator(indicators, state.get("indicator") or "")
    except InputError as exc:
        return ViewAnswer(errors={"indicator": str(exc)[:150]})
    value = period = None
    numerator = denominator = None
    numerator_text = (state.get("numerator") or "").strip()
    denominator_text = (state.get("denominator") or "").strip()
    if numerator_text or denominator_text:
        if not (numerator_text and denominator_text):
            missing = "denominator" if numerator_text else "numerator"
            errors[missing] = f"Give both, like 412 of 700: the {missing} is missing."
        else:
            try:
                numerator, denominator = parse_fraction(numerator_text, denominator_text)
                value = 0.0  # made from the fraction by record_value
            except InputError as exc:
                errors["numerator"] = str(exc)[:150]
    else:
        try:
            value = parse_value((state.get("value") or "").strip(), indicator.unit)
        except InputError as exc:
            errors["value"] = str(exc)[:150]
    period_text = (state.get("period") or "").strip()
    assumed = None
    if period_text:
        try:
            today = local_today(initiative.timezone, services.now())
            reading = parse_period_words(indicator.frequency, period_text, today, indicator.key)
            period, assumed = reading.period, reading.explanation()
        except PeriodError as exc:
            errors["period"] = str(exc)[:150]
    breakdown = {
        key.split(":", 1)[1]: str(val).strip()
        for key, val in state.items()
        if key.startswith("breakdown:") and val and str(val).strip()
    }
    if errors or value is None:
        return ViewAnswer(errors=errors or {"value": "Enter a number."})
    try:
        # In a savepoint with the form's claim: refused, the claim goes with it and the form stays usable.
        with session.begin_nested():
            if interaction.view_id and not claim_submission(session, interaction.view_id):
                # The same form sent twice (a double click): the first recorded the value and says so.
                return ViewAnswer()
            recorded = record_value(
                session,
                initiative,
                person,
                indicator=indicator,
                value=value,
                numerator=numerator,
                denominator=denominator,
                period=period,
                breakdown=breakdown,
                note=(state.get("note") or "").strip(),
                organization_key=state.get("organization"),
                entered_via="modal",
                now=services.now(),
            )
    except (InputError, NotAllowedError) as exc:
        field = _field_for(str(exc))
        if field == "value" and numerator is not None:
            field = "numerator"
        return ViewAnswer(errors={field: str(exc)[:150]})
    # The form closes on this answer: what was recorded, with its Undo, comes in a DM. Queued with the
    # value, so that a 429 or a network error on the way is tried again rather than lost, and the
    # partner, hearing nothing, does not report it again.
    enqueue(
        session,
        initiative_id=initiative.id,
        service="slack",
        kind="post",
        key=f"slack:recorded:{recorded.value_id}:r{recorded.revision}",
        payload={
            "channel": interaction.user_id,
            "text": f"Recorded {recorded.value:g} for {indicator.key}",
            "blocks": views.recorded_reply(recorded, assumed=assumed),
        },
    )
    return ViewAnswer()


def _field_for(message: str) -> str:
    lowered = message.lower()
    if "period" in lowered or "started yet" in lowered:
        return "period"
    if "organization" in lowered or "org=" in lowered or "member" in lowered:
        return "organization" if "org=" in lowered else "value"
    return "value"


def open_story(interaction: Interaction) -> Reply:
    row = story_target(
        interaction.session, interaction.initiative, interaction.person, record_id(interaction.action_value)
    )
    indicator = next((i for i in interaction.indicators() if i.id == row.indicator_id), None)
    if indicator is None:
        raise UsageError("That indicator is no longer tracked, so its values take no story.")
    return opening(interaction, views.story_modal(row.id, indicator, row.period))


def submit_story(interaction: Interaction) -> ViewAnswer:
    value_id = record_id(interaction.metadata().get("value_id"))
    state = interaction.view_state()
    curve = TurnTheCurve(**{name: str(state.get(name) or "") for name in CURVE_FIELDS})
    try:
        add_story(
            interaction.session,
            interaction.initiative,
            interaction.person,
            value_id,
            str(state.get("story") or ""),
            curve,
            now=interaction.services.now(),
            submission_id=interaction.view_id,
        )
    except StoryError as exc:
        return ViewAnswer(errors={exc.field: str(exc)[:150]})
    except (InputError, NotAllowedError) as exc:
        return ViewAnswer(errors={"story": str(exc)[:150]})
    return ViewAnswer()


def _undo_target(value: str) -> tuple[int, int]:
    value_id, _, revision = value.partition(":")
    # Nine digits keep the id within every backend's integer column.
    if not (value_id.isdigit() and revision.isdigit() and len(value_id) <= 9 and len(revision) <= 9):
        raise UsageError("That button is out of date: report the right value with `/ci update`.")
    return int(value_id), int(revision)


def undo(interaction: Interaction) -> Reply:
    """The recorded value's Undo: the message is replaced by what was undone, after the commit."""
    value_id, revision = _undo_target(interaction.action_value)
    undone = undo_report(
        interaction.session,
        interaction.initiative,
        interaction.person,
        value_id,
        revision,
        now=interaction.services.now(),
    )
    return Reply(text="", after=replacing(interaction.response_url, views.undone_message(undone).build()))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "update",
            USAGE,
            "report a value for one of your organization's indicators; `/ci update` alone opens a form",
            update,
            ("/ci update er-visits 17.2", "/ci update home-visits 45% 2026-10 zip=75216 two new nurses"),
            who="members",
        ),
        listed=(
            Subcommand("update", "/ci update", "open a form to report a value", update, who="members"),
            Subcommand(
                "update",
                USAGE,
                "record a value; the period defaults to the last completed one, the one due",
                update,
                ("/ci update er-visits 17.2", "/ci update home-visits 45% 2026-10 zip=75216 two new nurses"),
                who="members",
            ),
            Subcommand(
                "update",
                WITHDRAW_USAGE,
                "take back a value sent by mistake: it counts nowhere until reported again",
                update,
                ("/ci update home-visits withdraw 2026-10 zip=75216",),
                who="members",
            ),
        ),
    )
    router.on_action(views.OPEN_UPDATE_MODAL, open_update_modal)
    router.on_action(views.PICK_INDICATOR, pick_indicator)
    router.on_options(views.PICK_INDICATOR, indicator_options)
    router.on_action(views.ADD_STORY, open_story)
    router.on_action(views.UNDO_VALUE, undo)
    router.on_view(views.UPDATE_MODAL, submit_update)
    router.on_view(views.STORY_MODAL, submit_story)
