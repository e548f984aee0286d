"""The Slack app manifest (manifest.yml at the repository root), read for `doctor` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST_NAME = "manifest.yml"
# The checkout this package was installed from (an editable install, or running from the tree).
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


class ManifestError(RuntimeError):
    """The manifest cannot be found or read."""


def find_manifest(explicit: str | Path | None = None) -> Path | None:
    """The manifest to use: the one given, else the checkout's, else one in the working directory."""
    if explicit is not None:
        return Path(explicit)
    for candidate in (REPOSITORY_ROOT / MANIFEST_NAME, Path.cwd() / MANIFEST_NAME):
        if candidate.is_file():
            return candidate
    return None


def load_manifest(path: str | Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path} is not a Slack app manifest (expected a mapping at the top)")
    return data


def bot_scopes(manifest: dict[str, Any]) -> list[str]:
    scopes = ((manifest.get("oauth_config") or {}).get("scopes") or {}).get("bot") or []
    return [str(scope) for scope in scopes]
