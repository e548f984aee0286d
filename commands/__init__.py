"""The `/ci` subcommands: one module each, every module exposing `register(router)`."""

from __future__ import annotations

import importlib
import pkgutil

from commands.router import Router

# Modules of this package that are plumbing, not subcommands.
_NOT_SUBCOMMANDS = {"router", "grammar", "payload", "render"}


def build_router() -> Router:
    router = Router()
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module in _NOT_SUBCOMMANDS or module.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{module}").register(router)
    return router
