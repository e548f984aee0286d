"""The import rules of ARCHITECTURE.md hold: import-linter's contracts, and a pure domain."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.paths import ROOT

DOMAIN = ROOT / "ci_slackbot" / "domain"


def test_the_import_linter_contracts_are_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
        "contracts"
    ]
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout, done.stdout


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module `source` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def foreign_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Imports outside the standard library and ci_slackbot.domain."""
    return {
        name
        for name in imported_modules(source, module, is_package)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name != "ci_slackbot.domain"
        and not name.startswith("ci_slackbot.domain.")
    }


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    modules = sorted(DOMAIN.rglob("*.py"))
    assert len(modules) >= 3  # periods, measurement, schedule… the check looked at something
    offenders = {
        module_name(path): sorted(foreign)
        for path in modules
        if (
            foreign := foreign_imports(
                path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py"
            )
        )
    }
    assert offenders == {}, "the domain must stay pure: move these uses into ci_slackbot/services"


def test_the_domain_check_catches_what_it_should() -> None:
    source = """
from __future__ import annotations
import datetime
from typing import TYPE_CHECKING
from . import periods
from .measurement import Point
if TYPE_CHECKING:
    from sqlalchemy.orm import Session
def later():
    import requests
    from ci_slackbot.store import models
"""
    assert foreign_imports(source, "ci_slackbot.domain.schedule") == {
        "sqlalchemy.orm",
        "requests",
        "ci_slackbot.store",
    }
    assert foreign_imports("from .. import settings", "ci_slackbot.domain.schedule") == {"ci_slackbot"}
