"""``LOG_FORMAT=json``: one JSON object per line, for log pipelines that index fields.

Each line has ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and ``message`` and,
where the log call knows them (passed with ``extra=``), the event id, alert key, route,
channel, job id, job kind and outcome. The message is the same text as in the plain
format; nothing else from the record is copied, so a secret can only reach the log the
way it could in text (and no log call passes one).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# What a log call may add with ``extra=``; anything else it passes is not written.
CONTEXT_FIELDS = ("event_id", "alert_key", "route", "channel", "job_id", "job_kind",
                  "outcome", "error_code")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None and value != "":
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of ``LOG_FORMAT`` (validated by bot.config)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def use_format(log_format: str, *loggers: logging.Logger) -> None:
    """Give every handler of the root logger (and of ``loggers``, such as gunicorn's,
    which do not propagate) the formatter of ``log_format``."""
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            handler.setFormatter(formatter_for(log_format))


def gunicorn_logger_class(log_format: str) -> type | None:
    """A gunicorn logger whose own lines (its ``gunicorn.error`` logger does not propagate
    to ours) follow ``LOG_FORMAT``; None for text, gunicorn's format as it is."""
    if log_format != "json":
        return None
    from gunicorn.glogging import Logger

    class JsonGunicornLogger(Logger):  # type: ignore[misc]
        def setup(self, cfg: object) -> None:
            super().setup(cfg)
            use_format(log_format, self.error_log)

    return JsonGunicornLogger
