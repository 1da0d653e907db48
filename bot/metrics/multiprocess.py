"""prometheus_client's multiprocess mode, for a ``serve`` with several web workers or with
delivery processes, and for ``python -m bot worker`` processes beside it on one host.

Each process writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` adds up the files of every process, so a scrape that lands on any worker
sees the counts of all. prometheus_client decides this when it is first imported, from
the environment, so the directory is put there before anything imports it (``bot.cli.main``
imports lazily; this module does not import prometheus_client).

``serve`` with ``WEB_CONCURRENCY`` > 1 or delivering in child processes
(``DELIVERY_PROCESS=child``, which ``auto``, the default, is with PostgreSQL), and no
directory given, makes one for the run
and removes it when the master exits; the children find it in the environment they
inherit. A directory given by the operator is used as it is and
never emptied: other processes (a worker) may be writing to it. Only counters and
histograms live there (the gauges are read live from the database at scrape time), so a
dead process's files only keep its counts, which is what a counter should do; gunicorn's
``child_exit`` clean-up (``mark_process_dead``) is for live gauges and is not needed.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile

from bot.config import Config

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_serve(config: Config) -> Config:
    """The config ``serve`` runs with: a multiprocess directory when it needs one."""
    if config.metrics_dir is None and (config.web_concurrency > 1 or config.delivers_in_child):
        directory = tempfile.mkdtemp(prefix="thousandeyes-bot-metrics-")
        master = os.getpid()
        # gunicorn's workers run atexit handlers too: only the master removes it.
        def remove_in_master() -> None:
            if os.getpid() == master:
                shutil.rmtree(directory, True)

        atexit.register(remove_in_master)
        config = config.with_overrides(metrics_dir=directory)
    use_directory(config)
    return config


def use_directory(config: Config) -> None:
    """Put ``config.metrics_dir`` (which may come from ``.env``) where prometheus_client
    looks for it, before it is imported."""
    if config.metrics_dir is None:
        return
    os.environ[ENV] = config.metrics_dir
    if "prometheus_client" in sys.modules:
        from prometheus_client import values

        if values.ValueClass is values.MutexValue:
            log.warning("prometheus_client was imported before %s was set: this process's"
                        " counts will not reach /metrics of the others", ENV)
