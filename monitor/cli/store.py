"""``migrate`` and ``store copy SRC DST``: the state store's schema and moving it elsewhere.

``migrate`` brings the configured store (or ``--state URL``) to this program's schema and says
what it applied; replicas starting at once are safe, each migration runs once under an
advisory lock. ``store copy`` moves a state into an empty store, e.g. SQLite → PostgreSQL.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from monitor.cli.state import hold_state
from monitor.clock import SystemClock
from monitor.state.copy import copy_state
from monitor.state.open import StateUrl, open_store, parse_state_url, redact_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = sub.add_parser(
        "migrate", help="apply pending schema migrations to the state store (safe with replicas)"
    )
    migrate.set_defaults(func=cmd_migrate)
    store = sub.add_parser("store", help="state store tools (copy)")
    actions = store.add_subparsers(dest="store_command", metavar="ACTION")
    actions.required = True
    copy = actions.add_parser(
        "copy", help="copy a state store into an empty one (e.g. SQLite to PostgreSQL)"
    )
    copy.add_argument("src", metavar="SRC", help="a SQLite path, sqlite:///PATH or postgresql://…")
    copy.add_argument("dst", metavar="DST", help="the target store (created/migrated, empty)")
    copy.add_argument(
        "--sent-window-h",
        type=float,
        metavar="H",
        help="copy sent rows younger than H hours (default: the config's dedup.window_h)",
    )
    copy.set_defaults(func=cmd_store_copy)


def _where(args: argparse.Namespace) -> StateUrl:
    from monitor.cli.common import cli_config

    return cli_config(args).state_url


def _shown(where: StateUrl) -> str:
    return where.target if where.kind == "sqlite" else redact_url(where.target)


def cmd_migrate(args: argparse.Namespace) -> int:
    where = _where(args)
    with hold_state(where):  # a SQLite file: refused while a run/once holds it
        store = open_store(where, migrate=False)
        try:
            applied = store.migrate()
            version = store.schema_version()
        finally:
            store.close()
    done = ", ".join(map(str, applied)) if applied else "none (already current)"
    print(f"state: {_shown(where)} schema version {version}; applied: {done}")
    return 0


def cmd_store_copy(args: argparse.Namespace) -> int:
    window_h = args.sent_window_h
    if window_h is None:
        from monitor.cli.common import cli_config

        window_h = cli_config(args).model.dedup.window_h
    src_url, dst_url = parse_state_url(args.src), parse_state_url(args.dst)
    if src_url.kind == "sqlite" and not src_url.path.exists():
        print(f"sanctions-monitor: store copy: {src_url.target} does not exist")
        return 1
    with hold_state(src_url), hold_state(dst_url):  # no run/once may write either meanwhile
        src = open_store(src_url, migrate=False)
        try:
            dst = open_store(dst_url)
            try:
                since = SystemClock().now() - timedelta(hours=window_h)
                report = copy_state(src, dst, sent_since=since)
            finally:
                dst.close()
        finally:
            src.close()
    print(f"copied {_shown(src_url)} -> {_shown(dst_url)}")
    for table, count in report.rows.items():
        print(f"  {table}: {count}")
    return 0
