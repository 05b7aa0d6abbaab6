"""``sanctions-monitor feeds import-opml FILE`` and ``feeds export-opml``: move feed lists between
the config and a feed reader (for operators who keep their feeds in an OPML file).

    feeds import-opml FILE    print config entries (id, name, url, tags) as YAML on stdout for
                              the feeds in FILE that the loaded config does not have yet (a URL
                              already configured, or repeated in FILE, is skipped); problems
                              (bad URLs, outlines without one) and skips are reported on stderr
    feeds export-opml         print the configured feeds as OPML 2.0 on stdout

The two actions hang under ``feeds`` (``cli.feeds`` registers it; ``feeds`` alone still prints
the table). Exit codes: 0 done, 2 FILE unreadable or not acceptable OPML (a DTD or entity
declaration is refused: OPML is untrusted XML).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from monitor.cli.common import cli_config
from monitor.clock import SystemClock
from monitor.errors import UsageError
from monitor.tools.opml import OpmlError, OpmlFeed, new_feeds, read_opml, write_opml

MAX_OPML_BYTES = 10_000_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feeds = sub.choices.get("feeds")
    if feeds is None:  # cli.feeds not registered: nothing to hang the actions on
        return
    actions = feeds.add_subparsers(dest="feeds_command", metavar="ACTION")
    imp = actions.add_parser(
        "import-opml", help="print config entries (YAML) for the new feeds of an OPML file"
    )
    imp.add_argument("file", metavar="FILE", help="OPML file (from a feed reader)")
    imp.set_defaults(func=cmd_import_opml)
    exp = actions.add_parser("export-opml", help="print the configured feeds as OPML 2.0")
    exp.set_defaults(func=cmd_export_opml)


def cmd_import_opml(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"import-opml: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_OPML_BYTES:
        raise UsageError(f"import-opml: {path} is over {MAX_OPML_BYTES} bytes")
    try:
        found = read_opml(data, source=str(path))
    except OpmlError as exc:
        raise UsageError(f"import-opml: {exc}") from None
    settings = cli_config(args)
    fresh, skipped = new_feeds(
        found.feeds,
        known_urls=[f.url for f in settings.feeds],
        known_ids=[f.id for f in settings.feeds],
    )
    for problem in found.problems:
        print(f"import-opml: {problem}", file=sys.stderr)
    for feed in skipped:
        print(f"import-opml: {feed.url} is already configured or repeated, skipped",
              file=sys.stderr)  # fmt: skip
    if fresh:
        yaml.safe_dump([f.as_config() for f in fresh], sys.stdout, sort_keys=False,
                       allow_unicode=True, default_flow_style=None, width=200)  # fmt: skip
    print(
        f"import-opml: {len(fresh)} new feed(s) from {path}; paste them under feeds: in"
        f" {settings.path} ({len(skipped)} skipped, {len(found.problems)} problem(s))",
        file=sys.stderr,
    )
    return 0


def cmd_export_opml(args: argparse.Namespace) -> int:
    settings = cli_config(args)
    feeds = [OpmlFeed(id=f.id, name=f.name or f.id, url=f.url, tags=f.tags) for f in settings.feeds]
    sys.stdout.write(write_opml(feeds, title="sanctions-monitor feeds", now=SystemClock().now()))
    return 0
