"""Config loading: substitution, secrets from files, skipped destinations, error locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.service.config import load_config, redacted_dump, resolve_config_path
from tests.support import write_config

FEED = {"id": "nknews", "url": "https://www.nknews.org/feed/"}


def test_variables_defaults_and_secret_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "hook-secret"
    secret_file.write_text("whsec_c2VjcmV0LWZyb20tZmlsZQ==\n", encoding="utf-8")
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/in")
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "token"))
    (tmp_path / "token").write_text("xoxb-from-file", encoding="utf-8")
    monkeypatch.delenv("TOKEN", raising=False)
    config = write_config(
        tmp_path,
        feeds=[FEED],
        destinations=[
            {
                "id": "hook",
                "type": "webhook",
                "url": "${HOOK_URL}",
                "secret_file": str(secret_file),
            },
            {"id": "bot", "type": "slack_api", "token": "${TOKEN}", "channel": "${CHAN:-C42}"},
        ],
    )
    settings = load_config(config)
    hook, bot = settings.destinations
    assert hook.url == "https://hooks.example/in"
    assert hook.secrets == ("whsec_c2VjcmV0LWZyb20tZmlsZQ==",)
    assert bot.token == "xoxb-from-file" and bot.channel == "C42"
    assert {"https://hooks.example/in", "xoxb-from-file"} <= settings.secrets
    dumped = str(redacted_dump(settings))
    assert "xoxb-from-file" not in dumped and "hooks.example" not in dumped
    assert "whsec_c2VjcmV0" not in dumped


def test_an_empty_url_skips_the_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    config = write_config(
        tmp_path,
        feeds=[FEED],
        destinations=[
            {"id": "console", "type": "console"},
            {"id": "slack", "type": "slack", "url": "${SLACK_WEBHOOK_URL:-}"},
        ],
    )
    settings = load_config(config)
    assert [d.id for d in settings.destinations] == ["console"]
    assert settings.skipped_destinations == ("slack",)


@pytest.mark.parametrize(
    ("destinations", "extra", "where"),
    [
        ([{"id": "h", "type": "webhook", "url": "${NOPE_UNSET}"}], {}, "destinations[0:h].url"),
        ([], {"health_alerts": {"destinations": ["pager"]}}, "health_alerts.destinations[0]"),
        ([], {"topics": {"disabled": ["nosuchtopic"]}}, "topics.disabled"),
        ([], {"dedup": {"threshold": 1.5}}, "dedup.threshold"),
        (
            [],
            {"feeds": [{**FEED, "adaptive": {"min_interval_s": 900, "max_interval_s": 60}}]},
            "feeds[0:nknews].adaptive",
        ),
    ],
)
def test_errors_name_the_file_and_the_key(
    tmp_path: Path, destinations: list[dict[str, str]], extra: dict[str, object], where: str
) -> None:
    config = write_config(tmp_path, feeds=[FEED], destinations=destinations, extra=extra)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(config) in str(caught.value)
    assert where in str(caught.value)


def test_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_CONFIG", str(tmp_path / "env.yaml"))
    assert resolve_config_path("cli.yaml") == Path("cli.yaml")
    assert resolve_config_path(None) == tmp_path / "env.yaml"
    monkeypatch.delenv("MONITOR_CONFIG")
    assert resolve_config_path(None).name == "monitor.yaml"


def test_state_url_or_path_but_not_both(tmp_path: Path) -> None:
    both = {"state": {"path": "a.db", "url": "sqlite:///b.db"}}
    config = write_config(tmp_path, feeds=[FEED], destinations=[], extra=both)
    with pytest.raises(ConfigError, match=r"state.path .* or state.url, not both") as caught:
        load_config(config)
    assert caught.value.key_path == "state"


def test_state_url_names_the_store_and_its_password_is_a_secret(tmp_path: Path) -> None:
    url = {"state": {"path": None, "url": "postgresql://monitor:pg-s3cret@db:5432/monitor"}}
    settings = load_config(write_config(tmp_path, feeds=[FEED], destinations=[], extra=url))
    assert settings.state_url.kind == "postgresql"
    assert "pg-s3cret" in settings.secrets
    assert "pg-s3cret" not in str(redacted_dump(settings))
    sqlite = {"state": {"path": None, "url": "sqlite:///var/m.db"}}
    settings = load_config(write_config(tmp_path, feeds=[FEED], destinations=[], extra=sqlite))
    assert settings.state_path == Path("var/m.db")


def test_an_unknown_state_scheme_is_a_config_error(tmp_path: Path) -> None:
    bad = {"state": {"path": None, "url": "mysql://db/monitor"}}
    with pytest.raises(ConfigError, match="unknown scheme 'mysql'"):
        load_config(write_config(tmp_path, feeds=[FEED], destinations=[], extra=bad))
