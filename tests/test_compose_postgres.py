"""The PostgreSQL compose example, checked statically (no Docker engine here): it parses, its
config loads with a PostgreSQL state URL, the monitor waits for a healthy database, keeps the
image's hardening, and mounts what the config names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.service.config import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _compose() -> dict[str, object]:
    data = yaml.safe_load((DEPLOY / "compose.postgres.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_monitor_waits_for_a_healthy_postgres_and_stays_hardened() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    postgres, monitor = services["postgres"], services["monitor"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert monitor["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert monitor["read_only"] is True and monitor["cap_drop"] == ["ALL"]
    assert monitor["environment"]["MONITOR_STATE_URL"].startswith("postgresql://monitor:")
    assert "@postgres:5432/monitor" in monitor["environment"]["MONITOR_STATE_URL"]
    # until the leases land (README, Scale-out), the example runs one replica
    assert monitor["deploy"]["replicas"] == 1


def test_every_mounted_source_exists_and_the_config_loads_on_postgres(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monitor = _compose()["services"]["monitor"]  # type: ignore[index]
    for volume in monitor["volumes"]:
        source = volume.split(":", 1)[0]
        assert (DEPLOY / source).exists(), source
    monkeypatch.setenv("MONITOR_STATE_URL", "postgresql://monitor:pw@postgres:5432/monitor")
    # the container's layout: config beside its watchlists and rules
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "monitor.yaml").write_text(
        (DEPLOY / "monitor.postgres.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for name in ("watchlists", "rules"):
        (conf / name).symlink_to(DEPLOY.parent / "config" / name)
    settings = load_config(conf / "monitor.yaml")
    assert settings.state_url.kind == "postgresql"
    assert "pw" in settings.secrets


def test_the_postgres_config_differs_from_the_bundled_one_only_in_state() -> None:
    bundled = yaml.safe_load((DEPLOY.parent / "config" / "monitor.yaml").read_text("utf-8"))
    ours = yaml.safe_load((DEPLOY / "monitor.postgres.yaml").read_text("utf-8"))
    assert ours.pop("state") == {"url": "${MONITOR_STATE_URL}"}
    bundled.pop("state")
    assert ours == bundled
