"""Adapters from the core to Slack, Notion and Google."""
