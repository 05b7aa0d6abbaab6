"""Render: turn an ``Alert`` into what a destination receives. Escaping happens HERE, at output.

Pure core (no I/O), one module per destination and one for the text helpers they share:

- ``text``: untrusted text on one line (``clean``, ``clip``), times, the pieces every medium
  shows (title, outlet, matched entities, the excerpt around the first match).
- ``slack`` (``slack_payload``, ``slack_plain_payload``, ``slack_digest_payloads``): ``&``,
  ``<`` and ``>`` are escaped in every mrkdwn string, the top-level ``text`` included, so
  Slack's control sequences reach the channel as text; Block Kit limits are respected.
- ``webhook`` (``webhook_body``): plain JSON, raw text; the receiver escapes for its own
  medium. The schema is versioned and documented in ``docs/webhook.md``.
- ``console`` (``console_text``, ``console_digest_text``): control characters and bidi
  overrides removed so a title cannot rewrite the operator's terminal.
- ``apprise`` (``apprise_text``): the console text with mention and link triggers defused.

Every string that came from a feed (title, summary, outlet, matched text) is untrusted: a
title can carry ``<!channel>``, ``<@U123>``, ``<#C1>`` or a disguised link
``<https://evil.example|Reuters>``, and a summary can carry terminal escape sequences.
"""
