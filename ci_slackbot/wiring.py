"""What the core needs of the wiring, as a type.

`ci_slackbot.bootstrap.Services` holds everything a process is wired with, and
commands, integrations, jobs and the scheduler take it as it is. The core
below it (the services layer and the outbox) may not import bootstrap (the
layer contracts in pyproject.toml), so it names what it uses through
`CoreServices`, which `Services` fulfils. This module imports types only, so
that anything may import it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from typing import Self

    from ci_slackbot.outbox import OutboxSignal, Registry
    from ci_slackbot.settings import Settings
    from ci_slackbot.store.db import Database


class CoreServices(Protocol):
    """The part of `Services` the services layer and the outbox use."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def node(self) -> str:
        """Who claims a job slot or an outbox row: host and process."""
        ...

    @property
    def outbox_signal(self) -> OutboxSignal: ...

    def now(self) -> datetime: ...

    def outbox_registry(self) -> Registry[Self]:
        """The process's one registry: its deliverers are called with this same object."""
        ...
