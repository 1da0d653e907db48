"""Talking to the Slack Web API (and not talking to it, in log-only mode)."""
