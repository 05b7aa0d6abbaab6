"""CLI habits: global options before or after the subcommand, a description for every
command, ``init DIR``, and logs kept off stdout."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from monitor.cli import build_parser, main
from monitor.service.config import load_config
from tests.detect_support import CONFIG
from tests.support import run_cli, write_config


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ("--config", "c.yaml", "--state", "s.db", "--log-format", "json", "outbox", "list"),
        ("outbox", "--config", "c.yaml", "list", "--state", "s.db", "--log-format", "json"),
        ("outbox", "list", "--config", "c.yaml", "--state", "s.db", "--log-format", "json"),
        ("--config", "other.yaml", "outbox", "list", "--config", "c.yaml", "--state", "s.db",
         "--log-format", "json"),
    ],
)  # fmt: skip
def test_global_options_mean_the_same_in_any_position(argv: tuple[str, ...]) -> None:
    args = _parse(*argv)
    assert (args.config, args.state, args.log_format) == ("c.yaml", "s.db", "json")
    assert args.outbox_command == "list"


def test_a_global_option_before_the_subcommand_survives_the_subcommand_defaults() -> None:
    args = _parse("--state", "s.db", "once")
    assert args.state == "s.db" and args.config is None and args.log_format is None


def _commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> list[tuple[str, str | None, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                found.append((f"{prefix}{name}", helps.get(name), child))
                found += _commands(child, f"{prefix}{name} ")
    return found


def test_every_subcommand_has_a_one_line_description_and_the_global_options() -> None:
    commands = _commands(build_parser())
    assert {"run", "once", "init", "check-config", "outbox list"} <= {c for c, _, _ in commands}
    for name, help_text, child in commands:
        assert help_text and "\n" not in help_text, f"{name} has no one-line help"
        assert child.description == help_text, name
        assert {"--config", "--state", "--log-format"} <= set(child._option_string_actions), name


def test_state_after_the_subcommand_overrides_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, feeds=[], destinations=[])
    other = tmp_path / "elsewhere.db"
    result = run_cli("check-config", "--config", str(config), "--state", str(other))
    assert result.returncode == 0, result.stderr
    assert f"state: {other}" in result.stdout


def test_init_writes_an_editable_copy_that_loads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "conf"
    assert main(["init", str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {dest / 'monitor.yaml'}" in out
    bundled = sorted(p.name for p in (CONFIG / "rules").glob("*.yaml"))
    assert sorted(p.name for p in (dest / "rules").iterdir()) == bundled
    settings = load_config(dest / "monitor.yaml")
    assert settings.pack.summary()["rules"] > 0
    assert not (dest / "__init__.py").exists()

    (dest / "monitor.yaml").write_text("# my edits\n", encoding="utf-8")
    assert main(["init", str(dest)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (dest / "monitor.yaml").read_text(encoding="utf-8") == "# my edits\n"
    assert main(["init", str(dest), "--force"]) == 0
    assert "# my edits" not in (dest / "monitor.yaml").read_text(encoding="utf-8")


def test_once_keeps_logs_on_stderr_and_only_the_summary_on_stdout(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        feeds=[{"id": "closed", "url": "http://127.0.0.1:9/feed.xml"}],
        destinations=[{"id": "console", "type": "console", "min_severity": "low"}],
    )
    result = run_cli("once", "--config", str(config), "--log-format", "json")
    assert result.returncode == 3, result.stderr  # partial: the feed failed
    assert result.stdout.startswith("feeds ok: 0  failed: 1"), result.stdout
    assert not any(line.startswith("{") for line in result.stdout.splitlines())
    assert '"event": "feed_failed"' in result.stderr or '"event":"feed_failed"' in result.stderr
