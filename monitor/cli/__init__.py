"""The command line: ``sanctions-monitor [GLOBAL OPTIONS] <command> [OPTIONS]``; the composition
root of the program.

Each area registers its own subcommands (``run``/``once``/config in ``cli.run``, detection in
``cli.detect``, feeds in ``cli.feeds``, the outbox in ``cli.outbox``, probes in ``cli.ops``,
``init`` in ``cli.initdir``, ``test-alert`` in ``cli.testalert``, OPML in ``cli.opml``). The
global options (``--config``, ``--state``, ``--log-format``) are accepted before or after the
subcommand, at any depth (``outbox list --state S`` and ``--state S outbox list`` are the same).
Exit codes: 0 success, 1 runtime failure (state cannot be opened, probe failed), 2 bad config
or bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import ConfigError, StoreError, UsageError

_AREAS = (
    "run",
    "detect",
    "dedup",
    "feeds",
    "opml",
    "outbox",
    "ops",
    "state",
    "initdir",
    "testalert",
    "store",
    "evidence",
)


def add_global_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """``--config``, ``--state`` and ``--log-format`` on ``parser``.

    On a subcommand (``nested``) their default is ``SUPPRESS``: a value given before the
    subcommand is then kept unless it is given again after it.
    """
    default = argparse.SUPPRESS if nested else None
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="config file (default: $MONITOR_CONFIG, else the bundled monitor.yaml)",
    )
    parser.add_argument(
        "--state",
        metavar="URL",
        default=default,
        help="state store: a SQLite path, sqlite:///PATH or postgresql://… (overrides the config)",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default=default,
        help="log format on stderr (overrides the config's log.format)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sanctions-monitor",
        description="Watch news feeds for DPRK sanctions breaches and Russia-DPRK transfers.",
    )
    parser.add_argument("--version", action="version", version=f"sanctions-monitor {__version__}")
    add_global_options(parser, nested=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for area in _AREAS:
        try:
            module = importlib.import_module(f"monitor.cli.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"monitor.cli.{area}":
                raise
            continue
        module.register(sub)
    _spread_global_options(parser)
    return parser


def _spread_global_options(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand (and sub-subcommand) the global options."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, child in action.choices.items():
            if "--config" not in child._option_string_actions:
                add_global_options(child, nested=True)
            if child.description is None and helps.get(name):
                child.description = helps[name]  # `COMMAND --help` says what it does too
            _spread_global_options(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m monitor``."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"sanctions-monitor: config error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"sanctions-monitor: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"sanctions-monitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
