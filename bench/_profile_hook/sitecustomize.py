"""Profile every thread of a process by CPU time (bench/delivery_cpu.py --profile).

Imported at start by any Python whose PYTHONPATH begins with this directory; it does
nothing unless BENCH_PROFILE_DIR is set. Each thread runs under its own ``cProfile``
timed by ``time.thread_time`` (CPU, so waiting costs nothing) and writes
``<pid>-<thread name>-<ident>.prof`` there when it ends; the main thread at exit.
"""

import os

_DIRECTORY = os.environ.get("BENCH_PROFILE_DIR")

if _DIRECTORY:
    import atexit
    import cProfile
    import threading
    import time

    def _dump(profile: cProfile.Profile, name: str, ident: int | None) -> None:
        profile.disable()
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        profile.dump_stats(os.path.join(_DIRECTORY, f"{os.getpid()}-{safe}-{ident}.prof"))

    _original_run = threading.Thread.run

    def _profiled_run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            _original_run(self)
        finally:
            _dump(profile, self.name, self.ident)

    threading.Thread.run = _profiled_run  # type: ignore[method-assign]

    _main = cProfile.Profile(time.thread_time)

    def _dump_main() -> None:
        # A forked child (gunicorn's worker) inherits the enabled profile: its own dump
        # is named by its pid.
        _dump(_main, "main", threading.main_thread().ident)

    atexit.register(_dump_main)
    _main.enable()
