"""Output piped into a reader that stops early (``python -m bot render FILE | head -1``)."""

from __future__ import annotations

import os
import signal
import sys


def reader_has_gone() -> int:
    """The reader closed the pipe, which is no error of ours. End as Unix tools do (a
    shell reports 128 + SIGPIPE), without the traceback of the write, nor another at exit
    when Python flushes stdout into the closed pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 128 + signal.SIGPIPE
