"""Start-up failures are one log line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support import run_cli, write_config

pytestmark = pytest.mark.slow


def test_a_busy_probe_port_is_one_log_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(
            tmp_path,
            feeds=[],
            destinations=[],
            extra={"server": {"enabled": True, "host": "127.0.0.1", "port": port}},
        )
        result = run_cli("run", "--config", str(config), timeout_s=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if "startup_failed" in line]
    assert len(failed) == 1, result.stderr
    assert f"127.0.0.1:{port}" in failed[0] and "in use" in failed[0].lower()
    assert result.stdout == ""


def test_a_config_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: [{id: x}]\n", encoding="utf-8")
    result = run_cli("run", "--config", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(bad) in result.stderr and "feeds" in result.stderr
