"""The one Jinja environment that renders Slack messages, and the one place for its filters.

Templates render text, never JSON: a message's blocks are laid out with the ``msg`` object
(:mod:`bot.render.layout`) and serialised by ``json.dumps``. Safety comes from Jinja's own
mechanisms, unchanged:

* ``autoescape`` is on, so every ``{{ value }}`` is escaped and helpers' output
  (:class:`markupsafe.Markup`) is not; ``~``, ``join``, ``replace`` and ``format`` keep
  that right as they do for HTML, because mrkdwn's escaping is HTML's minus the quotes
  (see :mod:`bot.render.escaping`).
* It is an immutable sandbox: templates (possibly operator-supplied via ``TEMPLATES_DIR``)
  cannot reach Python internals, mutate the context, or build huge strings; an unsafe
  attribute raises instead of printing nothing, so the renderer falls back loudly.

Template globals: ``link(url, label)``, ``mention(user_id, name)``,
``date(value, format, fallback)``. Filters: ``clip(n)``, ``code``, ``duration``,
``plural``. The template context: :mod:`bot.render.context_types` (``docs/templates.md``).
"""

from __future__ import annotations

import logging
import operator
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, Undefined, pass_eval_context
from jinja2.environment import TemplateModule
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.render import escaping
from bot.render.timefmt import human_duration

log = logging.getLogger(__name__)

SHIPPED_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "message_templates"
TEMPLATE_SUFFIX = ".j2"
# Templates of the JSON form used before; a TEMPLATES_DIR still holding one is told so.
LEGACY_TEMPLATE_SUFFIX = ".json.j2"

# Sizes a template may build with * or **; real messages are a few kB.
MAX_REPEAT_LENGTH = 100_000
MAX_EXPONENT = 1_000
_TEMPLATE_FACING = (LoopContext, TemplateModule)


class SlackTemplateEnvironment(ImmutableSandboxedEnvironment):
    """Sandboxed environment with bounded ``*``/``**`` and loud unsafe attributes."""

    intercepted_binops = frozenset({"*", "**"})

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
def _none_as_nothing(_eval_ctx: EvalContext, value: Any) -> Any:
    """A missing optional value prints as nothing, not as "None".

    Takes the eval context only so that Jinja calls it at render time: a constant
    (``{{ none }}``) is otherwise folded at compile time, escaped first, as "None".
    """
    return "" if value is None else value


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
        else:
            _warn_about_legacy_templates(override)
        loaders.append(FileSystemLoader(str(override)))
    loaders.append(FileSystemLoader(str(SHIPPED_TEMPLATES_DIR)))
    env = SlackTemplateEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        finalize=_none_as_nothing,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=auto_reload,
        cache_size=100,
    )
    register(env)
    return env


def _warn_about_legacy_templates(directory: Path) -> None:
    for legacy in sorted(directory.glob("*" + LEGACY_TEMPLATE_SUFFIX)):
        name = legacy.name.removesuffix(LEGACY_TEMPLATE_SUFFIX)
        log.warning(
            "TEMPLATES_DIR: %s renders JSON, the template form of earlier versions, and is"
            " not used; write %s%s with msg.* calls instead (docs/templates.md)",
            legacy.name, name, TEMPLATE_SUFFIX,
        )


def register(env: SlackTemplateEnvironment) -> None:
    """Install every filter and global; the only place templates' vocabulary is defined."""
    for html_producer in ("urlize", "xmlattr"):  # HTML tags mean nothing to Slack
        env.filters.pop(html_producer, None)
    env.filters.update(
        {
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
