"""Acceptance: the wheel works where it is installed, outside the repository.

The test builds the wheel from a copy of the sources, makes a fresh virtualenv in
``tmp_path``, installs ``requirements.lock`` (with ``--require-hashes``, as the Dockerfile does)
and then the wheel, and runs the installed console script from a folder outside the repo:

- ``check-config`` with no ``--config`` validates the bundled default, which must be read from
  the venv's site-packages (not from this checkout);
- ``init DIR`` writes an editable copy; its feeds are pointed at a loopback feed server and
  ``once`` alerts the seed story with the bundled rules and watchlists, on the console.

Slow (a venv and an install), and it needs the package index or pip's cache for the pinned
dependencies, as any install does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.servers.feed_server import FeedServer, feed_server, rss_feed
from tests.test_e2e_once import AURUS  # the seed story: a Russia-DPRK transfer

__all__ = ["feed_server"]

# A venv and a dependency install take minutes on a busy two-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "monitor", "config")


def _run(cmd: list[str], *, cwd: Path, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", "PYTHONPATH")}
    env.update({"LOG_FORMAT": "json", "NO_COLOR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv, outside the repo, with the wheel installed; returns its bin/ folder."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(source, src / name)
    dist = root / "dist"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
              "--no-build-isolation", "-w", str(dist), str(src)], cwd=root))  # fmt: skip
    [wheel] = dist.glob("sanctions_monitor-*.whl")
    venv = root / "venv"
    _ok(_run([sys.executable, "-m", "venv", str(venv)], cwd=root))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _ok(_run([*pip, "--require-hashes", "-r", str(REPO / "requirements.lock")], cwd=root))
    _ok(_run([*pip, str(wheel)], cwd=root))
    return venv / "bin"


def test_check_config_validates_the_bundled_default_from_site_packages(installed: Path) -> None:
    elsewhere = installed.parent.parent
    out = _ok(_run([str(installed / "sanctions-monitor"), "check-config"], cwd=elsewhere))
    first = out.splitlines()[0]
    assert first.endswith("is valid"), out
    assert str(installed.parent / "lib") in first and "/monitor/bundled/monitor.yaml" in first
    assert str(REPO) not in first
    assert "rules 18" in out or "rules " in out


def test_init_then_once_alerts_with_the_bundled_rules_on_a_loopback_feed(
    installed: Path, feed_server: FeedServer, tmp_path: Path
) -> None:
    cli = str(installed / "sanctions-monitor")
    conf = tmp_path / "conf"
    _ok(_run([cli, "init", str(conf)], cwd=tmp_path))
    assert (conf / "rules").is_dir() and (conf / "watchlists").is_dir()
    assert not (conf / "__init__.py").exists()
    config = yaml.safe_load((conf / "monitor.yaml").read_text(encoding="utf-8"))
    url = feed_server.set_feed("/wheel.xml", rss_feed([AURUS], title="Loopback News"))
    config["feeds"] = [{"id": "loopback", "name": "Loopback News", "url": url}]
    config["destinations"] = [{"id": "console", "type": "console", "min_severity": "low"}]
    config["state"] = {"path": str(tmp_path / "state" / "monitor.db")}
    config["server"] = {"enabled": False}
    config["http"] = {**config.get("http", {}), "allow_networks": ["127.0.0.0/8"]}
    config["defaults"] = {**config.get("defaults", {}), "max_story_age_h": 24 * 365}
    # the item's link is not on loopback: the bundled config would fetch its article
    config["enrich"] = {**config.get("enrich", {}), "enabled": False}
    (conf / "monitor.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")

    result = _run([cli, "--config", str(conf / "monitor.yaml"), "once"], cwd=tmp_path)

    out = _ok(result)
    assert "Aurus" in out, out
    assert "feeds ok: 1  failed: 0" in out
    assert not any(line.startswith("{") for line in out.splitlines()), "a log line on stdout"
    assert '"event"' in result.stderr  # the logs went to stderr
    assert feed_server.requests_for("/wheel.xml"), "the feed was never fetched"
