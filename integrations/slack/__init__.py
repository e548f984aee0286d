"""Slack: escaping user text, Block Kit rendering within Slack's limits, and Web API delivery."""
