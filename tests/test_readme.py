"""The README's two commands are the ones CI and newcomers run."""

from __future__ import annotations

import re

from tests.paths import ROOT


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_shows_install_and_demo_then_tests() -> None:
    install_and_demo, tests = _commands()[:2]
    assert install_and_demo.endswith("ci-slackbot demo")
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert script[-1] == _commands()[1]
