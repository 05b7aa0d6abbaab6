"""Packaging: the dependency ranges, the hashed lock the Dockerfile installs, the version.

Static checks (no network): every runtime dependency in ``pyproject.toml`` has an upper bound,
``requirements.lock`` pins every one of them (and what they pull in) with hashes, each pin
satisfies its range, and the Dockerfile installs the lock with ``--require-hashes`` before the
package itself with ``--no-deps``. The wheel itself is tested in ``test_wheel_install.py``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import monitor
from monitor.cli import main
from monitor.service.config import DEFAULT_USER_AGENT, ConfigModel

REPO = Path(__file__).resolve().parent.parent
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def runtime_requirements() -> list[Requirement]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(text) for text in data["project"]["dependencies"]]


def lock_pins(text: str) -> dict[str, tuple[Version, int]]:
    """name → (pinned version, number of hashes) for each ``name==version`` entry."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), 0)
        elif current and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + line.count("--hash=sha256:"))
    return pins


def test_every_runtime_dependency_has_an_upper_bound() -> None:
    unbounded = [
        str(req)
        for req in runtime_requirements()
        if not any(spec.operator in ("<", "<=", "==", "~=") for spec in req.specifier)
    ]
    assert not unbounded, f"give these an upper bound in pyproject.toml: {unbounded}"


def test_the_lock_pins_every_runtime_dependency_with_hashes_inside_its_range() -> None:
    pins = lock_pins((REPO / "requirements.lock").read_text(encoding="utf-8"))
    assert pins, "requirements.lock holds no pins"
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is missing from requirements.lock (run make lock)"
        version, _ = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {req} (run make lock)"
        )
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert not unhashed, f"pins without --hash: {unhashed}"


def test_the_lock_reader_sees_a_missing_hash() -> None:
    text = "a==1.0 \\\n    --hash=sha256:00\nb==2.0\n"
    assert lock_pins(text) == {"a": (Version("1.0"), 1), "b": (Version("2.0"), 0)}


def _run_lines(dockerfile: str) -> list[str]:
    """Every RUN and COPY instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [line.strip() for line in joined.splitlines() if re.match(r"\s*(RUN|COPY)\b", line)]


def test_the_dockerfile_installs_the_lock_with_hashes_then_the_package_without_deps() -> None:
    lines = _run_lines((REPO / "Dockerfile").read_text(encoding="utf-8"))
    copy_lock = next(i for i, line in enumerate(lines) if "requirements.lock" in line)
    installs = [(i, line) for i, line in enumerate(lines) if "pip install" in line]
    assert installs, "the Dockerfile installs nothing with pip"
    first_index, first = installs[0]
    assert first_index > copy_lock and lines[copy_lock].startswith("COPY")
    assert "--require-hashes" in first and "-r requirements.lock" in first, first
    for _, line in installs[1:]:
        assert "--no-deps" in line, f"a later pip install may resolve unpinned versions: {line}"


def test_version_is_printed_and_names_the_installed_distribution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"sanctions-monitor {monitor.__version__}"
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert monitor.__version__ == data["project"]["version"]


def test_the_default_user_agent_carries_the_version() -> None:
    assert DEFAULT_USER_AGENT.startswith(f"sanctions-monitor/{monitor.__version__} ")
    assert ConfigModel().http.user_agent == DEFAULT_USER_AGENT
    bundled = (REPO / "config" / "monitor.yaml").read_text(encoding="utf-8")
    assert not re.search(r"^\s*user_agent:", bundled, re.M), "the bundled config pins a UA"


def test_build_info_names_the_same_version() -> None:
    from monitor.service.metrics import Metrics

    text = Metrics(process_metrics=False).render().decode()
    assert 'sanctions_monitor_build_info{python="' in text
    assert f'version="{monitor.__version__}"' in text
