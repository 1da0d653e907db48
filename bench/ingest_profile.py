"""Where a shipped serve's CPU goes under webhook load: py-spy samples of the thread
holding the GIL in serve's worker while ``wrk`` posts new alerts.

    python bench/ingest_profile.py [--db sqlite|postgres] [--connections 16] [--seconds 10]
                                   [--setting NAME=VALUE ...] [--top 60]

The service is started as the README starts it (``python -m bot serve``, every setting at
its default, delivery on, posting to ``bench/_fake_slack.py`` without limits, every
webhook to SLACK_CHANNEL: a burst is a storm and is rolled up); ``--setting`` changes one
(``DELIVERY_THREADS=0``: accept only). py-spy (``pip install py-spy``) samples at 250/s
with ``--gil``: only the thread that holds the GIL, so the shares are of the Python CPU
of the one process, the bound of a process whose threads take turns on one GIL. Waits
(fsync, a lock, the network) are not counted. Printed: the share of each thread group
and the functions with the largest inclusive and self shares.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    Serve,
    fresh_database,
    header,
    scratch,
    webhook_headers,
)
from _targets import FakeSlackServer  # noqa: E402
from _wrk import require_wrk, run_wrk, trigger_template  # noqa: E402

CHANNEL = "C0BENCH000"
# Frames every sample of a thread carries (its start, gunicorn's and runpy's set-up):
# inclusive shares of these say nothing.
_PLUMBING = ("threading.py", "<frozen runpy>", "gunicorn/arbiter.py", "gunicorn/app/base.py",
             "bot/__main__.py", "bot/cli/main.py", "concurrent/futures/thread.py")


def thread_group(frames: list[str]) -> str:
    """The first frame that names what the thread does: a web thread, a delivery thread,
    the asyncio loop that reads the connections."""
    text = ";".join(frames)
    if "DeliveryWorker._loop" in text:
        return "delivery threads"
    if "_call_wsgi" in text:
        return "web threads (Flask)"
    if "BaseEventLoop.run_forever" in text:
        return "gunicorn's asyncio loop (HTTP parsing, hand-off)"
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args()
    require_wrk()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    settings = dict(item.split("=", 1) for item in args.setting)
    header("bench/ingest_profile.py: the GIL holder's samples under webhook load")
    print(f"# db={args.db} c={args.connections} {args.seconds:g} s; settings: "
          + (", ".join(f"{k}={v}" for k, v in settings.items()) or "shipped defaults"))
    with scratch("bench-ingest-profile-") as work, \
            fresh_database(args.db, work, args.pg_url) as url:
        slack = FakeSlackServer(work, [CHANNEL])
        serve = None
        try:
            slack.wait_healthy()
            serve = Serve(work / "logs", "serve", shipped=True, DATABASE_URL=url,
                          WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-bench",
                          SLACK_API_URL=slack.api_url, SLACK_CHANNEL=CHANNEL,
                          **settings).wait_healthy()
            body = work / "trigger.json"
            body.write_bytes(trigger_template())
            run_wrk(serve.url, [serve.path], body, "warm", args.connections, 3,
                    webhook_headers())
            samples = work / "samples.txt"
            sampler = subprocess.Popen(
                [spy, "record", "--pid", str(serve.worker_pids()[0]), "--rate", "250", "--gil",
                 "--threads", "--duration", str(int(args.seconds) + 2), "--format", "raw",
                 "--output", str(samples)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            cpu_before = serve.cpu_seconds()
            load = run_wrk(serve.url, [serve.path], body, "profile", args.connections,
                           args.seconds, webhook_headers())
            cpu = serve.cpu_seconds() - cpu_before
            sampler.wait(args.seconds + 60)
        finally:
            if serve is not None:
                serve.stop()
            slack.stop()
        print(f"# wrk: {load.rate:.0f} accepted/s, p50 {load.p50_ms:.1f} ms, p99 "
              f"{load.p99_ms:.1f} ms; serve's CPU during the load {cpu * 1000 / max(1, load.accepted):.2f}"
              f" ms/event ({cpu / load.seconds:.2f} cores)")
        report(samples.read_text().splitlines(), args.top)
    return 0


def report(lines: list[str], top: int) -> None:
    groups: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first is py-spy's thread name
        weight = int(count)
        total += weight
        groups[thread_group(frames)] += weight
        if frames:
            own[frames[-1]] += weight
        for frame in set(frames):
            if not any(part in frame for part in _PLUMBING):
                inclusive[frame] += weight
    print(f"\n## samples holding the GIL: {total}, by thread")
    for name, count in groups.most_common():
        print(f"  {count / max(1, total):6.1%}  {name}")
    print(f"\n## top {top} functions by inclusive share")
    for frame, count in inclusive.most_common(top):
        print(f"  {count / max(1, total):6.1%}  {_short(frame)}")
    print("\n## top 25 by self share")
    for frame, count in own.most_common(25):
        print(f"  {count / max(1, total):6.1%}  {_short(frame)}")


def _short(frame: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/"):
        frame = frame.replace(marker, "/")
    return frame[:140]


if __name__ == "__main__":
    sys.exit(main())
