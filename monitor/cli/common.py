"""What every command shares: the config named by the global options, and where output goes.

For the command modules of ``monitor.cli``. ``--config``, ``--state`` and ``--log-format`` may be
given before or after the subcommand (``cli.add_global_options``); ``cli_config`` reads them
the same way everywhere, so ``outbox list --state S`` and ``once --config C`` mean what they say.
Logs go to stderr (``setup_logging``); stdout carries only what a command prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import structlog

from monitor.service.config import Settings, load_config, resolve_config_path
from monitor.service.observability import configure_logging

log = structlog.get_logger(__name__)


def config_path(args: argparse.Namespace) -> Path:
    """``--config``, else ``$MONITOR_CONFIG``, else the bundled default."""
    return resolve_config_path(getattr(args, "config", None))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config keys the command line replaces (``--state``, ``--log-format``)."""
    found: dict[str, Any] = {}
    if getattr(args, "state", None):  # a path or a URL: it replaces both keys of the file
        found["state.path"] = None
        found["state.url"] = args.state
    if getattr(args, "log_format", None):
        found["log.format"] = args.log_format
    return found


def cli_config(args: argparse.Namespace) -> Settings:
    """The validated config the command line names, with its overrides applied."""
    return load_config(config_path(args), overrides=overrides(args))


def setup_logging(settings: Settings) -> None:
    """Logging as the config says, on stderr, with the config's secrets redacted."""
    fmt = settings.model.log.format
    configure_logging(
        json=None if fmt == "auto" else fmt == "json",
        level=settings.model.log.level,
        secrets=settings.secrets,
        stream=sys.stderr,
    )


def load_settings(args: argparse.Namespace) -> Settings:
    """``cli_config`` plus logging set up from it (for commands that log as they work)."""
    settings = cli_config(args)
    setup_logging(settings)
    for dest_id in settings.skipped_destinations:
        log.info("destination_skipped", destination=dest_id, reason="url or token is empty")
    for dest_id in settings.unsigned_destinations:
        log.warning("destination_unsigned", destination=dest_id,
                    reason="unsigned: true; its requests carry no webhook-signature")  # fmt: skip
    return settings
