"""Where things are, for tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT.parent / "shared" / "examples" / "initiative.yml"
if not EXAMPLE.exists():  # the package ships a copy for the demo
    EXAMPLE = ROOT / "ci_slackbot" / "examples" / "initiative.yml"
