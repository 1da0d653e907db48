"""Pictures of the bot's messages for the README, made from the real templates.

    .venv/bin/python docs/pictures/make_pictures.py [--out DIR]

Renders the knowledge-base sample alert with the shipped templates (as the service does),
lays each message's Block Kit out in a page styled like Slack's, and captures it with
headless Chromium. Dates are drawn as Slack shows its date tokens to a reader whose zone
is ``READER_ZONE`` (Europe/Berlin) with Slack's US English formats and 12-hour clock:
"Aug 24, 2014 at 3:01 AM", not the token's fallback text. Needs Debian's ``chromium`` and ``chromium-driver`` and the emoji font
(``apt-get install -y chromium chromium-driver fonts-noto-color-emoji``) and the test
requirements (selenium). The PNGs land next to this script, or in ``--out``.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bot.render.actions import encode_alert_ref
from bot.render.view import AlertView, DisplayState, Responder
from bot.render import MessageRenderer, RenderedMessage
from bot.cli.render import preview_view
from bot.thousandeyes import parse_event
from bot.thousandeyes.samples import load_sample

OUT = Path(__file__).resolve().parent
WIDTH = 760
BOT_NAME = "ThousandEyes Alerts"
PEOPLE = {"U0ALICE01": "alice", "U0BOB0002": "bob"}
# The reader the pictures are drawn for: Slack shows each reader dates in their own zone.
READER_ZONE = ZoneInfo("Europe/Berlin")


def _ordinal(day: int) -> str:
    return f"{day}{'th' if 10 <= day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')}"


def _clock(moment: datetime, seconds: bool = False) -> str:
    return f"{moment.hour % 12 or 12}:{moment:%M}{':' + format(moment, '%S') if seconds else ''}" \
        f" {'AM' if moment.hour < 12 else 'PM'}"


# Slack's date tokens (api.slack.com, "Formatting text: date"), US English. The *_pretty
# ones say "today" or "yesterday" when they apply; the pictures' dates are long past.
_DATE_TOKENS = {
    "date_num": lambda d: f"{d:%Y-%m-%d}",
    "date": lambda d: f"{d:%B} {_ordinal(d.day)}, {d.year}",
    "date_short": lambda d: f"{d:%b} {d.day}, {d.year}",
    "date_long": lambda d: f"{d:%A}, {d:%B} {_ordinal(d.day)}, {d.year}",
    "time": _clock,
    "time_secs": lambda d: _clock(d, seconds=True),
}
for _name in ("date", "date_short", "date_long"):
    _DATE_TOKENS[f"{_name}_pretty"] = _DATE_TOKENS[_name]


def slack_date(token: str) -> str:
    """``!date^EPOCH^FORMAT[^LINK]|fallback`` as Slack shows it to a reader in READER_ZONE."""
    _date, epoch, layout = token.split("|", 1)[0].split("^")[:3]
    moment = datetime.fromtimestamp(int(epoch), READER_ZONE)
    return re.sub(r"\{(\w+)\}", lambda m: _DATE_TOKENS[m.group(1)](moment), layout)


def message_time(moment: datetime) -> str:
    """A message's own time beside the bot's name, as Slack shows it to that reader."""
    return _clock(moment.astimezone(READER_ZONE))

_STYLE = """
body { margin: 0; background: #fff; font: 15px/1.46668 "Liberation Sans", "DejaVu Sans",
  sans-serif, "Noto Color Emoji"; color: #1d1c1d; }
.pane { width: %dpx; padding: 8px 0 12px; }
.msg { display: flex; padding: 8px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
  font-weight: bold; display: flex; align-items: center; justify-content: center;
  margin-right: 8px; flex: none; font-size: 13px; }
.who { font-weight: 900; } .app { font-size: 10px; background: #e8e8e8; color: #616061;
  padding: 1px 3px; border-radius: 2px; margin-left: 4px; vertical-align: 2px; }
.time { color: #616061; font-size: 12px; margin-left: 6px; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0; }
.section { margin: 4px 0; white-space: pre-wrap; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; margin: 8px 0; }
.field { white-space: pre-wrap; }
.context { color: #616061; font-size: 12px; margin: 6px 0; }
.context span + span { margin-left: 8px; }
.actions { margin: 8px 0 4px; }
.button { display: inline-block; border: 1px solid #bbb; border-radius: 4px;
  padding: 3px 12px; font-weight: bold; font-size: 13px; margin-right: 8px; }
.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
a { color: #1264a3; text-decoration: none; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: #e01e5a;
  background: #f6f6f6; border: 1px solid #ddd; border-radius: 3px; padding: 0 3px; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
.thread { margin-left: 64px; border-left: 2px solid #ddd; }
.caption { color: #616061; font-size: 13px; padding: 4px 20px 0; }
""" % WIDTH


def mrkdwn_html(text: str) -> str:
    """Slack mrkdwn as HTML, for the picture only (links, mentions, dates, bold, code)."""
    # mrkdwn arrives with &, < and > escaped as entities, which HTML reads the same way;
    # only the tokens Slack would turn into links, mentions and dates are raw < >.
    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("@"):
            return f'<span class="mention">@{PEOPLE.get(inner[1:], inner[1:])}</span>'
        if inner.startswith("!date^"):
            return slack_date(inner)
        if inner.startswith("!"):
            return f'<span class="mention">@{inner[1:].split("^")[0]}</span>'
        url, _, label = inner.partition("|")
        return f'<a href="{url}">{label or url}</a>'

    text = text.replace('"', "&quot;")
    text = re.sub(r"<([^<>]+)>", token, text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
    return text


def blocks_html(message: RenderedMessage) -> str:
    parts = []
    for block in message.blocks:
        kind = block["type"]
        if kind == "header":
            parts.append(f'<div class="header">{html.escape(block["text"]["text"])}</div>')
        elif kind == "section":
            if "text" in block:
                parts.append(f'<div class="section">{mrkdwn_html(block["text"]["text"])}</div>')
            if "fields" in block:
                cells = "".join(f'<div class="field">{mrkdwn_html(f["text"])}</div>'
                                for f in block["fields"])
                parts.append(f'<div class="fields">{cells}</div>')
        elif kind == "context":
            cells = "".join(f"<span>{mrkdwn_html(e.get('text', ''))}</span>"
                            for e in block["elements"])
            parts.append(f'<div class="context">{cells}</div>')
        elif kind == "actions":
            buttons = "".join(
                f'<span class="button {b.get("style", "")}">{html.escape(element_label(b))}</span>'
                for b in block["elements"])
            parts.append(f'<div class="actions">{buttons}</div>')
        elif kind == "divider":
            parts.append("<hr>")
    return "".join(parts) or f'<div class="section">{mrkdwn_html(message.text)}</div>'


def element_label(element: dict[str, Any]) -> str:
    """What Slack shows on an actions element: a button's text, a menu's placeholder, ⋮."""
    if element.get("type") == "overflow":
        return "⋮"
    if element.get("type") == "static_select":
        return f'{element["placeholder"]["text"]} ▾'
    return element["text"]["text"]


def storm_views(triggered: AlertView, alice: Responder) -> list[AlertView]:
    """Eight alerts of one outage, two rules, some acknowledged or cleared already."""
    tests = ["www.example.com", "api.example.com", "shop.example.com", "cdn.example.com",
             "login.example.com", "docs.example.com", "status.example.com", "m.example.com"]
    views = []
    for number, test in enumerate(tests):
        alert = replace(triggered.alert, test_name=test,
                        rule_name="HTTP availability" if number % 3 else triggered.alert.rule_name)
        view = replace(triggered, alert=alert, alert_ref=encode_alert_ref(number + 1))
        if number in (2, 5):
            view = replace(view, state=DisplayState.CLEARED,
                           cleared_at=(view.triggered_at or view.first_seen_at) + timedelta(minutes=4))
        elif number == 1:
            view = replace(view, state=DisplayState.ACKNOWLEDGED, responders=(alice,),
                           first_acknowledged_at=alice.acknowledged_at)
        views.append(view)
    return views


def message_html(message: RenderedMessage, time: str, thread: bool = False) -> str:
    return (f'<div class="msg{" thread" if thread else ""}"><div class="avatar">TE</div><div>'
            f'<span class="who">{BOT_NAME}</span><span class="app">APP</span>'
            f'<span class="time">{time}</span>{blocks_html(message)}</div></div>')


def page(body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><style>{_STYLE}</style>'
            f'</head><body><div class="pane">{body}</div></body></html>')


def pictures() -> dict[str, str]:
    """name -> page, for each picture in the README."""
    renderer = MessageRenderer()
    trigger = parse_event(load_sample("trigger"))
    clear = parse_event(load_sample("clear"))
    triggered = preview_view(trigger, "triggered")
    start = triggered.triggered_at or triggered.first_seen_at
    alice = Responder("U0ALICE01", "alice", start + timedelta(minutes=2))
    acknowledged = replace(triggered, state=DisplayState.ACKNOWLEDGED, responders=(alice,),
                           first_acknowledged_at=alice.acknowledged_at)
    cleared = replace(preview_view(clear, "cleared"), responders=(alice,),
                      first_acknowledged_at=alice.acknowledged_at)
    retriggered = replace(acknowledged, trigger_count=2)
    agent = preview_view(parse_event(load_sample("agent-trigger")), "triggered")
    posted = message_time(start)
    thread = "".join([
        message_html(renderer.render_parent(cleared), posted),
        '<div class="caption">3 replies</div>',
        message_html(renderer.render_ack_note(acknowledged, alice, True),
                     message_time(alice.acknowledged_at), thread=True),
        message_html(renderer.render_retrigger_note(retriggered),
                     message_time(start + timedelta(minutes=4)), thread=True),
        message_html(renderer.render_clear_reply(cleared),
                     message_time(cleared.cleared_at or start), thread=True),
    ])
    return {
        "parent-triggered": page(message_html(renderer.render_parent(triggered), posted)),
        "parent-acknowledged": page(message_html(renderer.render_parent(acknowledged), posted)),
        "parent-cleared": page(message_html(renderer.render_parent(cleared), posted)),
        "thread": page(thread),
        "agent-parent": page(message_html(renderer.render_parent(agent),
                                          message_time(agent.triggered_at or agent.first_seen_at))),
        "storm-rollup": page(message_html(renderer.render_rollup(
            1, storm_views(triggered, alice)), posted)),
    }


def capture(pages: dict[str, str], out: Path = OUT) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--hide-scrollbars",
                 "--force-device-scale-factor=1"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            for name, source in pages.items():
                path = Path(profile) / f"{name}.html"
                path.write_text(source, encoding="utf-8")
                driver.set_window_size(WIDTH, 400)
                driver.get(path.as_uri())
                height = driver.execute_script(
                    "return document.querySelector('.pane').getBoundingClientRect().height")
                # The window is taller than its viewport; leave room so nothing is cut.
                driver.set_window_size(WIDTH + 40, int(height) + 400)
                pane = driver.find_element("css selector", ".pane")
                pane.screenshot(str(out / f"{name}.png"))
                print(f"wrote {out / name}.png")
        finally:
            driver.quit()


def main() -> Any:
    parser = argparse.ArgumentParser(description="pictures of the messages, for the README")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default {OUT})")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    capture(pictures(), out)


if __name__ == "__main__":
    main()
