"""Logging for the whole process: structlog events and stdlib records, one format, no secrets.

Who calls what:

- the CLI calls ``configure_logging(json=..., level=..., secrets=settings.secrets)`` once the
  config is loaded (and may call it again: it replaces only the handler it installed itself);
- hot reload calls ``add_secrets(new.secrets)`` so a newly configured webhook URL is hidden
  from the next log line on;
- anything that stores or prints free text from an error (the outbox's ``last_error``, a CLI
  message) may call ``redact(text)``.

Every record, from ``structlog.get_logger(...)`` or from a stdlib logger (apscheduler, httpx,
httpcore, asyncio), reaches one ``logging.StreamHandler`` whose ``structlog.stdlib
.ProcessorFormatter`` runs the same chain: timestamp and level, traceback formatting, redaction
of every string value, rendering (JSON lines or the console renderer), and a last redaction of
the rendered line itself, which also catches secrets inside ``repr()`` of odd objects and inside
tracebacks the console renderer formats on its own.

What redaction removes: every secret string it was given (plus its URL-quoted, JSON-escaped and
``repr`` forms, and for a URL its host-and-path), and, without being told, Slack and Discord
webhook paths, ``whsec_`` signing secrets, ``Bearer`` tokens, Slack ``xox?-`` tokens, passwords
in ``user:pass@`` URLs and credential-like query parameters (``token=``, ``key=``, ``sig=`` ...).
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "<redacted>"
#: stdlib loggers that are chatty at INFO (one line per request or per job run).
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler", "hpack", "asyncio")
_HANDLER_NAME = "sanctions-monitor"

# Shapes of credentials that are redacted even when nobody registered them as secrets.
# Each is (trigger, pattern, replacement): the pattern runs only when the lower-cased text
# contains the trigger, because redaction runs on every field of every log line and a plain
# substring test is a hundred times cheaper than a regex scan. Group 1 keeps a harmless
# prefix so a log line still says what was hidden.
_SHAPES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # Slack incoming webhooks and workflow triggers, Discord webhooks: the path is the secret.
    ("hooks.slack", re.compile(r"(hooks\.slack(?:-gov)?\.com/)[^\s\"'<>\\|]+"), r"\1" + REDACTED),
    (
        "discord",
        re.compile(r"(discord(?:app)?\.com/api/webhooks/)[^\s\"'<>\\|]+"),
        r"\1" + REDACTED,
    ),
    # Standard Webhooks signing secrets (base64 after the prefix).
    ("whsec_", re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), REDACTED),
    # Slack API tokens: bot, user, app-level, refresh, configuration.
    ("xox", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]+"), REDACTED),
    ("xapp-", re.compile(r"\bxapp-[A-Za-z0-9-]+"), REDACTED),
    # Authorization header values.
    ("bearer", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    # Userinfo in URLs: https://user:password@host/.
    ("://", re.compile(r"(://)[^/\s:@\"'<>]+:[^/\s@\"'<>]+@"), r"\1" + REDACTED + "@"),
    # Credential-like query parameters.
    (
        "=",
        re.compile(
            r"(?i)([?&](?:access_token|token|api_?key|key|sig|signature|secret|password|auth)=)"
            r"[^&\s\"'<>#\\]+"
        ),
        r"\1" + REDACTED,
    ),
)


class Redactor:
    """Replaces registered secrets and credential-shaped text with ``<redacted>``.

    Thread-safe to extend (``add``) while other threads log: the needles and their pattern
    are swapped in one assignment.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._secrets: tuple[tuple[str, ...], re.Pattern[str] | None] = ((), None)
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secrets (never forgets one: an old URL may still be in flight)."""
        with self._lock:
            before = len(self._known)
            for secret in secrets:
                self._known.update(_variants(secret))
            if len(self._known) != before:
                # Longest first, so a URL is replaced whole before its own path could be.
                needles = tuple(sorted(self._known, key=len, reverse=True))
                pattern = re.compile("|".join(re.escape(n) for n in needles))
                self._secrets = (needles, pattern)

    def __call__(self, text: str) -> str:
        """``text`` with every known secret and credential shape replaced."""
        needles, pattern = self._secrets
        if pattern is not None and any(needle in text for needle in needles):
            text = pattern.sub(REDACTED, text)
        lowered = text.lower()
        for trigger, shape, replacement in _SHAPES:
            if trigger in lowered:
                text = shape.sub(replacement, text)
        return text

    def value(self, value: Any) -> Any:
        """Redact strings inside ``value`` (dicts, lists, tuples, sets); numbers pass."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, tuple):
            return tuple(self.value(item) for item in value)
        if isinstance(value, list | set | frozenset):
            return [self.value(item) for item in value]
        if isinstance(value, bytes | bytearray):
            return self(bytes(value).decode("utf-8", "replace"))
        if value is None or isinstance(value, bool | int | float):
            return value
        # Any other object is shown by its repr (as both renderers would); redact it now,
        # before a renderer escapes it a second time where a pattern could no longer match.
        special = getattr(value, "__structlog__", None)
        return self(special() if callable(special) else repr(value))


def _variants(secret: str) -> set[str]:
    """The forms a secret takes once it is quoted, escaped or split into URL parts."""
    secret = secret.strip()
    if not secret:
        return set()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret, safe="/:"),
        jsonlib.dumps(secret)[1:-1],
        jsonlib.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }
    if secret.startswith("whsec_"):
        forms.add(secret.removeprefix("whsec_"))
    parts = urlsplit(secret)
    if parts.scheme in ("http", "https") and parts.netloc:
        # A URL shows up without its scheme (httpx "Host" errors) or as a path alone.
        forms.add(secret.split("://", 1)[1])
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(path.strip("/")) >= 8:
            forms.add(path)
    return {form for form in forms if form}


#: The process-wide redactor: ``configure_logging`` and ``add_secrets`` feed it.
_REDACTOR = Redactor()


def add_secrets(secrets: Iterable[str]) -> None:
    """Hide more secrets from every later log line (hot reload calls this)."""
    _REDACTOR.add(secrets)


def redact(text: str) -> str:
    """``text`` with every registered secret and credential shape replaced by ``<redacted>``."""
    return _REDACTOR(text)


# --- processors ---------------------------------------------------------------------------------


def redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor: redact every string value of the event (the event name included).

    ``exc_info`` is left for the renderer (it needs the tuple); ``redact_rendered`` covers it.
    """
    return {
        key: value if key == "exc_info" else _REDACTOR.value(value)
        for key, value in event_dict.items()
    }


def redact_rendered(logger: WrappedLogger, method_name: str, rendered: str) -> str:
    """Final processor: redact the rendered line (``repr``s, console tracebacks)."""
    return _REDACTOR(rendered)


_FIRST_KEYS = ("timestamp", "level", "event", "logger")


def _order_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Put timestamp, level, event and logger first so JSON lines read well with ``less``."""
    first = {key: event_dict[key] for key in _FIRST_KEYS if key in event_dict}
    return {**first, **{k: v for k, v in event_dict.items() if k not in first}}


def _resolve_exc_info(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Turn ``exc_info=True`` into the tuple while we are still inside the ``except`` block."""
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _shared_processors() -> list[Processor]:
    """Steps applied to structlog events and to stdlib records alike, before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _formatter(*, use_json: bool, colors: bool) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter: shared steps for stdlib records, then redact, render, redact."""
    renderer: Processor
    tail: list[Processor]
    if use_json:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        tail = [structlog.processors.format_exc_info, redact_event, _order_keys, renderer]
    else:
        # plain_traceback: rich's formatter would print local variables (secrets among them)
        # and wrap long lines, splitting a secret where no pattern could find it.
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
        tail = [redact_event, renderer]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            redact_rendered,  # type: ignore[list-item]  # receives the rendered str
        ],
    )


# --- configuration ------------------------------------------------------------------------------


def wants_json(stream: TextIO, *, json: bool | None = None) -> bool:
    """JSON when asked, else ``$LOG_FORMAT`` (json|console), else JSON unless on a terminal."""
    if json is not None:
        return json
    choice = os.environ.get("LOG_FORMAT", "").strip().lower()
    if choice in ("json", "console"):
        return choice == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(
    *,
    json: bool | None = None,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging through one redacting formatter on ``stream``.

    ``json=None`` decides by ``$LOG_FORMAT`` and whether ``stream`` (default: stderr) is a
    terminal; logs never share stdout with what a command prints. ``level`` applies to
    everything; httpx, httpcore and apscheduler log at WARNING at least (they speak on every
    request and every job run). Calling it again replaces the handler installed the previous
    time and keeps every secret registered so far.
    """
    out = stream if stream is not None else sys.stderr
    add_secrets(secrets)
    use_json = wants_json(out, json=json)
    colors = not use_json and "NO_COLOR" not in os.environ and _isatty(out)
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    _install_handler(out, _formatter(use_json=use_json, colors=colors), numeric_level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            _resolve_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Not cached: a reconfiguration (tests, capture_logs) must reach module-level loggers.
        cache_logger_on_first_use=False,
    )
    logging.captureWarnings(True)


def _install_handler(stream: TextIO, formatter: logging.Formatter, level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


__all__ = [
    "REDACTED",
    "Redactor",
    "add_secrets",
    "configure_logging",
    "redact",
    "redact_event",
    "redact_rendered",
    "wants_json",
]
