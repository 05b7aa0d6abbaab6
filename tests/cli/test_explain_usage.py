"""``explain`` on a terminal with nothing given prints its usage; bad stdin is a usage error."""

from __future__ import annotations

import io
import sys

import pytest

from monitor.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_explain_with_nothing_on_a_terminal_prints_usage_and_does_not_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = _Terminal("")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["explain"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: sanctions-monitor explain") and "--title" in err
    assert stdin.tell() == 0  # nothing was read: it did not wait for input


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_bad_stdin_is_a_usage_error_not_a_config_error(
    text: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert main(["explain"]) == 2
    err = capsys.readouterr().err
    assert "explain: stdin" in err and "config error" not in err
