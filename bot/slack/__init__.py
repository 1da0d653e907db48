"""Talking to Slack: the Web API (and not talking to it, in log-only mode), and Slack's
requests (buttons, slash commands, installs) handed to Bolt."""
