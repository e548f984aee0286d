"""Delivering the digest's chart: one PNG of the headline indicators, posted after the digest.

The outbox item (service `slack`, kind `digest_chart`, one key per digest slot)
carries the chart's numbers, not the picture: the PNG is drawn here, off the
request path, and drawing the same numbers again gives the same picture.

The upload is the three steps of `files_upload_v2` done one by one so that a
retry can tell whether an earlier attempt got through: the file id is stored on
the outbox row before the bytes are sent, and a retry that finds that file
completed (shared in the channel) does not upload it again. A file whose upload
never completed is invisible in Slack, so starting over then cannot show twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ci_slackbot.chart_drawer import ChartTimeout
from ci_slackbot.outbox import DONE, FAILED, DeliveryError, Item, Registry
from ci_slackbot.services.digest import ChartPanel
from ci_slackbot.store.models import OutboxItem
from integrations.slack.delivery import client_for, slack_error
from integrations.slack.parked import explain

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

KIND = "digest_chart"
FILENAME = "headline-indicators.png"


def chart_payload(
    *, channel: str, after_key: str, title: str, alt_text: str, panels: Sequence[ChartPanel], left_out: int
) -> dict[str, Any]:
    """What the outbox row holds: where to post, after which message, and the numbers to draw."""
    return {
        "channel": channel,
        "after_key": after_key,
        "title": title,
        "alt_text": alt_text,
        "left_out": left_out,
        "panels": [p.to_json() for p in panels],
    }


def render(payload: dict[str, Any]) -> bytes:
    from ci_slackbot.charts import HeadlinePanel, headline_chart  # matplotlib loads only where charts are drawn

    panels = [ChartPanel.from_json(p) for p in payload.get("panels", [])]
    return headline_chart(
        [HeadlinePanel(p.key, p.unit, p.direction, p.points, p.baseline, p.target) for p in panels],
        title=str(payload.get("title", "Headline indicators")),
        left_out=int(payload.get("left_out", 0)),
    )


def _wait_for_message(services: Services, key: str) -> None:
    """The chart belongs after its digest: wait until that message is posted."""
    with services.db.unit_of_work() as session:
        found = session.query(OutboxItem.status, OutboxItem.cause).filter(OutboxItem.idempotency_key == key).first()
    status, cause = found if found is not None else (None, None)
    if status == FAILED:
        # Parked for its digest's cause: told once with it, retried with it.
        raise DeliveryError(
            f"the digest message {key} could not be posted, so neither is its chart", retryable=False, cause=cause
        )
    if status != DONE:
        raise DeliveryError(f"waiting for the digest message {key} to be posted first")


def _earlier_file(services: Services, item: Item) -> str | None:
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, item.id)
        file_id = (row.result or {}).get("file_id") if row is not None else None
    return str(file_id) if file_id else None


def _remember_file(services: Services, item: Item, file_id: str) -> None:
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, item.id)
        if row is not None:
            row.result = {**(row.result or {}), "file_id": file_id}


def _already_shared(slack: WebClient, file_id: str, channel: str) -> bool:
    try:
        info = slack.files_info(file=file_id)
    except SlackApiError as exc:
        if exc.response.get("error") == "file_not_found":
            return False  # never completed: nobody saw it, upload it afresh
        raise slack_error(exc) from exc
    file = info.get("file") or {}
    shares = file.get("shares") or {}
    shared_in = {*file.get("channels", []), *file.get("groups", []), *file.get("ims", [])}
    for scope in shares.values():
        shared_in.update(scope)
    return channel in shared_in


def deliver_chart(services: Services, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    for item in items:
        payload = item.payload
        channel = str(payload["channel"])
        _wait_for_message(services, str(payload["after_key"]))
        slack = client_for(services, item)
        earlier = _earlier_file(services, item)
        if earlier and _already_shared(slack, earlier, channel):
            results[item.id] = {"file_id": earlier, "channel": channel}
            continue
        try:
            png = render(payload)
        except ChartTimeout as exc:
            raise DeliveryError(f"drawing the chart: {exc}") from exc  # the chart thread is busy: later
        try:
            ticket = slack.files_getUploadURLExternal(
                filename=FILENAME, length=len(png), alt_txt=str(payload.get("alt_text", ""))[:1000]
            )
            file_id = str(ticket["file_id"])
            _remember_file(services, item, file_id)
            try:
                upload = requests.post(str(ticket["upload_url"]), data=png, timeout=30)
            except requests.RequestException as exc:
                raise DeliveryError(f"uploading the chart failed: {exc!r}") from exc
            if upload.status_code != 200:
                raise DeliveryError(f"uploading the chart failed with HTTP {upload.status_code}")
            slack.files_completeUploadExternal(
                files=[{"id": file_id, "title": str(payload.get("title", "Headline indicators"))}],
                channel_id=channel,
            )
        except SlackApiError as exc:
            raise explain(slack_error(exc), exc, channel) from exc
        results[item.id] = {"file_id": file_id, "channel": channel}
    return results


def register(registry: Registry[Services]) -> None:
    # The Slack service's pacing policy is set by integrations.slack.delivery; this only adds a kind.
    registry.register("slack", KIND, deliver_chart)
