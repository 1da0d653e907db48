"""Webhook ingest: accepted events/s and latency of ``python -m bot serve`` as shipped.

    python bench/ingest.py [--db sqlite|postgres|both] [--levels 16,64] [--duration 8]
                           [--rounds 3] [--rate 100] [--rate-seconds 10] [--channels 1]
                           [--variants base|standard|all] [--no-floor]
                           [--sample-server PATH] [--baseline REV]

The headline row, ``shipped``, is the service exactly as the README starts it: ``python -m
bot serve --host 127.0.0.1 --port P`` with DATABASE_URL, WEBHOOK_TOKEN, SLACK_BOT_TOKEN,
SLACK_CHANNEL and SLACK_API_URL set and every other setting at its default, so delivery
runs (4 threads: with PostgreSQL in the web worker's delivery process, with SQLite in the
web worker, DELIVERY_PROCESS=auto; one post per second per channel, storm roll-ups) and posts to a fake
Slack without limits (``bench/_fake_slack.py``, in its own process). With ``--channels N``
the webhooks name N channels in turn (``?channel=``), else they all go to SLACK_CHANNEL.
Rows with other settings are labelled with them: ``delivery-off`` (DELIVERY_THREADS=0,
accept only), ``no-group-commit``, ``sync=NORMAL``, ``log-only,unpaced`` (delivery with no
Slack token and no pacing: every event rendered and logged at once; the bench waits for
its outbox to drain after each of its samples) and the thread and process counts.

Beside the service, in the same rounds: the floor (``bench/floor_app.py``: bare Flask under
gunicorn gthread, one SQLite INSERT per request; unless ``--no-floor``) and, with
``--sample-server PATH``, ThousandEyes' sample server (Node + Express, forwarding each
event to an incoming webhook of the same fake Slack; skipped when PATH has no
``node_modules``). Ratios to both are printed per level.

The load is ``wrk`` on loopback (``bench/_wrk.py``): ``c`` keep-alive connections, every
request the sample trigger as a new alert (unique eventId and alertId). Every target is
started at once and measured in turn, round by round (level by level, target by target),
so the ratios compare targets under the same background noise. Figures per target and
level: median over rounds of accepted events/s and of wrk's p50/p99, the server's CPU per
accepted event (from /proc: the serve process tree, or node), and the CPU the fake Slack
and the other services used meanwhile. A service keeps delivering after its sample: the
bench waits until it goes quiet (``--settle``, at most 60 s) before the next target, and
counts the CPU it used meanwhile in its CPU per event, so one target's catching up is not
measured as another's noise. Beside them, how busy the whole machine was during the load
(/proc/stat: every process, PostgreSQL's and wrk's too) and wrk's own CPU per request: a
target that leaves no core idle is bound by CPU per event, not by waiting.

Then an open-loop run at ``--rate`` requests/s for ``--rate-seconds`` (a Python client):
sends are scheduled at fixed times and latency is measured from the scheduled time (so a
stalled server cannot hide its queue by slowing the client down).
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
    FakeSlackServer, FloorServer, SampleServer, Spawned, sample_server_available,
)
from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    MachineCpu,
    Serve,
    backends,
    checkout_of,
    children_cpu_seconds,
    encode,
    fresh_database,
    header,
    median,
    open_jobs,
    percentile,
    scratch,
    unique_trigger,
    wait_drained,
    webhook_headers,
)
from _wrk import WrkResult, require_wrk, run_wrk, trigger_template  # noqa: E402

TARGET_RATE = 500.0  # accepted events/s
TARGET_P99_MS = 25.0  # at 100 requests/s


@dataclass
class Variant:
    name: str
    env: dict[str, str]
    backends: tuple[str, ...] = ("sqlite", "postgres")
    # Slack settings (token, channel, the fake's URL) and every other setting at its default.
    shipped: bool = False
    slack: bool = True  # False: no Slack token, messages are only logged

    @property
    def waits_for_drain(self) -> bool:
        """Unpaced delivery: its backlog would run on while the others are measured."""
        return self.env.get("SLACK_POST_INTERVAL") == "0"


SHIPPED = "shipped"
_OFF = {"DELIVERY_THREADS": "0"}


def variants(which: str, baseline: Path | None = None, revision: str = "") -> list[Variant]:
    # Each webhook in its own transaction, as before group commit (bot.store.group_commit).
    one_by_one = Variant("delivery-off,no-group-commit", {**_OFF, "WEBHOOK_GROUP_COMMIT": "off"})
    chosen = [Variant(SHIPPED, {}, shipped=True), Variant("delivery-off", dict(_OFF))]
    if baseline is not None:
        # The same service from an earlier revision, measured in the same rounds.
        earlier = {"PYTHONPATH": str(baseline)}
        chosen += [Variant(f"{SHIPPED}@{revision}", earlier, shipped=True),
                   Variant(f"delivery-off@{revision}", {**_OFF, **earlier})]
    if which == "base":  # the headline: as shipped, and accepting only
        return chosen + [one_by_one]
    chosen += [
        Variant("delivery-off,sync=NORMAL", {**_OFF, "SQLITE_SYNCHRONOUS": "NORMAL"},
                ("sqlite",)),
        one_by_one,
        # Delivery competes as hard as it can: log-only (no Slack token) and no pacing,
        # so every accepted event is rendered and written to the log at once. After each
        # of its samples the bench waits for its outbox to drain, so its backlog does not
        # run on while the other configurations are measured.
        Variant("log-only,unpaced", {"DELIVERY_THREADS": "4", "SLACK_POST_INTERVAL": "0"},
                slack=False),
    ]
    if which == "all":
        chosen += [
            Variant("delivery-off,threads=2", {**_OFF, "WEB_THREADS": "2"}),
            Variant("delivery-off,threads=32", {**_OFF, "WEB_THREADS": "32"}),
            Variant("delivery-off,processes=2", {**_OFF, "WEB_CONCURRENCY": "2"}),
            Variant("delivery-off,processes=2,NORMAL",
                    {**_OFF, "WEB_CONCURRENCY": "2", "SQLITE_SYNCHRONOUS": "NORMAL"},
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


@dataclass
class Round:
    """One closed-loop measurement of one target at one level."""

    load: WrkResult
    server_cpu: float  # CPU seconds of the target during the measurement
    others_cpu: float  # CPU seconds the other services used meanwhile
    slack_cpu: float  # CPU seconds of the fake Slack meanwhile
    backlog: int | None = None  # the target's open outbox jobs right after
    # A service with delivery on keeps working after the load stops: the CPU it used
    # until it went quiet (or --settle seconds passed), and how long that took.
    catch_up_cpu: float = 0.0
    catch_up_seconds: float = 0.0
    # Whether the machine had a core to spare: its busy fraction during the load (every
    # process), and the CPU wrk itself spent per request.
    machine_busy: float = 0.0
    client_cpu: float = 0.0

    @property
    def client_ms_per_request(self) -> float:
        return self.client_cpu * 1000 / self.load.requests if self.load.requests else 0.0

    @property
    def cpu_ms_per_event(self) -> float:
        """During the load, and after it until the service went quiet."""
        accepted = self.load.accepted
        cpu = self.server_cpu + self.catch_up_cpu
        return cpu * 1000 / accepted if accepted else float("nan")


def settle(server: Serve, limit: float, quiet: float = 0.05) -> tuple[float, float]:
    """Wait until ``server`` uses less than ``quiet`` of a core over a second (its delivery
    has caught up, or waits for Slack's pacing), at most ``limit`` seconds, so that its
    work does not land in the next target's measurement. Returns (CPU seconds, seconds)."""
    began, first = time.monotonic(), server.cpu_seconds()
    last = first
    while time.monotonic() - began < limit:
        time.sleep(1.0)
        now = server.cpu_seconds()
        if now - last < quiet:
            break
        last = now
    return server.cpu_seconds() - first, time.monotonic() - began


def closed_loop(server: Serve | Spawned, concurrency: int, seconds: float, body_file: Path,
                tag: str, paths: list[str]) -> WrkResult:
    """``concurrency`` wrk connections posting new alerts for ``seconds``."""
    return run_wrk(server.url, paths, body_file, tag, concurrency, seconds, webhook_headers())


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
    parser.add_argument("--levels", default="16,64", help="wrk connections (closed loop)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop requests/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=1,
                        help="channels the webhooks name in turn (1: SLACK_CHANNEL alone)")
    parser.add_argument("--variants", choices=["base", "standard", "all"], default="base",
                        help="base: shipped and delivery-off (the headline); standard adds"
                             " sync=NORMAL, no group commit and unpaced log-only delivery;"
                             " all adds thread and process counts")
    parser.add_argument("--no-floor", action="store_true",
                        help="do not run bench/floor_app.py beside the service")
    parser.add_argument("--sample-server", metavar="PATH",
                        help="a checkout of thousandeyes/simple-webhook-server with"
                             " node_modules installed, run in the same rounds")
    parser.add_argument("--no-rate", action="store_true", help="skip the open-loop run")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="after a service's sample, wait up to this long for it to go"
                             " quiet (its delivery catching up); its CPU meanwhile counts")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run the shipped and delivery-off services of this git"
                             " revision, side by side")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    require_wrk()
    channels = [f"C0BENCH{index:03d}" for index in range(max(1, args.channels))]

    header("bench/ingest.py: webhook ingest throughput and latency")
    print(f"# levels={levels} duration={args.duration}s rounds={args.rounds} "
          f"rate={args.rate}/s for {args.rate_seconds}s channels={len(channels)}; client: wrk "
          f"(closed loop), Python threads (open loop); server: python -m bot serve")

    with scratch("bench-ingest-") as work, _baseline(args, work) as baseline, \
            _databases(args, work, baseline) as configs:
        slack = FakeSlackServer(work, channels)
        servers: dict[tuple[str, str], Serve | Spawned] = {}
        drains: dict[tuple[str, str], str] = {}  # key -> database URL, for unpaced delivery
        urls: dict[tuple[str, str], str] = {}  # key -> database URL, services that deliver
        body_file = work / "trigger.json"
        body_file.write_bytes(trigger_template())
        try:
            slack.wait_healthy()
            for backend, variant, url in configs:
                key = (backend, variant.name)
                if variant.env.get("DELIVERY_THREADS") != "0":
                    urls[key] = url
                if variant.waits_for_drain:
                    drains[key] = url
                env = {"DATABASE_URL": url, "WEBHOOK_TOKEN": WEBHOOK_TOKEN, **variant.env}
                if variant.slack:
                    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_API_URL=slack.api_url,
                               SLACK_CHANNEL=channels[0])
                servers[key] = Serve(work / "logs", f"{backend}-{variant.name}",
                                     shipped=variant.shipped, **env)
            _add_comparisons(args, work, servers, slack)
            bodies: dict[tuple[str, str], Bodies] = {}
            for key, server in servers.items():
                server.wait_healthy()
                bodies[key] = Bodies(f"{key[0]}-{key[1]}-{time.time_ns()}")
                warm_up(server, bodies[key])
            print(f"# started {len(servers)} servers: "
                  + ", ".join(f"{b}/{v}" for b, v in servers), flush=True)
            paths = {key: _paths(server, channels) for key, server in servers.items()}

            results: dict[tuple[str, str, int], list[Round]] = {}
            services = [key for key, server in servers.items() if isinstance(server, Serve)]
            for round_number in range(args.rounds):
                for level in levels:
                    for key, server in servers.items():
                        others = [servers[k] for k in services if k != key]
                        cpu_before = server.cpu_seconds()
                        others_before = sum(o.cpu_seconds() for o in others)
                        slack_before = slack.cpu_seconds()
                        client_before = children_cpu_seconds()
                        machine = MachineCpu()
                        tag = f"{key[0]}-{key[1]}-{round_number}-{level}-{time.time_ns()}"
                        load = closed_loop(server, level, args.duration, body_file, tag,
                                           paths[key])
                        sample = Round(load, server.cpu_seconds() - cpu_before,
                                       sum(o.cpu_seconds() for o in others) - others_before,
                                       slack.cpu_seconds() - slack_before,
                                       machine_busy=machine.busy(),
                                       client_cpu=children_cpu_seconds() - client_before)
                        if isinstance(server, Serve):
                            sample.catch_up_cpu, sample.catch_up_seconds = settle(
                                server, args.settle)
                        if key in urls:
                            sample.backlog = open_jobs(urls[key])
                        results.setdefault((*key, level), []).append(sample)
                        _print_round(round_number, key, level, sample)
                        if key in drains:
                            waited = wait_drained(drains[key])
                            print(f"  {'':8} {'':8} {key[1]:28} outbox drained in "
                                  f"{waited:.1f} s", flush=True)
            _report_closed(results, servers, levels)

            if not args.no_rate:
                _report_open(args, servers, bodies, drains, paths)
        finally:
            for server in [*servers.values(), slack]:
                server.stop()
    return 0


def _paths(server: Serve | Spawned, channels: list[str]) -> list[str]:
    """The webhook paths wrk takes in turn: one per channel for the service."""
    if isinstance(server, Serve) and len(channels) > 1:
        return [f"{server.path}?channel={channel}" for channel in channels]
    return [server.path]


def _print_round(round_number: int, key: tuple[str, str], level: int, sample: Round) -> None:
    load = sample.load
    extra = f"  backlog {sample.backlog}" if sample.backlog is not None else ""
    if sample.catch_up_seconds > 1.5:
        extra += (f"  caught up for {sample.catch_up_seconds:.0f} s, "
                  f"{sample.catch_up_cpu:.1f} CPU s")
    if load.refused or load.errors:
        extra += f"  refused {load.refused} errors {load.errors}"
    print(f"  round {round_number + 1} {key[0]:8} {key[1]:28} c={level:<3} {load.rate:7.1f}"
          f" accepted/s  p50 {load.p50_ms:6.1f} ms  p99 {load.p99_ms:7.1f} ms  server CPU"
          f" (with catching up)"
          f" {sample.cpu_ms_per_event:4.2f} ms/event  fake Slack "
          f"{sample.slack_cpu / load.seconds * 1000:4.0f} ms/s  other services "
          f"{sample.others_cpu / load.seconds * 1000:4.0f} ms/s  machine busy "
          f"{sample.machine_busy:4.0%}  wrk {sample.client_ms_per_request:4.2f} ms/request"
          f"{extra}", flush=True)


FLOOR = ("sqlite", "floor")
SAMPLE = ("node", "sample-server")


def _add_comparisons(args: argparse.Namespace, work: Path,
                     servers: dict[tuple[str, str], Serve | Spawned],
                     slack: FakeSlackServer) -> None:
    """The floor and the sample server (forwarding to ``slack``), when asked for."""
    if not args.no_floor:
        servers[FLOOR] = FloorServer(work)
    checkout = sample_server_available(args.sample_server)
    if checkout is not None:
        servers[SAMPLE] = SampleServer(checkout, work, slack.hook_url)


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


def _report_closed(results: dict[tuple[str, str, int], list[Round]], servers: dict,
                   levels: list[int]) -> None:
    print("\n## closed loop (wrk): median over rounds of accepted events/s and of p50/p99")
    print(f"{'backend':8} {'variant':28} " + " ".join(
        f"{'c=' + str(level):>26}" for level in levels))
    best: dict[tuple[str, str], float] = {}
    for key in servers:
        cells = []
        for level in levels:
            rounds = results[(*key, level)]
            rate = median([r.load.rate for r in rounds])
            best[key] = max(best.get(key, 0.0), rate)
            cells.append(f"{rate:6.0f}/s {median([r.load.p50_ms for r in rounds]):5.1f}/"
                         f"{median([r.load.p99_ms for r in rounds]):6.1f}ms")
        print(f"{key[0]:8} {key[1]:28} " + " ".join(f"{c:>26}" for c in cells))
    print("\n## server CPU per accepted event (median over rounds and levels; serve's process"
          " tree, not PostgreSQL's; node alone for the sample server); the fake Slack's and"
          " the other services' CPU meanwhile (medians, ms per second); how busy the whole"
          " machine was (1.0 = every core) and wrk's own CPU per request")
    for key in servers:
        rounds = [r for level in levels for r in results[(*key, level)]]
        cpu = median([r.cpu_ms_per_event for r in rounds])
        others = median([r.others_cpu / r.load.seconds * 1000 for r in rounds])
        fake = median([r.slack_cpu / r.load.seconds * 1000 for r in rounds])
        busy = median([r.machine_busy for r in rounds])
        client = median([r.client_ms_per_request for r in rounds])
        print(f"{key[0]:8} {key[1]:28} {cpu:5.2f} ms/event -> one core at about"
              f" {1000 / cpu:4.0f} events/s; fake Slack {fake:4.0f} ms/s; other services"
              f" {others:4.0f} ms/s; machine busy {busy:.0%}; wrk {client:.2f} ms/request")
    print("\n## ratios to 'delivery-off' of the same backend (median accepted/s, same rounds)")
    for key in servers:
        reference = (key[0], "delivery-off")
        if key != reference and key not in (FLOOR, SAMPLE) and reference in servers:
            _print_ratios(results, key, reference, levels)
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
        print(f"{key[0]:8} {key[1]:28} best {rate:6.0f}/s  {verdict}")


def _print_ratios(results: dict[tuple[str, str, int], list[Round]], key: tuple[str, str],
                  reference: tuple[str, str], levels: list[int]) -> None:
    ratios = []
    for level in levels:
        mine = median([r.load.rate for r in results[(*key, level)]])
        theirs = median([r.load.rate for r in results[(*reference, level)]])
        ratios.append(f"c={level}: {mine / theirs:4.2f}x" if theirs else f"c={level}: -")
    print(f"{key[0]:8} {key[1]:28} " + "  ".join(ratios))


def _report_open(args: argparse.Namespace, servers: dict, bodies: dict, drains: dict,
                 paths: dict) -> None:
    print(f"\n## open loop at {args.rate:g} requests/s for {args.rate_seconds:g}s "
          "(latency from the scheduled send time)")
    # Configurations without unpaced delivery first: such a run leaves work behind.
    for key, server in sorted(servers.items(), key=lambda item: item[0] in drains):
        sample, lateness = open_loop(server, args.rate, args.rate_seconds, bodies[key],
                                     paths=tuple(paths[key]))
        if key in drains:
            wait_drained(drains[key])
        p50 = percentile(sample.latencies_ms, 50)
        p99 = percentile(sample.latencies_ms, 99)
        verdict = "MET" if p99 < TARGET_P99_MS else "NOT MET"
        print(f"{key[0]:8} {key[1]:28} sent {len(sample.latencies_ms)} accepted "
              f"{sample.accepted}  p50 {p50:5.1f} ms  p99 {p99:6.1f} ms  max "
              f"{max(sample.latencies_ms, default=float('nan')):6.1f} ms  "
              f"(client send lateness p99 {percentile(lateness, 99):4.1f} ms)  "
              f"p99<25ms {verdict}{describe(sample)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
