"""Persistence: the schema, the engine and the unit of work."""
