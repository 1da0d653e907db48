"""Safe by default: every printed value escaped for mrkdwn, helpers already safe, JSON
never written by a template."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jinja2.sandbox import SecurityError

from bot.render.environment import create_environment
from bot.render.layout import MessageLayout


@pytest.fixture(scope="module")
def env():
    return create_environment()


def shown(env, source: str, **values) -> str:
    """What Slack would read for a section whose text is ``source``."""
    layout = MessageLayout()
    env.from_string('{% do msg.text("t") %}{% call msg.section() %}' + source
                    + "{% endcall %}").render(msg=layout, **values)
    message = layout.message()
    # Round-trip through JSON as the Web API call does.
    return json.loads(json.dumps(message))["blocks"][0]["text"]["text"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("a & b", "a &amp; b"),
        ("&amp;", "&amp;amp;"),
        ("&#34; &#39;", "&amp;#34; &amp;#39;"),
        ('say "hi" it\'s', 'say "hi" it\'s'),
        ("back\\slash", "back\\slash"),
        ("line\nbreak\ttab\x00nul\x1f.", "line\nbreak\ttab\x00nul\x1f."),
        ("ünïcødé ✅ ≤", "ünïcødé ✅ ≤"),
        ('"}]}, {"type": "divider', '"}]}, {"type": "divider'),
    ],
)
def test_every_printed_value_is_escaped(env, raw, expected):
    assert shown(env, "{{ x }}", x=raw) == expected


def test_template_literals_in_expressions_are_escaped_too(env):
    assert shown(env, "{{ '<!here>' }}") == "&lt;!here&gt;"


def test_template_text_is_the_authors_mrkdwn(env):
    assert shown(env, "<!here> *bold* \"q\" & co") == "<!here> *bold* \"q\" & co"


def test_non_strings_print_as_text_and_missing_values_as_nothing(env):
    source = "{{ n }}|{{ f }}|{{ missing }}|{{ none }}|{{ obj.missing }}"
    assert shown(env, source, n=5, f=1.5, obj={}) == "5|1.5|||"


def test_concatenation_keeps_escaping_right(env):
    # a link (safe) joined with hostile text (not safe): the text is escaped, the link kept.
    source = "{{ link(u, 'site') ~ ' ' ~ x }}"
    assert shown(env, source, u="https://a.example/", x='"\\<!here>') == (
        '<https://a.example/|site> "\\&lt;!here&gt;'
    )
    assert shown(env, "{{ a ~ b }}", a="<", b=">") == "&lt;&gt;"


def test_join_replace_and_format_escape_plain_values(env):
    assert shown(env, "{{ [mention('U0ABC1'), '<x>']|join(' & ') }}") == (
        "<@U0ABC1> &amp; &lt;x&gt;"
    )
    assert shown(env, "{{ x|replace('a', '<') }}", x='a"b') == '&lt;"b'
    assert shown(env, "{{ '%s!'|format(x) }}", x="<!here>") == "&lt;!here&gt;!"


def test_values_handed_to_msg_directly_are_escaped(env):
    layout = MessageLayout()
    env.from_string("{% do msg.text(x) %}{% do msg.header(x) %}"
                    "{% do msg.fields([('Name', x), ('Empty', '')]) %}"
                    "{% do msg.context([x, none]) %}").render(msg=layout, x="<!channel> &")
    message = layout.message()
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped
    assert message["text"] == "&lt;!channel&gt; &amp;"
    assert message["blocks"][1]["fields"] == [
        {"type": "mrkdwn", "text": "*Name*\n&lt;!channel&gt; &amp;"}]
    assert len(message["blocks"][2]["elements"]) == 1


def test_text_printed_outside_msg_never_reaches_slack(env):
    layout = MessageLayout()
    out = env.from_string('{"text": "<!channel>"}{% do msg.text("ok") %}').render(msg=layout)
    assert out.startswith('{"text"')
    assert layout.message() == {"text": "ok", "blocks": []}


def test_html_filters_are_not_available(env):
    from jinja2 import TemplateAssertionError

    for name in ("urlize", "xmlattr"):
        with pytest.raises(TemplateAssertionError):
            env.from_string("{{ x|" + name + " }}")


@pytest.mark.parametrize(
    "url, label, expected",
    [
        ("https://te.example/a?b=1&c=2", "Site", "<https://te.example/a?b=1&amp;c=2|Site>"),
        ("https://te.example/a|b>c<d", "x", "<https://te.example/a%7Cb%3Ec%3Cd|x>"),
        ("https://te.example/", "<!channel> & \"co\"", '<https://te.example/|&lt;!channel&gt; &amp; "co">'),
        ("https://te.example/", "a\nb", "<https://te.example/|a b>"),
        ("https://te.example/", "", "<https://te.example/>"),
        ("https://te.example/it's", "x", "<https://te.example/it's|x>"),
        ("javascript:alert(1)", "click", "click"),
        ("slack://open", "<@U1>", "&lt;@U1&gt;"),
        ("", "plain", "plain"),
        ("http:///nohost", "x", "x"),
    ],
)
def test_link(env, url, label, expected):
    assert shown(env, "{{ link(u, l) }}", u=url, l=label) == expected


@pytest.mark.parametrize(
    "user_id, name, expected",
    [
        ("U0123ABC", "Alice", "<@U0123ABC>"),
        ("W0123ABC", "Grid", "<@W0123ABC>"),
        ("U1>|<!channel", "Mallory", "Mallory"),
        ("<!channel>", None, "&lt;!channel&gt;"),
        ("", "<b>", "&lt;b&gt;"),
    ],
)
def test_mention(env, user_id, name, expected):
    assert shown(env, "{{ mention(i, n) }}", i=user_id, n=name) == expected


def test_date_token(env):
    moment = datetime(2014, 8, 24, 1, 1, 47, tzinfo=UTC)
    assert shown(env, "{{ date(d) }}", d=moment) == (
        "<!date^1408842107^{date_short_pretty} at {time}|2014-08-24 01:01 UTC>"
    )
    assert shown(env, "{{ date(d, '{time}') }}", d=1408842107) == (
        "<!date^1408842107^{time}|2014-08-24 01:01 UTC>"
    )
    # A template-supplied format or fallback cannot end the token early.
    assert shown(env, "{{ date(d, '{time}|<!here>', '<x>') }}", d=moment) == (
        "<!date^1408842107^{time}!here|&lt;x&gt;>"
    )
    assert shown(env, "x{{ date(none) }}{{ date('soon') }}") == "x"


def test_button_urls_are_http_only(env):
    layout = MessageLayout()
    env.from_string(
        '{% do msg.text("t") %}{% do msg.actions(['
        '{"text": "A", "action_id": "a", "url": u},'
        '{"text": "B", "action_id": "b", "url": "ftp://a.example/"}]) %}'
    ).render(msg=layout, u='https://a.example/?x=1&y="2"')
    first, second = layout.message()["blocks"][0]["elements"]
    assert first["url"] == "https://a.example/?x=1&y=%222%22"
    assert second["url"] == ""  # dropped by the Block Kit limits check


def test_clip_cuts_before_escaping(env):
    assert shown(env, "{{ x|clip(5) }}", x="&&&&&&&&") == "&amp;&amp;&amp;&amp;…"
    assert shown(env, "{{ x|clip(50) }}", x="short") == "short"


def test_code_filter_keeps_the_code_span_closed(env):
    assert shown(env, "{{ x|code }}", x="a `b`\nc <d>") == "`a ˋbˋ c &lt;d&gt;`"


def test_sandbox_limits(env):
    with pytest.raises(SecurityError):
        env.from_string("{{ 'x' * 1000000 }}").render()
    with pytest.raises(SecurityError):
        env.from_string("{{ 2 ** 100000 }}").render()
    with pytest.raises(SecurityError):
        env.from_string("{{ x.__class__ }}").render(x="")
    assert env.from_string("{{ 'ab' * 2 }}{{ 2 ** 3 }}").render() == "abab8"
