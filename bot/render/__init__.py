"""Slack messages from ThousandEyes alerts: context -> sandboxed Jinja (text) -> Block Kit.

Use one :class:`MessageRenderer` per process (it compiles each template once)::

    renderer = MessageRenderer(config.templates_dir)
    message = renderer.render_parent(view)      # RenderedMessage(text, blocks, ...)
    client.chat_postMessage(channel=channel, **message.payload())

``block_kit_builder_url(message)`` links a rendered message to Slack's Block Kit Builder.
"""

from bot.render.blockkit import block_kit_builder_url
from bot.render.kinds import KINDS, MessageKind
from bot.render.renderer import MessageRenderer, RenderedMessage

__all__ = ["KINDS", "MessageKind", "MessageRenderer", "RenderedMessage", "block_kit_builder_url"]
