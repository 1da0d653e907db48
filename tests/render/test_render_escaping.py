"""Safe by default: each printed value escaped for JSON and mrkdwn, helpers already safe."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from jinja2.sandbox import SecurityError

from bot.render import escaping
from bot.render.environment import create_environment


@pytest.fixture(scope="module")
def env():
    return create_environment()


class _Evil:
    """An object whose text is hostile; tojson must escape it like any string."""

    def __str__(self) -> str:
        return "<!channel>"


def render_json(env, source: str, **values):
    """Render ``{"v": <source>}`` and return the decoded value Slack would read."""
    return json.loads(env.from_string('{"v": ' + source + "}").render(**values))["v"]


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("a & b", "a &amp; b"),
        ("&amp;", "&amp;amp;"),
        ('say "hi"', 'say "hi"'),
        ("back\\slash", "back\\slash"),
        ("line\nbreak\ttab\x00nul\x1f", "line\nbreak\ttab\x00nul\x1f"),
        ("", ""),
        ("ünïcødé ✅ ≤", "ünïcødé ✅ ≤"),
    ],
)
def test_every_printed_value_is_escaped(env, raw, shown):
    assert render_json(env, '"{{ x }}"', x=raw) == shown


def test_template_literals_in_expressions_are_escaped_too(env):
    assert render_json(env, '"{{ \'<!here>\' }}"') == "&lt;!here&gt;"


def test_non_strings_print_as_text_and_missing_values_as_nothing(env):
    source = '"{{ n }}|{{ f }}|{{ missing }}|{{ none }}|{{ obj.missing }}"'
    assert render_json(env, source, n=5, f=1.5, obj={}) == "5|1.5|||"


def test_tojson_prints_json_values_safely(env):
    assert render_json(env, "{{ x|tojson }}", x=[1, True, None, "<!channel>", {"k": "&"}]) == [
        1, True, None, "&lt;!channel&gt;", {"k": "&amp;"}
    ]
    assert render_json(env, "{{ x|tojson }}", x=float("nan")) is None
    assert render_json(env, "{{ x|tojson }}", x={"<k>": object.__new__(_Evil)}) == {
        "&lt;k&gt;": "&lt;!channel&gt;"
    }


def test_concatenation_keeps_escaping_right(env):
    # a link (safe) joined with hostile text (not safe): the text is escaped, the link kept.
    source = '"{{ link(u, \'site\') ~ \' \' ~ x }}"'
    value = render_json(env, source, u="https://a.example/", x='"\\<!here>\n')
    assert value == '<https://a.example/|site> "\\&lt;!here&gt;\n'
    assert render_json(env, '"{{ a ~ b }}"', a="<", b=">") == "&lt;&gt;"


def test_join_replace_and_format_filters_escape_our_way(env):
    source = '"{{ [mention(\'U0ABC1\'), \'<x>\']|join(\' & \') }}"'
    assert render_json(env, source) == "<@U0ABC1> &amp; &lt;x&gt;"
    assert render_json(env, '"{{ x|replace(\'a\', \'<\') }}"', x="a\"b") == '&lt;"b'
    assert render_json(env, '"{{ \'%s!\'|format(x) }}"', x="<!here>") == "&lt;!here&gt;!"
    assert render_json(env, '"{{ x|e }}"', x="<\n>") == "&lt;\n&gt;"


def test_safe_filter_trusts_mrkdwn_but_never_breaks_the_json(env):
    assert render_json(env, '"{{ \'<!here> \\"q\\"\'|safe }}"') == '<!here> "q"'


def test_html_filters_are_not_available(env):
    from jinja2 import TemplateAssertionError

    for name in ("urlize", "xmlattr"):
        with pytest.raises(TemplateAssertionError):
            env.from_string("{{ x|" + name + " }}")


@pytest.mark.parametrize(
    "url, label, shown",
    [
        ("https://te.example/a?b=1&c=2", "Site", "<https://te.example/a?b=1&amp;c=2|Site>"),
        ("https://te.example/a|b>c<d", "x", "<https://te.example/a%7Cb%3Ec%3Cd|x>"),
        ("https://te.example/", "<!channel> & \"co\"", '<https://te.example/|&lt;!channel&gt; &amp; "co">'),
        ("https://te.example/", "", "<https://te.example/>"),
        ("javascript:alert(1)", "click", "click"),
        ("slack://open", "<@U1>", "&lt;@U1&gt;"),
        ("", "plain", "plain"),
        (None, None, ""),
        ("http:///nohost", "x", "x"),
    ],
)
def test_link(env, url, label, shown):
    assert render_json(env, '"{{ link(u, l) }}"', u=url, l=label) == shown


@pytest.mark.parametrize(
    "user_id, name, shown",
    [
        ("U0123ABC", "Alice", "<@U0123ABC>"),
        ("W0123ABC", "Grid", "<@W0123ABC>"),
        ("U1>|<!channel", "Mallory", "Mallory"),
        ("<!channel>", None, "&lt;!channel&gt;"),
        ("", "<b>", "&lt;b&gt;"),
    ],
)
def test_mention(env, user_id, name, shown):
    assert render_json(env, '"{{ mention(i, n) }}"', i=user_id, n=name) == shown


def test_date_token(env):
    moment = datetime(2014, 8, 24, 1, 1, 47, tzinfo=timezone.utc)
    assert render_json(env, '"{{ date(d) }}"', d=moment) == (
        "<!date^1408842107^{date_short_pretty} at {time}|2014-08-24 01:01 UTC>"
    )
    assert render_json(env, '"{{ date(d, \'{time}\') }}"', d=1408842107) == (
        "<!date^1408842107^{time}|2014-08-24 01:01 UTC>"
    )
    # A template-supplied format or fallback cannot end the token early.
    assert render_json(env, '"{{ date(d, \'{time}|<!here>\', \'<x>\') }}"', d=moment) == (
        "<!date^1408842107^{time}!here|&lt;x&gt;>"
    )
    assert render_json(env, '"{{ date(none) }}{{ date(\'soon\') }}"') == ""


def test_url_filter_for_button_urls(env):
    url = 'https://a.example/?x=1&y="2"'
    assert render_json(env, '"{{ u|url }}"', u=url) == "https://a.example/?x=1&y=%222%22"
    assert render_json(env, '"{{ u|url }}"', u="ftp://a.example/") == ""


def test_clip_cuts_before_escaping(env):
    assert render_json(env, '"{{ x|clip(5) }}"', x="&&&&&&&&") == "&amp;&amp;&amp;&amp;…"
    assert render_json(env, '"{{ x|clip(50) }}"', x="short") == "short"


def test_code_filter_keeps_the_code_span_closed(env):
    assert render_json(env, '"{{ x|code }}"', x="a `b`\nc") == "`a ˋbˋ c`"


def test_sandbox_limits(env):
    with pytest.raises(SecurityError):
        env.from_string("{{ 'x' * 1000000 }}").render()
    with pytest.raises(SecurityError):
        env.from_string("{{ 2 ** 100000 }}").render()
    with pytest.raises(SecurityError):
        env.from_string("{{ x.__class__ }}").render(x="")
    assert env.from_string("{{ 'ab' * 2 }}{{ 2 ** 3 }}").render() == "abab8"


def test_safe_values_do_not_survive_slicing(env):
    # Slicing escaped text could split "\\n"; the pieces are escaped again instead.
    assert render_json(env, '"{{ link(u, \'a\\nb\')[:3] }}"', u="https://a.example/") == "&lt;ht"
    assert isinstance(escaping.SlackSafe("x").split("x")[0], str)
