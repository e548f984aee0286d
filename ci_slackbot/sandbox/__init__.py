"""Local stand-ins of the Slack, Notion and Google Sheets APIs, for tests and the demo."""
