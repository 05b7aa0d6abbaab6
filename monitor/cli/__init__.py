"""The command line: ``sanctions-monitor <command>``; the composition root of the program.

Each area registers its own subcommands (``run``/``once``/config in ``cli.run``, detection in
``cli.detect``, feeds in ``cli.feeds``, the outbox in ``cli.outbox``, probes in ``cli.ops``).
Exit codes: 0 success, 1 runtime failure (state cannot be opened, probe failed), 2 bad config
or bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from monitor.errors import ConfigError, StoreError

_AREAS = ("run", "detect", "dedup", "feeds", "outbox", "ops")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sanctions-monitor",
        description="Watch news feeds for DPRK sanctions breaches and Russia-DPRK transfers.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $MONITOR_CONFIG, else the bundled config/monitor.yaml)",
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m monitor``."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"sanctions-monitor: config error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"sanctions-monitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
