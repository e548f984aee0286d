"""`ci-slackbot demo` runs after install with no settings at all, and shows each step."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ci_slackbot.domain.periods import Frequency, Period


def test_demo_runs_with_no_settings(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_", "DATABASE_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "ci_slackbot", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Loading the example initiative: Breathe Easy Dallas" in out
    assert "Recorded 17.2 per 1,000 children" in out
    assert "What's the story behind the number?" in out
    assert "is not a number" in out  # the typo was refused
    assert "Withdrawn: 38% for Emergency visits" in out  # the mistake was taken back with Undo
    assert "| Neighbors United |  | percent | Withdrawn: counts nowhere" in out  # and its Sheet row emptied
    assert "Where our indicators stand" in out
    # A rate reported with its counts; the coalition figure says a partner is missing.
    assert "Recorded 58.86% (412 of 700)" in out
    assert "1 of 2 partners reported" in out
    assert "home-visits → 45%" not in out  # one ZIP's value is not the coalition's
    # A systems change proposed by a partner, confirmed by the backbone, and announced in the digest.
    assert "is recorded as proposed" in out
    assert "Systems change #1 is confirmed" in out
    assert "Systems changes confirmed (1)" in out
    # An item of the data development agenda, in the digest too.
    assert "Added to the data we still need" in out
    assert "Data we still need (1)" in out
    # A value sent without a period is for the month just ended, the one partners report now.
    just_ended = Period.current(Frequency.MONTHLY, "America/Chicago").previous().label()
    assert re.search(rf"/ci update er-visits 18\.9\n(?:.*\n){{0,2}}.*Recorded 18\.9 .*\({just_ended}, ", out)
    # The story behind a number that moved, with who told it, in the digest.
    assert "The stories behind the numbers" in out[out.index("The weekly digest") :]
    assert "“two campus nurses left in August” — @Nurse Kim" in out
    # A parent's story, shared with consent and anonymous, reaches the digest without a name.
    assert "Community story #1 is saved. It will be in the next digest." in out
    digest = out[out.index("The weekly digest") :]
    assert "In the community's words (1)" in digest
    assert "without losing a shift.” — Parent, anonymous · ZIP 75216 · er-visits" in digest
    # The equity lens: `/ci indicator` and the digest point out the gap between ZIP codes.
    gap = "best off zip 75201 (16.5 per 1,000 children): the gap widened from 4 to 7 per 1,000 children since"
    assert "furthest from the target zip 75216 (23.5 per 1,000 children, target 12)" in out
    assert out.count(gap) >= 2, out[-4000:]
    # A coalition's new staffer is added in App Home by the backbone, and reports at once.
    added = out[out.index("A partner's new staffer, added in App Home") :]
    assert "[ Organizations ]  [ Goals and strategies ]  [ Indicators ]" in added
    assert "City Code Compliance (`city-code`) · government · 1 member\n    │ @Officer Grant\n" in added
    assert "clicks:  [ Edit ]  next to City Code Compliance" in added
    assert "City Code Compliance (`city-code`) · government · 2 members\n    │ @Officer Grant, @Inspector Ruiz" in added
    assert re.search(
        r"Inspector Ruiz \(City Code Compliance\) types: +/ci update home-assessments 9 .*\n.*\n.*Recorded 9 homes",
        added,
    )
    assert not list(tmp_path.glob("*.db")), "the demo must not leave a database in the working directory"
