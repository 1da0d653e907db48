"""The one Jinja environment that renders Slack messages, and the one place for its filters.

Templates produce JSON text whose strings Slack reads as mrkdwn. The environment makes
that safe without the template author's help:

* ``autoescape`` is on so macro output is trusted markup and not escaped twice, and
  ``finalize`` escapes every other value printed with ``{{ }}`` for JSON *and* mrkdwn
  (:func:`bot.render.escaping.escape_text`). The compiler prints ``finalize``'s result
  as is, instead of passing it through Jinja's HTML ``escape``.
* ``~`` compiles to :func:`~bot.render.escaping.safe_concat` instead of Jinja's HTML
  ``markup_join``; the filters that would HTML-escape (``escape``, ``join``, ``replace``,
  ``tojson``, ``safe``) are replaced, and ``urlize``/``xmlattr`` (HTML producers) removed.
* It is an immutable sandbox: templates (possibly operator-supplied via ``TEMPLATES_DIR``)
  cannot reach Python internals, mutate the context, or build huge strings; an unsafe
  attribute raises instead of printing nothing, so the renderer falls back loudly.

Template globals: ``link(url, label)``, ``mention(user_id, name)``,
``date(value, format, fallback)``. Filters: ``tojson``, ``url``, ``clip(n)``, ``code``,
``duration``, ``safe`` (trusted template mrkdwn, still JSON-escaped), ``plural``.
"""

from __future__ import annotations

import logging
import operator
from pathlib import Path
from typing import Any, Sequence

from jinja2 import ChoiceLoader, FileSystemLoader, Undefined, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.environment import TemplateModule
from jinja2.nodes import Concat, EvalContext
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

from bot.render import escaping
from bot.render.timefmt import human_duration

log = logging.getLogger(__name__)

SHIPPED_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "message_templates"

# Sizes a template may build with * or **; real messages are a few kB.
MAX_REPEAT_LENGTH = 100_000
MAX_EXPONENT = 1_000
_TEMPLATE_FACING = (LoopContext, TemplateModule)


class _SlackCodeGenerator(CodeGenerator):
    """Jinja's compiler with two outputs changed (see the module docstring).

    Jinja is pinned (3.1.6); ``tests/render/test_render_escaping.py`` fails loudly if an
    upgrade changes these hooks.
    """

    def _output_child_pre(self, node: Any, frame: Frame, finalize: Any) -> None:
        # ``finalize`` already returns escaped text for every value, so Jinja's HTML
        # ``escape()`` around it (a second Markup per value) is skipped.
        self.write("str(")
        if finalize.src is not None:
            self.write(finalize.src)

    @optimizeconst
    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.concat_safe((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class SlackTemplateEnvironment(ImmutableSandboxedEnvironment):
    """Sandboxed environment whose output is JSON with Slack-escaped strings."""

    code_generator_class = _SlackCodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    def concat_safe(self, parts: Sequence[Any]) -> str:
        return escaping.safe_concat(parts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The context is made of plain dicts; ``agent.name`` would otherwise cost a failed
        # attribute lookup (an exception) before the key lookup. Keys are data, as safe
        # to read as ``agent["name"]``; a missing key takes the normal, checked path.
        kind = type(obj)
        if kind is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        elif kind in _TEMPLATE_FACING and not attribute.startswith("_"):
            # ``loop.last`` and ``m.section``: Jinja's own objects, whose public
            # attributes exist for templates. Underscored names take the checked path.
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # The default returns an Undefined that prints as "" -- a template probing
        # ``''.__class__`` should fail and be noticed, not render quietly.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(count, int)
                    and len(seq) * count > MAX_REPEAT_LENGTH
                ):
                    raise SecurityError("the sandbox limits repeated strings and lists")
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError("the sandbox limits exponents")
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> str:
    """Escape every printed value; pass trusted markup (macros, helpers) through.

    Takes the eval context only so Jinja cannot run it at compile time, where constants
    would be HTML-escaped before reaching it.
    """
    if type(value) is str:
        return escaping.escape_text(value)
    if isinstance(value, Markup):
        return value
    if value is None or isinstance(value, Undefined):
        return ""
    return escaping.escape_text(str(value))


def _safe_replace(value: Any, old: Any, new: Any, count: int | None = None) -> Any:
    if isinstance(value, Markup):
        # Replacing inside escaped text: escape the replacement the same way.
        value = escaping.SlackSafe(value)
        return value.replace(escaping.escape_text(str(old)), new, -1 if count is None else count)
    text = "" if value is None or isinstance(value, Undefined) else str(value)
    return text.replace(str(old), str(new), -1 if count is None else count)


@pass_environment
def _safe_join(env: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
    """``|join`` that escapes plain items our way and keeps safe ones (links, mentions)."""
    items = value if attribute is None else (env.getitem(item, attribute) for item in value)
    return escaping.safe_join(items, d)


def _plural(count: Any, singular: str = "", plural: str = "s") -> str:
    """``agent{{ n|plural }}`` -> "agents" unless n == 1."""
    return singular if count == 1 else plural


def create_environment(
    templates_dir: str | Path | None = None, *, auto_reload: bool = False
) -> SlackTemplateEnvironment:
    """Build the environment: ``templates_dir`` overrides first, then the shipped set.

    Create it once per process and keep it: compiled templates live in its cache, which
    is what keeps a render well under a millisecond. ``auto_reload`` re-reads changed
    files (handy while editing templates; one ``stat`` per render otherwise).
    """
    loaders = []
    if templates_dir:
        override = Path(templates_dir)
        if not override.is_dir():
            log.warning(
                "TEMPLATES_DIR %s is not a directory; using the shipped templates", override
            )
        loaders.append(FileSystemLoader(str(override)))
    loaders.append(FileSystemLoader(str(SHIPPED_TEMPLATES_DIR)))
    env = SlackTemplateEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=auto_reload,
        cache_size=100,
    )
    register(env)
    return env


def register(env: SlackTemplateEnvironment) -> None:
    """Install every filter and global; the only place templates' vocabulary is defined."""
    for unsafe_html_filter in ("urlize", "xmlattr"):
        env.filters.pop(unsafe_html_filter, None)
    env.filters.update(
        {
            "escape": escaping.to_safe,
            "e": escaping.to_safe,
            "forceescape": escaping.to_safe,
            "safe": escaping.trusted_mrkdwn,
            "join": _safe_join,
            "replace": _safe_replace,
            "tojson": escaping.tojson,
            "url": escaping.url_value,
            "clip": escaping.clip,
            "code": escaping.code,
            "duration": human_duration,
            "plural": _plural,
        }
    )
    env.globals.update(
        {
            "link": escaping.link,
            "mention": escaping.mention,
            "date": escaping.date,
        }
    )
