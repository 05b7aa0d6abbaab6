"""``check-config`` and ``dump-config`` through the real CLI (a subprocess per case).

A bad config, watchlist or rule file exits 2 with one line on stderr that names the file and
the key path (for a watchlist the entry, for a rule file the rule id). The bundled config is
valid and summarised; ``dump-config`` shows every secret as ``<redacted>``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import BUNDLED, cli_env, run_cli, write_config

pytestmark = pytest.mark.slow

GOOD_FEED = {"id": "good", "url": "http://127.0.0.1:9/feed.xml"}


@dataclass(frozen=True)
class Case:
    """One broken setup: ``make(folder)`` writes it and returns (config, file the error names)."""

    make: Callable[[Path], tuple[Path, Path]]
    key_path: str  # a regular expression the error line must contain after the file name
    value: str | None = None  # the offending value, when the message should show it


def unknown_key(folder: Path) -> tuple[Path, Path]:
    feeds: list[dict[str, Any]] = [
        GOOD_FEED,
        {"id": "nknews", "url": "https://nk.example/rss", "intervall_s": 600},
    ]
    config = write_config(folder, feeds=feeds, destinations=[])
    return config, config


def bad_url(folder: Path) -> tuple[Path, Path]:
    feeds = [GOOD_FEED, {"id": "nknews", "url": "ftp://nk.example/rss"}]
    config = write_config(folder, feeds=feeds, destinations=[])
    return config, config


def missing_variable(folder: Path) -> tuple[Path, Path]:
    hook = {"id": "hook", "type": "webhook", "url": "${CHECK_CONFIG_TEST_UNSET_URL}"}
    config = write_config(folder, feeds=[GOOD_FEED], destinations=[hook])
    return config, config


def malformed_yaml(folder: Path) -> tuple[Path, Path]:
    config = folder / "monitor.yaml"
    config.write_text(
        "state:\n  path: state.db\nfeeds:\n  - id: a\n    url: [http://x.example/\n"
        "destinations: []\n",
        encoding="utf-8",
    )
    return config, config


BAD_ENTITY = """\
watchlist: broken-test-list
entities:
  - id: fine-entity
    type: person
    side: dprk
    label: Fine
    aliases: [Fine Person]
  - id: broken-entity
    type: person
    side: martian
    label: Broken
    aliases: [Broken Person]
"""


def bad_watchlist(folder: Path) -> tuple[Path, Path]:
    watchlist = folder / "lists" / "broken.yaml"
    watchlist.parent.mkdir()
    watchlist.write_text(BAD_ENTITY, encoding="utf-8")
    extra = {"watchlists": [str(BUNDLED / "watchlists" / "*.yaml"), "lists/broken.yaml"]}
    config = write_config(folder, feeds=[GOOD_FEED], destinations=[], extra=extra)
    return config, watchlist


BAD_RULE = """\
topic: dprk
rules:
  - id: test.fine-rule
    description: fine
    all: [{side: russia}, {side: dprk}, {terms: oil}]
    weight: 3
  - id: test.broken-rule
    description: refers to a term list nobody defined
    all: [{side: russia}, {terms: no-such-term-list}]
    weight: 3
"""


def bad_rule(folder: Path) -> tuple[Path, Path]:
    rules = folder / "my-rules.yaml"
    rules.write_text(BAD_RULE, encoding="utf-8")
    extra = {"rules": [str(BUNDLED / "rules" / "*.yaml"), str(rules)]}
    config = write_config(folder, feeds=[GOOD_FEED], destinations=[], extra=extra)
    return config, rules


CASES = {
    "unknown key": Case(unknown_key, r"feeds\[1(:nknews)?\]\.intervall_s"),
    "bad URL": Case(bad_url, r"feeds\[1(:nknews)?\]\.url", value="ftp://nk.example/rss"),
    "missing ${VAR}": Case(
        missing_variable, r"destinations\[0(:hook)?\]\.url", value="CHECK_CONFIG_TEST_UNSET_URL"
    ),
    "malformed YAML": Case(malformed_yaml, r"line \d+, column \d+"),
    "bad watchlist entry": Case(bad_watchlist, r"broken-entity.*side", value="martian"),
    "bad rule": Case(bad_rule, r"test\.broken-rule.*no-such-term-list"),
}


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every case's ``check-config`` run, started side by side (each CLI start costs ~1 s)."""
    made = {name: case.make(tmp_path_factory.mktemp("case")) for name, case in CASES.items()}
    with ThreadPoolExecutor(max_workers=len(made)) as pool:
        futures = {
            name: pool.submit(run_cli, "check-config", config=config)
            for name, (config, _) in made.items()
        }
        return {name: (made[name][1], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_check_config_exits_2_naming_file_and_key_path(
    name: str, outcomes: dict[str, tuple[Path, subprocess.CompletedProcess[str]]]
) -> None:
    case = CASES[name]
    bad_file, result = outcomes[name]

    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "config error" in line]
    assert len(errors) == 1, result.stderr
    line = errors[0]
    assert str(bad_file) in line, line
    after_file = line.split(str(bad_file), 1)[1]
    assert re.search(case.key_path, after_file), line
    if case.value is not None:
        assert case.value in after_file, line
    assert "Traceback" not in result.stderr
    assert "is valid" not in result.stdout


def bundled_env(**extra: str) -> dict[str, str]:
    """The environment without the variables that switch the bundled destinations on."""
    env = cli_env(**extra)
    if not extra:
        for name in ("SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"):
            env.pop(name, None)
    return env


def test_check_config_accepts_and_summarises_the_bundled_config() -> None:
    result = run_cli("check-config", config=BUNDLED / "monitor.yaml", env=bundled_env())

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "is valid" in out
    feeds = re.search(r"feeds: (\d+)", out)
    assert feeds and int(feeds.group(1)) >= 15, out
    detection = dict(
        (name, int(count)) for name, count in re.findall(r"(\w+) (\d+)", out.split("detection:")[1])
    )
    assert detection.get("rules", 0) > 0 and detection.get("aliases", 0) > 0, out
    assert re.search(r"destinations: .*console", out), out


SLACK_URL = "https://hooks.slack.com/services/T0CHECK01/B0CHECK02/dumpConfigSlackTail"
HOOK_URL = "https://receiver.example/hooks/dump-config-secret-path"
HOOK_SECRET = "whsec_ZHVtcC1jb25maWctc2VjcmV0LWZvci10ZXN0cw=="


def test_dump_config_redacts_every_secret() -> None:
    env = bundled_env(SLACK_WEBHOOK_URL=SLACK_URL, WEBHOOK_URL=HOOK_URL, WEBHOOK_SECRET=HOOK_SECRET)

    result = run_cli("dump-config", config=BUNDLED / "monitor.yaml", env=env)

    assert result.returncode == 0, result.stderr
    for secret in (SLACK_URL, HOOK_URL, HOOK_SECRET, "dumpConfigSlackTail", "ZHVtcC1jb25maWc"):
        assert secret not in result.stdout + result.stderr
    dumped = yaml.safe_load(result.stdout)
    by_type = {d["type"]: d for d in dumped["destinations"]}
    assert {"slack", "webhook"} <= set(by_type), dumped["destinations"]
    assert by_type["slack"]["url"] == "<redacted>"
    assert by_type["webhook"]["url"] == "<redacted>"
    assert by_type["webhook"]["secret"] == "<redacted>"
    assert len(dumped["feeds"]) >= 15  # the rest of the effective config is shown as is


def test_dump_config_redacts_header_values_and_secret_lists(tmp_path: Path) -> None:
    hook = {
        "id": "hook",
        "type": "webhook",
        "url": "http://127.0.0.1:9/hooks/${DUMP_PATH}",
        "secrets": ["${DUMP_SECRET_A}", "${DUMP_SECRET_B}"],
        "headers": {"Authorization": "Bearer ${DUMP_TOKEN}"},
    }
    config = write_config(tmp_path, feeds=[GOOD_FEED], destinations=[hook])
    env = cli_env(
        DUMP_PATH="path-7731", DUMP_SECRET_A="alpha-5521", DUMP_SECRET_B="beta-6632",
        DUMP_TOKEN="token-9943",
    )  # fmt: skip

    result = run_cli("dump-config", config=config, env=env)

    assert result.returncode == 0, result.stderr
    for secret in ("path-7731", "alpha-5521", "beta-6632", "token-9943"):
        assert secret not in result.stdout
    [dest] = yaml.safe_load(result.stdout)["destinations"]
    assert dest["url"] == "<redacted>"
    assert dest["secrets"] == ["<redacted>", "<redacted>"]
    assert dest["headers"] == {"Authorization": "<redacted>"}
