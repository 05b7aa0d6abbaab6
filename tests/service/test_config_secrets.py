"""Secrets: a webhook signs unless it says ``unsigned: true``; an empty ``VAR`` never shadows
``VAR_FILE``; ``*_file`` paths are relative to the config file's folder (``state.path`` to the
working directory). Unit cases on ``load_config``, then ``once`` against a real loopback
receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.errors import ConfigError
from monitor.service.config import load_config
from tests.servers.feed_server import FeedServer, feed_server, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver, webhook_receiver
from tests.support import BUNDLED, cli_env, run_cli, write_config
from tests.test_e2e_once import AURUS  # the seed story: a Russia-DPRK transfer

__all__ = ["feed_server", "webhook_receiver"]

HOOK_URL = "https://receiver.example/hooks/sanctions"


def _write(folder: Path, destination: dict[str, Any], **extra: Any) -> Path:
    data = {
        "watchlists": [str(BUNDLED / "watchlists" / "*.yaml")],
        "rules": [str(BUNDLED / "rules" / "*.yaml")],
        "destinations": [{"id": "hook", "type": "webhook", "url": HOOK_URL, **destination}],
        **extra,
    }
    path = folder / "conf" / "monitor.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "destination",
    [{}, {"secret": ""}, {"secret": "   "}, {"secrets": []}, {"secret": "${HOOK_SECRET_UNSET:-}"}],
)
def test_a_webhook_without_a_secret_is_a_config_error(tmp_path: Path, destination: Any) -> None:
    with pytest.raises(ConfigError, match=r"destinations\[0:hook\]\.secret: .*unsigned: true"):
        load_config(_write(tmp_path, destination))


def test_unsigned_true_is_accepted_and_reported(tmp_path: Path) -> None:
    settings = load_config(_write(tmp_path, {"unsigned": True}))
    assert settings.unsigned_destinations == ("hook",)
    assert settings.destinations[0].secrets == ()


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ({"unsigned": True, "secret": "s3cret"}, "drop one of them"),
        ({"type": "slack", "unsigned": True}, "only a webhook destination can be unsigned"),
    ],
)
def test_contradictory_unsigned_settings_are_errors(
    tmp_path: Path, destination: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, destination))


def test_an_empty_variable_does_not_shadow_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compose's ``WEBHOOK_SECRET: ${WEBHOOK_SECRET:-}`` sets it empty beside ``_FILE``."""
    secret_file = tmp_path / "webhook_secret"
    secret_file.write_text("from-the-file\n", encoding="utf-8")
    monkeypatch.setenv("HOOK_SECRET", "")
    monkeypatch.setenv("HOOK_SECRET_FILE", str(secret_file))
    settings = load_config(_write(tmp_path, {"secret": "${HOOK_SECRET:-}"}))
    assert settings.destinations[0].secrets == ("from-the-file",)


def test_an_empty_variable_takes_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "")
    settings = load_config(_write(tmp_path, {"secret": "${HOOK_SECRET:-fallback}"}))
    assert settings.destinations[0].secrets == ("fallback",)


def test_secret_file_paths_are_relative_to_the_config_and_state_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, {"secret_file": "secrets/hook.txt"}, state={"path": "state/m.db"})
    (path.parent / "secrets").mkdir()
    (path.parent / "secrets" / "hook.txt").write_text("beside-the-config\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_config(path)
    assert settings.destinations[0].secrets == ("beside-the-config",)
    assert settings.state_path == Path("state/m.db")  # still relative to the working directory


# --- through the CLI, against a real receiver --------------------------------------------------


@pytest.mark.slow
def test_the_compose_file_route_signs_and_unsigned_warns_once(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    feed_url = feed_server.set_feed("/world.xml", rss_feed([AURUS]))
    secret_file = tmp_path / "webhook_secret"
    secret_file.write_text(TEST_SECRETS[0] + "\n", encoding="utf-8")
    config = write_config(
        tmp_path,
        feeds=[{"id": "world", "url": feed_url}],
        destinations=[
            {"id": "signed", "type": "webhook", "url": webhook_receiver.url("/signed"),
             "secret": "${WEBHOOK_SECRET:-}", "min_severity": "low"},
            {"id": "open", "type": "webhook", "url": webhook_receiver.url("/open"),
             "unsigned": True, "min_severity": "low"},
        ],
    )  # fmt: skip
    env = cli_env(WEBHOOK_SECRET="", WEBHOOK_SECRET_FILE=str(secret_file))
    result = run_cli("once", config=config, env=env)
    assert result.returncode == 0, result.stderr
    by_path = {r.path: r for r in webhook_receiver.requests}
    assert by_path["/signed"].verified is True
    assert "webhook-signature" not in by_path["/open"].headers
    assert result.stderr.count('"destination_unsigned"') == 1
    assert TEST_SECRETS[0] not in result.stdout + result.stderr
