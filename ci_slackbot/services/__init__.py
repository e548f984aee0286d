"""Use cases over the store: SQLAlchemy yes; Slack, Notion and Google never."""
