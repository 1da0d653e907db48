"""What a serving process runs beside its web threads: delivery and Socket Mode."""

from __future__ import annotations

from flask import Flask

from bot.delivery.runner import start_in_process, stop_in_process
from bot.services import services
from bot.slack.socket_mode import start_socket_mode, stop_socket_mode


def start_background(app: Flask) -> None:
    token_check = services(app).bot_token_check
    if token_check is not None:
        token_check.refresh()  # at start: a refused token is said at once, in one line
    start_in_process(app)
    start_socket_mode(app)


def stop_background(app: Flask) -> None:
    stop_socket_mode(app)
    stop_in_process(app)
