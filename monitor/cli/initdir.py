"""``sanctions-monitor init DIR``: write an editable copy of the bundled config (for a new
operator, or after ``pip install`` where the bundled files sit inside site-packages).

    init DIR [--force]    DIR/monitor.yaml, DIR/rules/*.yaml, DIR/watchlists/*.yaml

The copy's ``monitor.yaml`` names its rules and watchlists relative to itself, so the folder
can be moved as a whole. Exit codes: 0 written, 2 a file exists already (without ``--force``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.service.bundle import write_starter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser(
        "init", help="write an editable copy of the bundled config, rules and watchlists to DIR"
    )
    init.add_argument("dir", metavar="DIR", help="folder to write (created if missing)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    dest = Path(args.dir)
    written = write_starter(dest, force=args.force)
    for path in written:
        print(f"wrote {path}")
    config = dest / "monitor.yaml"
    print(f"next: edit {config}, then: sanctions-monitor --config {config} check-config")
    return 0
