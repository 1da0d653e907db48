"""CPU per delivered job: the serve process tree with delivery on, against delivery off.

    python bench/delivery_cpu.py [--channels 50] [--per-channel 40] [--rounds 2]
                                 [--db sqlite|postgres] [--storm-rollup off|on]
                                 [--profile] [--sample [--gil]] [--top 40] [--baseline REV] [--tls]

Each round, in turn and each with a fresh database and fake Slack (``bench/_fake_slack.py``,
no limits): ``python -m bot serve`` with the shipped settings (4 delivery threads,
SLACK_POST_INTERVAL=1.0; storm roll-ups and flapping off unless ``--storm-rollup on``, so
every alert is its own post) gets ``channels x per-channel`` new alerts over the channels
in turn, as fast as 8 clients send them, and runs until its outbox is empty; then the same
with DELIVERY_THREADS=0 and the same webhooks (stopped once they are accepted). The CPU of
the serve process tree (master and worker, from /proc) from the first webhook to the end,
on minus off, over the jobs done, is the CPU per delivered job. The drain is compared
with the pacing bound (per-channel posts at one a second).

``--profile``: one more run with delivery on in which every thread of the serve process is
profiled by ``cProfile`` with a CPU clock (``bench/_profile_hook``); prints each thread
group's CPU and the functions with the most cumulative CPU in the delivery threads.
cProfile's own overhead inflates the profiled CPU (compare it with the unprofiled runs);
shares within it are what to read.

``--baseline REV``: each round also measures that git revision (a detached worktree), on
then off, so the two codes' figures come from one run under the same load.

``--tls``: the fake Slack serves HTTPS, as Slack does (a certificate of its own, which the
service trusts through ``SSL_CERT_FILE``), so each new connection costs a TLS handshake.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    REPO,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    baseline_checkout,
    Serve,
    encode,
    fresh_database,
    header,
    median,
    open_jobs,
    scratch,
    unique_trigger,
    webhook_headers,
)
from _targets import FakeSlackServer  # noqa: E402

from tests.support.tls import loopback_certificate  # noqa: E402

HOOK = Path(__file__).resolve().parent / "_profile_hook"
CLIENTS = 8


def send_alerts(serve: Serve, channels: list[str], count: int) -> None:
    """``count`` new alerts over the channels in turn, from ``CLIENTS`` threads."""
    tag = f"cpu{time.time_ns()}"
    numbers = iter(range(count))
    lock = threading.Lock()
    failures: list[int] = []

    def run() -> None:
        client = KeepAliveClient(serve.url)
        try:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                channel = channels[number % len(channels)]
                status, _ = client.post(f"{serve.path}?channel={channel}",
                                        encode(unique_trigger(tag, number)), webhook_headers())
                if status != 200:
                    failures.append(status)
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise AssertionError(f"{len(failures)} webhooks refused: {sorted(set(failures))}")


def done_jobs(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM outbox_jobs WHERE status = 'done'")).scalar_one())
    finally:
        engine.dispose()


class Run:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.channels = [f"C0BENCH{index:03d}" for index in range(args.channels)]
        self.count = args.channels * args.per_channel
        self._number = 0
        # HTTPS as Slack: the fake's certificate, trusted by serve and by this process.
        self.certificate = loopback_certificate(work) if args.tls else None
        if self.certificate is not None:
            os.environ["REQUESTS_CA_BUNDLE"] = str(self.certificate)

    def once(self, delivery: bool, profile_dir: Path | None = None,
             sample_to: Path | None = None, code: Path = REPO) -> dict[str, float]:
        """One service from start to end; its CPU and, with delivery, the drain.

        ``sample_to``: py-spy samples the serve worker's busy threads into this file
        (py-spy's raw, collapsed stacks; idle threads are not sampled)."""
        self._number += 1
        slack = FakeSlackServer(self.work, self.channels, self.certificate)
        env = dict(WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-bench",
                   SLACK_CHANNEL=self.channels[0], SLACK_API_URL=slack.api_url)
        if self.certificate is not None:
            env["SSL_CERT_FILE"] = str(self.certificate)
        if not delivery:
            env["DELIVERY_THREADS"] = "0"
        if self.args.storm_rollup == "off":
            env.update(STORM_ROLLUP="off", FLAP_WINDOW="off")
        if code != REPO:
            env["PYTHONPATH"] = str(code)
        if profile_dir is not None:
            env.update(PYTHONPATH=f"{HOOK}{os.pathsep}{code}", BENCH_PROFILE_DIR=str(profile_dir))
        try:
            slack.wait_healthy()
            with fresh_database(self.args.db, self.work / f"db{self._number}",
                                self.args.pg_url) as url:
                serve = Serve(self.work / "logs", f"run{self._number}", shipped=True,
                              DATABASE_URL=url, **env)
                sampler = None
                try:
                    serve.wait_healthy()
                    if sample_to is not None:
                        sampler = subprocess.Popen(
                            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                             str(serve.worker_pids()[0]), "--subprocesses",  # delivery's
                             "--rate", "250", "--threads",
                             # --gil: only the thread holding the GIL, i.e. Python's CPU
                             "--gil" if self.args.gil else "--nonblocking",
                             "--format", "raw", "--output", str(sample_to)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    began_cpu, began = serve.cpu_seconds(), time.monotonic()
                    send_alerts(serve, self.channels, self.count)
                    sent = time.monotonic() - began
                    drained = float("nan")
                    if delivery:
                        while open_jobs(url):
                            if time.monotonic() - began > self.args.timeout:
                                raise AssertionError("the outbox did not drain in time")
                            time.sleep(0.2)
                        drained = time.monotonic() - began
                    cpu = serve.cpu_seconds() - began_cpu
                    jobs = done_jobs(url)
                finally:
                    serve.stop()
                    if sampler is not None:
                        sampler.wait(60)
        finally:
            slack.stop()
        return {"cpu": cpu, "sent": sent, "drained": drained, "jobs": jobs,
                "load": os.getloadavg()[0]}


def profile(run: Run, top: int, keep: str | None) -> None:
    directory = run.work / "profile"
    directory.mkdir()
    figures = run.once(True, directory)
    print(f"\n## profile: delivery on, {run.count} alerts, drained in {figures['drained']:.1f} s,"
          f" {figures['jobs']} jobs done, serve CPU {figures['cpu']:.2f} s (profiled)")
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(directory.glob("*.prof")):
        name = path.name.split("-", 1)[1].rsplit("-", 1)[0]
        group = ("delivery" if name.startswith("delivery-") and name != "delivery-maintenance"
                 else name.rstrip("0123456789_") or name)
        groups[group].append(path)
    totals = {}
    for group, paths in groups.items():
        stats = pstats.Stats(*map(str, paths))
        totals[group] = stats.total_tt
    everything = sum(totals.values())
    print("CPU by thread group (profiled seconds, share):")
    for group, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {group:32} {seconds:7.2f} s  {seconds / everything:6.1%}")
    if "delivery" not in groups:
        return
    stats = pstats.Stats(*map(str, groups["delivery"]))
    delivery = stats.total_tt
    jobs = max(1, figures["jobs"])
    print(f"\n## delivery threads: {delivery:.2f} profiled CPU s, {delivery * 1000 / jobs:.2f} ms"
          f" per job; top {top} functions by cumulative CPU (share of the delivery threads,"
          " ms per job)")
    rows = []
    for (filename, line, function), (_cc, calls, _tt, cumulative, _callers) in stats.stats.items():
        rows.append((cumulative, calls, _short(filename), line, function))
    rows.sort(reverse=True)
    for cumulative, calls, filename, line, function in rows[:top]:
        print(f"  {cumulative / delivery:6.1%} {cumulative * 1000 / jobs:7.3f} ms/job"
              f" {calls / jobs:7.1f} calls/job  {filename}:{line}({function})")
    if keep:
        stats.dump_stats(keep)
        print(f"# merged delivery-thread profile written to {keep}")


def sampled(run: Run, top: int, keep: str | None) -> None:
    """A run with py-spy sampling the busy threads: a profile without cProfile's overhead.

    py-spy counts a thread as busy unless it sleeps in the kernel, so a SQLite commit's
    fsync and a wait for the GIL count too: compare with the CPU-clocked ``--profile``."""
    if not (Path(sys.executable).parent / "py-spy").exists():
        print("# --sample skipped: py-spy is not installed (pip install py-spy)")
        return
    out = Path(keep) if keep else run.work / "samples.txt"
    figures = run.once(True, sample_to=out)
    stacks: list[tuple[str, list[str], int]] = []
    for line in out.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        thread, *rest = frames.split(";")
        stacks.append((thread, rest, int(count)))
    total = sum(count for _, _, count in stacks)
    by_thread: dict[str, int] = defaultdict(int)
    for thread, _, count in stacks:
        by_thread[_thread_group(thread)] += count
    which = "the thread holding the GIL only" if run.args.gil else "busy threads only"
    print(f"\n## py-spy samples ({which}, 250/s): delivery on, {run.count} alerts,"
          f" drained in {figures['drained']:.1f} s, serve CPU {figures['cpu']:.2f} s")
    for group, count in sorted(by_thread.items(), key=lambda item: -item[1]):
        print(f"  {group:40} {count:7d} samples  {count / max(1, total):6.1%}")
    delivery = [(frames, count) for thread, frames, count in stacks
                if _thread_group(thread) == "delivery"]
    in_delivery = sum(count for _, count in delivery)
    inclusive: dict[str, int] = defaultdict(int)
    for frames, count in delivery:
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\n## delivery threads: {in_delivery} samples; top {top} functions by inclusive"
          " share")
    for frame, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        print(f"  {count / max(1, in_delivery):6.1%}  {_short(frame)}")


def _thread_group(thread: str) -> str:
    """py-spy's first frame is ``thread (tid): name``: delivery-0..N are one group."""
    name = thread.split("): ", 1)[-1]
    if name.startswith("delivery-") and name != "delivery-maintenance":
        return "delivery"
    return name.rstrip("0123456789_-") or name


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.replace(str(REPO) + "/", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--per-channel", type=int, default=40, help="alerts per channel")
    parser.add_argument("--rounds", type=int, default=2, help="delivery on, then off, per round")
    parser.add_argument("--storm-rollup", choices=["off", "on"], default="off")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to drain")
    parser.add_argument("--profile", action="store_true", help="add a profiled run")
    parser.add_argument("--no-measure", action="store_true", help="only the profiled run")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision")
    parser.add_argument("--sample", action="store_true",
                        help="add a run sampled by py-spy (pip install py-spy)")
    parser.add_argument("--sample-out", metavar="FILE", help="keep py-spy's raw samples here")
    parser.add_argument("--gil", action="store_true",
                        help="--sample counts only the thread holding the GIL (Python's CPU;"
                             " no fsync or GIL waits)")
    parser.add_argument("--tls", action="store_true", help="the fake Slack over HTTPS")
    parser.add_argument("--profile-out", metavar="FILE",
                        help="write the delivery threads' merged profile (pstats) here")
    args = parser.parse_args()
    header("bench/delivery_cpu.py: CPU per delivered job, delivery on against off")
    print(f"# db={args.db} channels={args.channels} alerts={args.channels * args.per_channel}"
          f" rounds={args.rounds} STORM_ROLLUP={args.storm_rollup}; serve: shipped settings"
          " (DELIVERY_THREADS=4, SLACK_POST_INTERVAL=1.0), fake Slack without limits"
          f" over {'HTTPS' if args.tls else 'HTTP'}")
    with scratch("bench-delivery-cpu-") as work, baseline_checkout(args.baseline, work) as base:
        run = Run(args, work)
        codes = [("new", REPO)] + ([(f"@{args.baseline}", base)] if base else [])
        per_job: dict[str, list[float]] = {name: [] for name, _ in codes}
        for round_number in range(0 if args.no_measure else args.rounds):
            for name, code in codes:
                on = run.once(True, code=code)
                off = run.once(False, code=code)
                extra = (on["cpu"] - off["cpu"]) * 1000 / max(1, on["jobs"])
                per_job[name].append(extra)
                # One post a second per channel, one post per alert (roll-ups post fewer).
                bound = f"pacing bound {args.per_channel} s" + (
                    " without roll-ups" if args.storm_rollup == "on" else "")
                print(f"  round {round_number + 1} {name}: on: {on['jobs']} jobs, drained in "
                      f"{on['drained']:.1f} s ({bound}), CPU {on['cpu']:.2f} s = "
                      f"{on['cpu'] * 1000 / run.count:.2f} ms/alert (load {on['load']:.1f}); off: "
                      f"CPU {off['cpu']:.2f} s = {off['cpu'] * 1000 / run.count:.2f} ms/alert "
                      f"(load {off['load']:.1f}); delivery: {extra:.2f} ms CPU per delivered job",
                      flush=True)
        for name, figures in per_job.items():
            if figures:
                print(f"# {name}: CPU per delivered job, median of {len(figures)}: "
                      f"{median(figures):.2f} ms (target <= 2.5 ms)")
        if args.profile:
            profile(run, args.top, args.profile_out)
        if args.sample:
            sampled(run, args.top, args.sample_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
