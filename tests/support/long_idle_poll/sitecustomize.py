"""Delivery threads that look for work on their own only every 30 s (their longest wait),
instead of every ``IDLE_POLL_SECONDS`` (0.5 s).

Imported at start by any Python whose PYTHONPATH begins with this directory (a test puts it
there for ``python -m bot serve`` and every process it starts): a job then reaches Slack
promptly only if a wake-up told a delivery thread about it, which is what the test checks.
The module's constant is set as ``bot.delivery.runner`` is first imported, so nothing else
is imported earlier than the service itself would import it.
"""

import importlib.abc
import importlib.machinery
import sys

_MODULE = "bot.delivery.runner"
_LONG_POLL_SECONDS = 3600.0


class _LongIdlePoll(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201 (importlib's protocol)
        if name != _MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module):  # noqa: ANN001, ANN202
            run_module(module)
            module.IDLE_POLL_SECONDS = _LONG_POLL_SECONDS

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _LongIdlePoll())
