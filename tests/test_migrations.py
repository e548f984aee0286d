"""The migrations build the schema that the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Base


def test_the_migrations_make_the_schema_the_models_describe(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    db.dispose()
    # A table, column or index in the models that no migration makes (or the other way round).
    assert differences == []
