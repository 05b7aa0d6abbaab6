"""Loaders that cannot be crashed: whatever the file holds, the config, watchlist and rule loaders
end in a valid object or a ``ConfigError`` — never another exception, never a hang.

Hypothesis writes arbitrary text, arbitrary YAML values and near-valid documents (a real config,
watchlist or rule file with one part replaced by something arbitrary) to a file and loads it the
way ``check-config`` does. Plus the named cases of the security review: alias bombs before
``${VAR}`` substitution, NaN and infinities, out-of-range intervals and timeouts, a bare ``*``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError
from monitor.service.config import Settings, load_config

pytestmark = pytest.mark.slow

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["*", "**", " * ", "${NOPE}", "${HOME}", "", "…", "\u200f", "-", "a*"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)

WATCHLIST: dict[str, Any] = {
    "entities": [
        {
            "id": "kim-jong-un",
            "type": "person",
            "side": "dprk",
            "aliases": ["Kim Jong Un", "김정은"],
        },
        {"id": "putin", "type": "person", "side": "russia", "aliases": ["Vladimir Putin", "Путин"]},
    ],
    "term_lists": {"vehicles": {"label": "vehicles", "en": ["car", "limousine*"]}},
}
RULE: dict[str, Any] = {
    "id": "ru-dprk.gift",
    "description": "a vehicle given across the border",
    "all": [{"side": "russia"}, {"side": "dprk"}, {"terms": "vehicles"}],
    "near": 24,
    "scope": "field",
    "weight": 3,
}
RULES: dict[str, Any] = {
    "topics": {"dprk": {"description": "transfers", "max_severity": "critical"}},
    "thresholds": {"low": 1, "medium": 2, "high": 3, "critical": 4.5},
    "topic": "dprk",
    "rules": [RULE],
}


def _load(folder: Path, config: Any, watchlist: Any = None, rules: Any = None) -> Settings | None:
    """Write the three files and load them; return the Settings, or None for a ConfigError."""
    (folder / "w.yaml").write_text(_dump(WATCHLIST if watchlist is None else watchlist))
    (folder / "r.yaml").write_text(_dump(RULES if rules is None else rules))
    path = folder / "monitor.yaml"
    path.write_text(config if isinstance(config, str) else _dump(config))
    try:
        return load_config(path)
    except ConfigError as exc:
        assert str(exc)  # a message, naming a file
        return None


def _dump(value: Any) -> str:
    return value if isinstance(value, str) else yaml.safe_dump(value, allow_unicode=True)


def _config(**override: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "state": {"path": "state/monitor.db"},
        "feeds": [{"id": "f", "url": "https://news.example/rss"}],
        "watchlists": ["w.yaml"],
        "rules": ["r.yaml"],
        "destinations": [{"id": "console", "type": "console"}],
    }
    base.update(override)
    return base


def test_the_reference_documents_are_valid(tmp_path: Path) -> None:
    """The property tests start from documents that load, so a refusal is the fuzzed part's."""
    assert isinstance(_load(tmp_path, _config()), Settings)


@PROPERTY
@given(text=st.text(max_size=300))
def test_arbitrary_text_as_any_file(tmp_path: Path, text: str) -> None:
    _load(tmp_path, text)
    _load(tmp_path, _config(), watchlist=text)
    _load(tmp_path, _config(), rules=text)


@PROPERTY
@given(value=values)
def test_arbitrary_yaml_values_as_any_file(tmp_path: Path, value: Any) -> None:
    _load(tmp_path, value)
    _load(tmp_path, _config(), watchlist=value)
    _load(tmp_path, _config(), rules=value)


@PROPERTY
@given(
    section=st.sampled_from(["http", "defaults", "server", "delivery", "dedup", "state", "log"]),
    key=st.sampled_from(
        [
            "timeout_s",
            "interval_s",
            "jitter_s",
            "grace_s",
            "poll_interval_s",
            "max_bytes",
            "retry_schedule_s",
            "threshold",
            "window_h",
            "path",
            "allow_networks",
            "level",
            "max_story_age_h",
            "parse_time_limit_s",
            "give_up_after_s",
            "backoff_cap_s",
        ]
    ),
    value=values,
)
def test_one_arbitrary_setting(tmp_path: Path, section: str, key: str, value: Any) -> None:
    settings_ = _load(tmp_path, _config(**{section: {key: value}}))
    if settings_ is not None:
        _assert_sane(settings_)


@PROPERTY
@given(
    feed=st.dictionaries(
        st.sampled_from(["id", "url", "interval_s", "adaptive", "tags", "name"]), values, max_size=4
    ),
    destination=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "type",
                "url",
                "secret",
                "unsigned",
                "timeout_s",
                "rate_per_s",
                "burst",
                "digest",
                "min_severity",
                "secret_file",
            ]
        ),
        values,
        max_size=5,
    ),
)
def test_arbitrary_feed_and_destination(
    tmp_path: Path, feed: dict[str, Any], destination: dict[str, Any]
) -> None:
    _load(tmp_path, _config(feeds=[feed], destinations=[destination]))


@PROPERTY
@given(
    aliases=st.lists(values, min_size=1, max_size=4),
    terms=st.lists(values, min_size=1, max_size=4),
    entity_key=st.sampled_from(["id", "type", "side", "weak", "label", "confirmed_by"]),
    entity_value=values,
)
def test_near_valid_watchlists(
    tmp_path: Path, aliases: list[Any], terms: list[Any], entity_key: str, entity_value: Any
) -> None:
    entity = {"id": "x", "type": "person", "side": "dprk", "aliases": aliases}
    _load(tmp_path, _config(), watchlist={"entities": [entity], "term_lists": {"t": terms}})
    entity = {**WATCHLIST["entities"][0], entity_key: entity_value}
    _load(tmp_path, _config(), watchlist={**WATCHLIST, "entities": [entity]})


@PROPERTY
@given(
    key=st.sampled_from(
        [
            "id",
            "description",
            "all",
            "any",
            "none",
            "near",
            "scope",
            "weight",
            "boost",
            "unless",
            "fields",
            "topic",
        ]
    ),
    value=values,
    condition=values,
)
def test_near_valid_rules(tmp_path: Path, key: str, value: Any, condition: Any) -> None:
    _load(tmp_path, _config(), rules={**RULES, "rules": [{**RULE, key: value}]})
    _load(
        tmp_path, _config(), rules={**RULES, "rules": [{**RULE, "all": [*RULE["all"], condition]}]}
    )
    _load(tmp_path, _config(), rules={**RULES, key: value})


def _assert_sane(loaded: Settings) -> None:
    """Whatever passed validation is usable by the scheduler and the HTTP client."""
    model = loaded.model
    for number in (model.defaults.interval_s, model.http.timeout_s, model.server.grace_s):
        assert math.isfinite(number) and number > 0
    assert 1 <= model.defaults.interval_s <= 7 * 86_400


# --- the named cases ---------------------------------------------------------------------------


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["${HOME}", "${HOME}", "${HOME}", "${HOME}", "${HOME}", "${HOME}"]']
    for i in range(1, levels):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_the_config_is_refused_before_substitution(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "feeds: []\nextra:\n" + "".join("  " + line + "\n" for line in _bomb().splitlines())
    )
    with pytest.raises(ConfigError, match=r"monitor\.yaml.*aliases are expanded"):
        load_config(path)


@pytest.mark.parametrize("where", ["watchlist", "rules"])
def test_an_alias_bomb_in_a_watchlist_or_rule_file_is_refused(tmp_path: Path, where: str) -> None:
    kwargs = {where: _bomb()}
    (tmp_path / "w.yaml").write_text(_dump(WATCHLIST if where != "watchlist" else kwargs[where]))
    (tmp_path / "r.yaml").write_text(_dump(RULES if where != "rules" else kwargs[where]))
    (tmp_path / "monitor.yaml").write_text(_dump(_config()))
    name = "w.yaml" if where == "watchlist" else "r.yaml"
    with pytest.raises(ConfigError, match=rf"{name}.*aliases are expanded"):
        load_config(tmp_path / "monitor.yaml")


def test_a_recursive_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    assert _load(tmp_path, "a: &a [*a]\n") is None
    assert _load(tmp_path, "a: " + "[" * 500 + "]" * 500 + "\n") is None
    chain = "l0: &l0 [x]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, 400))
    assert _load(tmp_path, chain) is None


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("defaults", "interval_s", float("nan"), "finite"),
        ("defaults", "interval_s", float("inf"), "finite"),
        ("defaults", "interval_s", 1e308, "less than or equal to 604800"),
        ("defaults", "interval_s", 1e-9, "greater than or equal to 1"),
        ("http", "timeout_s", 0.01, "greater than or equal to 0.1"),
        ("http", "timeout_s", float("-inf"), "finite"),
        ("defaults", "parse_time_limit_s", 0.05, "greater than or equal to 0.1"),
        ("server", "grace_s", float("nan"), "finite"),
        ("dedup", "threshold", float("nan"), "finite"),
    ],
)
def test_nan_infinities_and_out_of_range_times_are_config_errors(
    tmp_path: Path, section: str, key: str, value: float, message: str
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(_dump(_config(**{section: {key: value}})))
    (tmp_path / "w.yaml").write_text(_dump(WATCHLIST))
    (tmp_path / "r.yaml").write_text(_dump(RULES))
    with pytest.raises(ConfigError, match=rf"{section}\.{key}.*{message}"):
        load_config(path)


@pytest.mark.parametrize("term", ["*", "**", " * ", "-", "…"])
def test_a_term_without_letters_is_a_config_error_naming_the_entry(
    tmp_path: Path, term: str
) -> None:
    watchlist = {**WATCHLIST, "term_lists": {"vehicles": {"en": ["car", term]}}}
    with pytest.raises(ConfigError, match=r"w\.yaml: term_lists\.vehicles\.en\[1\]"):
        _load_strict(tmp_path, watchlist)


def _load_strict(folder: Path, watchlist: Any) -> Settings:
    (folder / "w.yaml").write_text(_dump(watchlist))
    (folder / "r.yaml").write_text(_dump(RULES))
    (folder / "monitor.yaml").write_text(_dump(_config()))
    return load_config(folder / "monitor.yaml")
