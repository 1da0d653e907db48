"""Rendering cost: time per parent message through ``MessageRenderer(None).render_parent``.

    python bench/render.py [--runs 2000] [--agents 500] [--repeats 5]

Messages: the knowledge-base sample trigger (2 agents) and the same alert with
``--agents`` agents, each in the triggered, acknowledged and cleared states, plus the
clear reply of the big alert. The view is built as ``python -m bot render`` builds it
(``bot.cli.render.preview_view``). Each call is timed on its own; reported are the
median and p99 of all calls, and the median of the per-repeat medians (the repeats are
interleaved across messages so noise hits them alike).
Targets: sample trigger < 1 ms, 500-agent alert < 10 ms (median).
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, median, percentile  # noqa: E402
from bot.render import MessageRenderer  # noqa: E402
from bot.cli.render import preview_view  # noqa: E402
from bot.thousandeyes.samples import load_sample  # noqa: E402
from bot.thousandeyes import parse_event  # noqa: E402


def big_trigger(agents: int) -> dict:
    payload = load_sample("trigger")
    template = payload["alert"]["agents"][0]
    payload["alert"]["agents"] = []
    for number in range(agents):
        agent = copy.deepcopy(template)
        agent["agentId"] = 10_000 + number
        agent["agentName"] = f"Agent {number:04d} <edge & co>"
        agent["locationName"] = f"City {number % 97}, Region {number % 13}"
        agent["permalink"] = (f"https://app.thousandeyes.com/alerts/list?__a=11&alertId=35541"
                              f"&agentId={10_000 + number}")
        payload["alert"]["agents"].append(agent)
    return payload


class Counting(logging.Handler):
    """Formats records like a real handler, then drops them; counts warnings."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.warnings = 0
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)
        if record.levelno >= logging.WARNING:
            self.warnings += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="calls per message per repeat")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    handler = Counting()
    logging.basicConfig(level=logging.INFO, handlers=[handler])

    header("bench/render.py: MessageRenderer(None).render_parent(view)")
    renderer = MessageRenderer(None)
    sample = parse_event(load_sample("trigger"))
    big = parse_event(big_trigger(args.agents))
    cases = {
        "sample trigger, triggered": (renderer.render_parent, preview_view(sample, "triggered"), 1.0),
        "sample trigger, acknowledged": (renderer.render_parent, preview_view(sample, "acknowledged", "preview-user"), 1.0),
        "sample trigger, cleared": (renderer.render_parent, preview_view(sample, "cleared", "preview-user"), 1.0),
        f"{args.agents}-agent, triggered": (renderer.render_parent, preview_view(big, "triggered"), 10.0),
        f"{args.agents}-agent, acknowledged": (renderer.render_parent, preview_view(big, "acknowledged", "preview-user"), 10.0),
        f"{args.agents}-agent, cleared": (renderer.render_parent, preview_view(big, "cleared", "preview-user"), 10.0),
        f"{args.agents}-agent clear reply": (renderer.render_clear_reply, preview_view(big, "cleared", "preview-user"), None),
    }
    big_runs = max(50, args.runs // 10)
    print(f"# runs per repeat: {args.runs} (sample), {big_runs} ({args.agents} agents); "
          f"repeats: {args.repeats}; logging formatted and dropped")

    details = {}
    for name, (render, view, _target) in cases.items():
        message = render(view)  # warm: compile the template
        details[name] = (len(message.blocks), len(str(message.blocks)), message.fallback,
                         len(message.warnings))

    timings: dict[str, list[float]] = {name: [] for name in cases}
    repeat_medians: dict[str, list[float]] = {name: [] for name in cases}
    handler.warnings = 0
    for _repeat in range(args.repeats):
        for name, (render, view, _target) in cases.items():
            runs = args.runs if name.startswith("sample") else big_runs
            local = []
            gc.collect()
            for _ in range(runs):
                began = time.perf_counter_ns()
                render(view)
                local.append((time.perf_counter_ns() - began) / 1e6)
            timings[name] += local
            repeat_medians[name].append(median(local))

    print(f"\n{'message':34} {'median':>9} {'p99':>9} {'med of repeats':>15} "
          f"{'blocks':>7} {'chars':>7} {'target':>8}  verdict")
    for name, (_render, _view, target) in cases.items():
        values = timings[name]
        med = median(values)
        blocks, chars, fallback, warnings = details[name]
        verdict = "-" if target is None else ("MET" if med < target else "NOT MET")
        target_text = "-" if target is None else f"<{target:g} ms"
        note = (" FALLBACK" if fallback else "") + (f" ({warnings} trim warnings)" if warnings else "")
        print(f"{name:34} {med:7.3f}ms {percentile(values, 99):7.3f}ms "
              f"{median(repeat_medians[name]):13.3f}ms {blocks:7d} {chars:7d} {target_text:>8}  "
              f"{verdict}{note}")
    sample_median = median(timings["sample trigger, triggered"])
    big_median = median(timings[f"{args.agents}-agent, triggered"])
    print(f"\nratio {args.agents}-agent / sample (triggered): {big_median / sample_median:.1f}x")
    print(f"log records at WARNING or above while timing: {handler.warnings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
