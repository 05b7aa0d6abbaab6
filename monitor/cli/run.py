"""``run``, ``once``, ``check-config`` and ``dump-config``: argument parsing and output only.

The monitor itself is built by ``service.app`` (``build_app``, the composition root) and run by
its ``Runtime`` (``run``) or by the same ``Daemon`` in burst mode (``once``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import yaml

from monitor.cli.common import cli_config, config_path, load_settings, overrides
from monitor.cli.state import add_reset_flag, hold_state
from monitor.service import config as config_mod
from monitor.service.app import Runtime, build_app, build_daemon
from monitor.service.config import Settings
from monitor.service.daemon import CycleSummary
from monitor.state.open import redact_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the daemon: poll on schedule, deliver, serve probes")
    run.add_argument(
        "--watch-config",
        action="store_true",
        help="reload the config when the file changes (as SIGHUP does)",
    )
    add_reset_flag(run)
    run.set_defaults(func=cmd_run)
    once = sub.add_parser(
        "once",
        help="poll every feed once, deliver what is due, print a summary",
        epilog=ONCE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_reset_flag(once)
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="fetch and judge every feed, print what would alert; mark, queue and send nothing",
    )
    once.set_defaults(func=cmd_once)
    check = sub.add_parser("check-config", help="validate the config, watchlists and rules")
    check.set_defaults(func=cmd_check_config)
    dump = sub.add_parser("dump-config", help="print the effective config, secrets redacted")
    dump.set_defaults(func=cmd_dump_config)


# --- commands --------------------------------------------------------------------------------


ONCE_EXIT_CODES = """exit codes (for cron):
  0  success: every feed polled, everything that fell due was sent
  1  state or runtime error (state unreadable, damaged, locked by another run/once,
     a write that failed)
  2  config error
  3  partial run: a feed failed, or an alert that fell due before the run ended was not
     sent (it stays queued); alerts held on purpose (digests, pacing, a follow-up waiting
     for its parent) do not count"""


def cmd_once(args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        from monitor.cli.dryrun import cmd_dry_run

        return cmd_dry_run(args)
    settings = load_settings(args)
    with hold_state(settings.state_url, reset=args.reset_state):
        summary = asyncio.run(_once(settings))
    print(_format_summary(summary))
    return once_exit_code(summary)


def once_exit_code(summary: CycleSummary) -> int:
    """0, 1 (a poll failed on the store or a bug) or 3 (partial); see ``ONCE_EXIT_CODES``."""
    if summary.runtime_errors:
        return 1
    if summary.feeds_failed or summary.deliveries_failed:
        return 3
    return 0


async def _once(settings: Settings) -> CycleSummary:
    app = build_app(settings, remember_items=False)
    try:
        return await build_daemon(app).once()
    finally:
        await app.aclose()


def _format_summary(summary: CycleSummary) -> str:
    lines = [
        f"feeds ok: {summary.feeds_ok}  failed: {summary.feeds_failed}  "
        f"stories new: {summary.stories_new}  alerts queued: {summary.alerts_queued}  "
        f"sent: {summary.alerts_sent}  still pending: {summary.alerts_pending}"
    ]
    lines += [f"  failed {feed_id}: {error}" for feed_id, error in summary.failures]
    if summary.deliveries_failed:
        lines.append(f"  {summary.deliveries_failed} due alert(s) not sent (still queued)")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    runtime = Runtime(
        settings,
        build_app=build_app,
        config_arg=str(config_path(args)),
        config_overrides=overrides(args),
        watch_config=args.watch_config,
    )
    with hold_state(settings.state_url, reset=args.reset_state):
        return asyncio.run(runtime.run())


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = cli_config(args)
    pack = settings.pack.summary()
    print(f"config: {settings.path} is valid")
    print(f"  feeds: {len(settings.feeds)}")
    print("  detection: " + ", ".join(f"{name} {count}" for name, count in pack.items()))
    print(
        f"  topics: {', '.join(settings.pack.topics)}"
        + (
            f" (disabled: {', '.join(sorted(settings.disabled_topics))})"
            if settings.disabled_topics
            else ""
        )
    )
    active = ", ".join(f"{d.id} ({d.type}, >= {d.min_severity})" for d in settings.destinations)
    print(f"  destinations: {active or 'none'}")
    if settings.skipped_destinations:
        print(f"  skipped (empty URL): {', '.join(settings.skipped_destinations)}")
    where = settings.state_url
    print(f"  state: {where.target if where.kind == 'sqlite' else redact_url(where.target)}")
    return 0


def cmd_dump_config(args: argparse.Namespace) -> int:
    settings = cli_config(args)
    data: dict[str, Any] = config_mod.redacted_dump(settings)
    yaml.safe_dump(data, sys.stdout, sort_keys=False, allow_unicode=True)
    return 0
