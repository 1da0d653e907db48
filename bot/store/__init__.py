"""Persistence: models, engine and the write paths that must be atomic."""
