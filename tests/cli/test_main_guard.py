"""``python -m monitor`` under spawn: a child process must not start a second command line."""

from __future__ import annotations

import runpy
import sys

import pytest


def test_importing_main_as_a_spawn_child_does_not_run_the_cli(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # multiprocessing's spawn imports the parent's __main__ again under this name.
    monkeypatch.setattr(sys, "argv", ["monitor", "once"])
    namespace = runpy.run_module("monitor", run_name="__mp_main__")
    assert "main" not in namespace  # neither the CLI's import nor its call ran
