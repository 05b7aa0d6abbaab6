"""Apprise text: the console rendering, colourless, with mention and link triggers defused.

Pure core. Apprise reaches chat services (Discord, Teams, Telegram, Slack …) whose markup
differs; it passes plain text through, so the text must not carry live mentions.
"""

from __future__ import annotations

from monitor.deliver.render.console import console_text
from monitor.deliver.render.text import clip, title_of
from monitor.models import Alert


def defuse_mentions(text: str) -> str:
    """Text for chat services reached through Apprise (Discord, Teams, Telegram, Slack …).

    Their markup differs and Apprise passes plain text through, so the trigger characters of
    mentions and links are defused with a zero-width space: ``@everyone``, ``<!channel>``,
    ``<@U1>`` and ``<https://…|label>`` all stay readable but are no longer live.
    """
    return text.replace("@", "@\u200b").replace("<", "<\u200b")


def apprise_text(alert: Alert) -> tuple[str, str]:
    """``(title, body)`` for an Apprise notification: the console text, colourless, defused."""
    title = clip(f"{str(alert.severity).upper()}: {title_of(alert)}", 200)
    return defuse_mentions(title), defuse_mentions(console_text(alert, color=False))
