"""Webhook ingest: accepted events/s and latency of ``python -m bot serve``.

    python bench/ingest.py [--db sqlite|postgres|both] [--levels 1,4,16,64]
                           [--duration 3] [--rounds 3] [--rate 100] [--rate-seconds 10]
                           [--variants base|standard|all] [--no-floor]
                           [--sample-server PATH]

The service runs exactly as users start it (``python -m bot serve --host 127.0.0.1
--port P`` with DATABASE_URL and WEBHOOK_TOKEN, no Slack token, DELIVERY_THREADS=0 so
delivery does not compete) in a subprocess; this process is the client: Python threads,
one keep-alive ``http.client`` connection each, posting sample triggers that are each a
new alert (unique eventId and alertId).

Beside the project, in the same rounds: the floor (``bench/floor_app.py``: bare Flask under
gunicorn gthread, one SQLite INSERT per request; with any SQLite configuration, unless
``--no-floor``) and, with ``--sample-server PATH``, ThousandEyes' sample server (Node +
Express, forwarding each event to a fake Slack incoming webhook; skipped when PATH has no
``node_modules``). Ratios to both are printed per level.

Every configuration is started at once and the measurements are interleaved round by
round (level by level, configuration by configuration), so the ratios compare
configurations under the same background noise. Figures per configuration and level:
median over rounds of accepted events/s, and p50/p99 of all latencies of all rounds.

Then an open-loop run at ``--rate`` requests/s for ``--rate-seconds``: sends are
scheduled at fixed times and latency is measured from the scheduled time (so a stalled
server cannot hide its queue by slowing the client down).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import (  # noqa: E402
    FakeIncomingWebhook, FloorServer, SampleServer, Spawned, sample_server_available,
)
from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    Serve,
    backends,
    checkout_of,
    encode,
    fresh_database,
    header,
    median,
    percentile,
    scratch,
    unique_trigger,
    wait_drained,
    webhook_headers,
)

TARGET_RATE = 500.0  # accepted events/s
TARGET_P99_MS = 25.0  # at 100 requests/s


@dataclass
class Variant:
    name: str
    env: dict[str, str]
    backends: tuple[str, ...] = ("sqlite", "postgres")


def variants(which: str, baseline: Path | None = None, revision: str = "") -> list[Variant]:
    # Each webhook in its own transaction, as before group commit (bot.store.group_commit).
    one_by_one = Variant("no-group-commit", {"WEBHOOK_GROUP_COMMIT": "off"})
    if which == "base":  # the project as shipped, beside the floor and the sample server
        chosen = [Variant("base", {}), one_by_one]
        if baseline is not None:
            chosen.append(Variant(f"base@{revision}", {"PYTHONPATH": str(baseline)}))
        return chosen
    chosen = [
        Variant("base", {}),
        Variant("sync=NORMAL", {"SQLITE_SYNCHRONOUS": "NORMAL"}, ("sqlite",)),
        one_by_one,
        # Delivery competes as hard as it can: log-only (no Slack token) and no pacing,
        # so every accepted event is rendered and written to the log at once. After each
        # of its samples the bench waits for its outbox to drain, so its backlog does not
        # run on while the other configurations are measured.
        Variant("delivery-on", {"DELIVERY_THREADS": "4", "SLACK_POST_INTERVAL": "0"}),
    ]
    if baseline is not None:
        # The same service from an earlier revision, measured in the same rounds.
        earlier = {"PYTHONPATH": str(baseline)}
        chosen.insert(1, Variant(f"base@{revision}", earlier))
        chosen.append(Variant(f"delivery-on@{revision}", {**chosen[-1].env, **earlier}))
    if which == "all":
        chosen += [
            Variant("threads=2", {"WEB_THREADS": "2"}),
            Variant("threads=32", {"WEB_THREADS": "32"}),
            Variant("processes=2", {"WEB_CONCURRENCY": "2"}),
            Variant("processes=2,NORMAL", {"WEB_CONCURRENCY": "2", "SQLITE_SYNCHRONOUS": "NORMAL"},
                    ("sqlite",)),
        ]
    return chosen


@dataclass
class Sample:
    accepted: int = 0
    other: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0  # CPU seconds of the serve processes during the sample

    @property
    def cpu_ms_per_event(self) -> float:
        return self.server_cpu * 1000 / self.accepted if self.accepted else float("nan")

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


class Bodies:
    """Unique trigger bodies, cheap to make so the client spends little time on them."""

    def __init__(self, tag: str) -> None:
        template = encode(unique_trigger("@TAG@", 0))
        self._template = template.replace(b"@TAG@-trigger-0", b"%(event)s").replace(
            b"@TAG@-0", b"%(alert)s").replace(b"bench test 0", b"bench test %(alert)s")
        self._tag = tag.encode()
        self._counter = itertools.count()

    def next(self) -> bytes:
        number = str(next(self._counter)).encode()
        alert = self._tag + b"-" + number
        return self._template.replace(b"%(event)s", self._tag + b"-trigger-" + number).replace(
            b"%(alert)s", alert)


def closed_loop(server: Serve | Spawned, concurrency: int, seconds: float,
                bodies: Bodies) -> Sample:
    sample = Sample()
    lock = threading.Lock()
    start_barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]
    headers = webhook_headers()

    def run() -> None:
        client = KeepAliveClient(server.url)
        local_latencies: list[float] = []
        accepted = errors = 0
        other: dict[int, int] = {}
        start_barrier.wait()
        while time.perf_counter() < deadline[0]:
            body = bodies.next()
            began = time.perf_counter()
            try:
                status, data = client.post(server.path, body, headers)
            except OSError:
                errors += 1
                continue
            local_latencies.append((time.perf_counter() - began) * 1000.0)
            if server.accepted(status, data):
                accepted += 1
            else:
                other[status] = other.get(status, 0) + 1
        client.close()
        with lock:
            sample.accepted += accepted
            sample.errors += errors
            sample.latencies_ms += local_latencies
            for status, count in other.items():
                sample.other[status] = sample.other.get(status, 0) + count

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_barrier.wait()
    for thread in threads:
        thread.join(seconds + 60)
    sample.seconds = time.perf_counter() - began
    return sample


def open_loop(server: Serve | Spawned, rate: float, seconds: float, bodies: Bodies,
              senders: int = 32, paths: tuple[str, ...] = ()) -> tuple[Sample, list[float]]:
    """Send at fixed times; latency counts from the scheduled time, not the send.

    ``paths`` (default: the server's webhook path) are taken in turn, e.g. one per channel.
    """
    paths = paths or (server.path,)
    total = int(rate * seconds)
    prepared = [bodies.next() for _ in range(total)]
    sample = Sample()
    lateness_ms: list[float] = []
    lock = threading.Lock()
    counter = itertools.count()
    headers = webhook_headers()
    start = time.perf_counter() + 0.5

    def run() -> None:
        client = KeepAliveClient(server.url)
        while True:
            index = next(counter)
            if index >= total:
                break
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            try:
                status, data = client.post(paths[index % len(paths)], prepared[index], headers)
            except OSError:
                with lock:
                    sample.errors += 1
                continue
            done = time.perf_counter()
            with lock:
                sample.latencies_ms.append((done - scheduled) * 1000.0)
                lateness_ms.append((sent - scheduled) * 1000.0)
                if server.accepted(status, data):
                    sample.accepted += 1
                else:
                    sample.other[status] = sample.other.get(status, 0) + 1
        client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    sample.seconds = time.perf_counter() - start
    return sample, lateness_ms


def warm_up(server: Serve | Spawned, bodies: Bodies, count: int = 60) -> None:
    client = KeepAliveClient(server.url)
    for _ in range(count):
        client.post(server.path, bodies.next(), webhook_headers())
    client.close()


def describe(sample: Sample) -> str:
    extra = ""
    if sample.other:
        extra += " other=" + ",".join(f"{k}:{v}" for k, v in sorted(sample.other.items()))
    if sample.errors:
        extra += f" errors={sample.errors}"
    return extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--levels", default="1,4,16,64", help="client concurrency levels")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop requests/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--variants", choices=["base", "standard", "all"], default="standard")
    parser.add_argument("--no-floor", action="store_true",
                        help="do not run bench/floor_app.py beside the SQLite configurations")
    parser.add_argument("--sample-server", metavar="PATH",
                        help="a checkout of thousandeyes/simple-webhook-server with"
                             " node_modules installed, run in the same rounds")
    parser.add_argument("--no-rate", action="store_true", help="skip the open-loop run")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run 'base' from this git revision, side by side")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]

    header("bench/ingest.py: webhook ingest throughput and latency")
    print(f"# levels={levels} duration={args.duration}s rounds={args.rounds} "
          f"rate={args.rate}/s for {args.rate_seconds}s; client: this process, "
          f"threads + keep-alive http.client; server: python -m bot serve (gunicorn asyncio worker, app threads)")

    with scratch("bench-ingest-") as work, _baseline(args, work) as baseline, \
            _databases(args, work, baseline) as configs:
        servers: dict[tuple[str, str], Serve | Spawned] = {}
        helpers: list[Spawned] = []  # the fake incoming webhook: not measured
        bodies: dict[tuple[str, str], Bodies] = {}
        drains: dict[tuple[str, str], str] = {}  # key -> database URL, for delivery variants
        try:
            for backend, variant, url in configs:
                key = (backend, variant.name)
                if variant.env.get("DELIVERY_THREADS", "0") != "0":
                    drains[key] = url
                env = {"DATABASE_URL": url, "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
                       "DELIVERY_THREADS": "0", "LOG_LEVEL": "INFO", **variant.env}
                servers[key] = Serve(work / "logs", f"{backend}-{variant.name}", **env)
            _add_comparisons(args, work, servers, helpers)
            for helper in helpers:
                helper.wait_healthy()
            for key, server in servers.items():
                server.wait_healthy()
                bodies[key] = Bodies(f"{key[0]}-{key[1]}-{time.time_ns()}")
                warm_up(server, bodies[key])
            print(f"# started {len(servers)} servers: "
                  + ", ".join(f"{b}/{v}" for b, v in servers))

            results: dict[tuple[str, str, int], list[Sample]] = {}
            for round_number in range(args.rounds):
                for level in levels:
                    for key, server in servers.items():
                        cpu_before = server.cpu_seconds()
                        sample = closed_loop(server, level, args.duration, bodies[key])
                        sample.server_cpu = server.cpu_seconds() - cpu_before
                        results.setdefault((*key, level), []).append(sample)
                        if key in drains:
                            waited = wait_drained(drains[key])
                            print(f"  {'':8} {'':8} {key[1]:20} outbox drained in "
                                  f"{waited:.1f} s", flush=True)
                        print(f"  round {round_number + 1} {key[0]:8} {key[1]:20} c={level:<3}"
                              f" {sample.rate:7.1f} accepted/s  p50 "
                              f"{percentile(sample.latencies_ms, 50):6.1f} ms  p99 "
                              f"{percentile(sample.latencies_ms, 99):7.1f} ms  server CPU "
                              f"{sample.cpu_ms_per_event:4.1f} ms/event{describe(sample)}",
                              flush=True)
            _report_closed(results, servers, levels)

            if not args.no_rate:
                _report_open(args, servers, bodies, drains)
        finally:
            for server in [*servers.values(), *helpers]:
                server.stop()
    return 0


FLOOR = ("sqlite", "floor")
SAMPLE = ("node", "sample-server")


def _add_comparisons(args: argparse.Namespace, work: Path,
                     servers: dict[tuple[str, str], Serve | Spawned], helpers: list[Spawned]) -> None:
    """The floor (beside SQLite configurations) and the sample server, when asked for."""
    if not args.no_floor and any(backend == "sqlite" for backend, _ in servers):
        servers[FLOOR] = FloorServer(work)
    checkout = sample_server_available(args.sample_server)
    if checkout is not None:
        hook = FakeIncomingWebhook(work)
        helpers.append(hook)
        servers[SAMPLE] = SampleServer(checkout, work, f"{hook.url}/services/T0/B0/bench")


@contextlib.contextmanager
def _baseline(args: argparse.Namespace, work: Path) -> Iterator[Path | None]:
    if not args.baseline:
        yield None
        return
    with checkout_of(args.baseline, work) as path:
        yield path


class _databases:
    """Enter one fresh database per (backend, variant); yields (backend, variant, url)."""

    def __init__(self, args: argparse.Namespace, work: Path, baseline: Path | None) -> None:
        self._args = args
        self._work = work
        self._baseline = baseline
        self._stack: list = []

    def __enter__(self) -> list[tuple[str, Variant, str]]:
        configs = []
        for backend in backends(self._args.db):
            for variant in variants(self._args.variants, self._baseline, self._args.baseline):
                if backend not in variant.backends:
                    continue
                manager = fresh_database(backend, self._work / f"db-{backend}-{variant.name}",
                                         self._args.pg_url)
                url = manager.__enter__()
                self._stack.append(manager)
                configs.append((backend, variant, url))
        return configs

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)


def _report_closed(results: dict, servers: dict, levels: list[int]) -> None:
    print("\n## closed loop: median accepted events/s over rounds; p50/p99 over all requests")
    print(f"{'backend':8} {'variant':20} " + " ".join(
        f"{'c=' + str(level):>26}" for level in levels))
    best: dict[tuple[str, str], float] = {}
    for key in servers:
        cells = []
        for level in levels:
            samples = results[(*key, level)]
            rate = median([s.rate for s in samples])
            latencies = [x for s in samples for x in s.latencies_ms]
            best[key] = max(best.get(key, 0.0), rate)
            cells.append(f"{rate:6.0f}/s {percentile(latencies, 50):5.1f}/"
                         f"{percentile(latencies, 99):6.1f}ms")
        print(f"{key[0]:8} {key[1]:20} " + " ".join(f"{c:>26}" for c in cells))
    print("\n## server CPU per accepted event (median over rounds and levels; gunicorn master"
          " + worker, not PostgreSQL's own processes)")
    for key in servers:
        values = [s.cpu_ms_per_event for level in levels for s in results[(*key, level)]]
        cpu = median(values)
        print(f"{key[0]:8} {key[1]:20} {cpu:5.2f} ms/event -> one process saturates one core at"
              f" about {1000 / cpu:4.0f} events/s")
    print("\n## ratios to 'base' of the same backend (median accepted/s, same rounds)")
    for key in servers:
        base = (key[0], "base")
        if key[1] != "base" and key not in (FLOOR, SAMPLE) and base in servers:
            _print_ratios(results, key, base, levels)
    for reference, label in ((FLOOR, "floor"), (SAMPLE, "sample server")):
        if reference not in servers:
            continue
        print(f"\n## ratios to the {label} (median accepted/s, same rounds)")
        for key in servers:
            if key not in (FLOOR, SAMPLE):
                _print_ratios(results, key, reference, levels)
    print("\n## target >= 500 accepted events/s (best level)")
    for key, rate in best.items():
        verdict = "MET" if rate >= TARGET_RATE else "NOT MET"
        print(f"{key[0]:8} {key[1]:20} best {rate:6.0f}/s  {verdict}")


def _print_ratios(results: dict, key: tuple[str, str], reference: tuple[str, str],
                  levels: list[int]) -> None:
    ratios = []
    for level in levels:
        mine = median([s.rate for s in results[(*key, level)]])
        theirs = median([s.rate for s in results[(*reference, level)]])
        ratios.append(f"c={level}: {mine / theirs:4.2f}x" if theirs else f"c={level}: -")
    print(f"{key[0]:8} {key[1]:20} " + "  ".join(ratios))


def _report_open(args: argparse.Namespace, servers: dict, bodies: dict, drains: dict) -> None:
    print(f"\n## open loop at {args.rate:g} requests/s for {args.rate_seconds:g}s "
          "(latency from the scheduled send time)")
    # Configurations without delivery first: a delivery run leaves work behind.
    for key, server in sorted(servers.items(), key=lambda item: item[0] in drains):
        sample, lateness = open_loop(server, args.rate, args.rate_seconds, bodies[key])
        if key in drains:
            wait_drained(drains[key])
        p50 = percentile(sample.latencies_ms, 50)
        p99 = percentile(sample.latencies_ms, 99)
        verdict = "MET" if p99 < TARGET_P99_MS else "NOT MET"
        print(f"{key[0]:8} {key[1]:20} sent {len(sample.latencies_ms)} accepted "
              f"{sample.accepted}  p50 {p50:5.1f} ms  p99 {p99:6.1f} ms  max "
              f"{max(sample.latencies_ms, default=float('nan')):6.1f} ms  "
              f"(client send lateness p99 {percentile(lateness, 99):4.1f} ms)  "
              f"p99<25ms {verdict}{describe(sample)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
