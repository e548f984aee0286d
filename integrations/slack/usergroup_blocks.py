"""The DM to backbone staff when a user group an organization follows cannot be read."""

from __future__ import annotations

from typing import Any

from integrations.slack import blocks as bk
from integrations.slack.escape import escape

# What each failure means and what to do; `{group}` and `{org}` are filled in escaped.
_ADVICE = {
    "gone": (
        "The Slack user group `{group}` that *{org}* follows is gone: it was deleted or disabled. "
        "Its members were left as they were. Choose another group for {org} in App Home "
        "(or change `usergroup:` in the initiative file), or stop following one."
    ),
    "missing_scope": (
        "The app may not read user groups in this workspace (the `usergroups:read` scope is missing), "
        "so *{org}* cannot follow `{group}`; its members were left as they were. Install the app again "
        "from its current manifest to grant the scope."
    ),
    "plan_upgrade_required": (
        "This Slack workspace's plan has no user groups, so *{org}* cannot follow `{group}`; its members "
        "were left as they were. Stop following a group for {org} in App Home, and manage its members there."
    ),
}


def problem_notice(problem: str, usergroup: str, organization: str) -> dict[str, Any]:
    """The DM: which organization, which group, what happened and what to do."""
    advice = _ADVICE.get(problem, _ADVICE["gone"]).format(group=escape(usergroup), org=escape(organization))
    text = f"ci-slackbot could not read the Slack user group {usergroup} that {organization} follows"
    return {
        "text": bk.clip(text, bk.MAX_FALLBACK_TEXT),
        "blocks": [
            bk.section(bk.clip(f":rotating_light: {advice}", bk.MAX_SECTION_TEXT)),
            bk.context("Told once a day while it lasts; the members change only when the group can be read."),
        ],
    }
