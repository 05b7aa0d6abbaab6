"""Configuration: read once at start-up, validated into frozen objects, or exit 2.

Order of look-up for the file: ``--config PATH``, else ``$MONITOR_CONFIG``, else the bundled
``config/monitor.yaml``. YAML is read by ``service.yaml_safe`` (the safe loader, libyaml's where
PyYAML has it, with aliases, nesting and expanded size bounded BEFORE anything walks the tree);
then, inside string values only:

- ``${VAR}`` is replaced by the environment variable; an unset or EMPTY ``VAR`` with ``VAR_FILE``
  set reads that file (relative to the working directory), else ``${VAR:-default}`` falls back
  to ``default``, else a set-but-empty ``VAR`` gives "" and an unset one is an error naming the key;
- a key ``<name>_file`` (``secret_file``, ``url_file``, ``token_file``) is replaced by ``<name>``
  holding the file's contents, stripped (Docker and Kubernetes secrets); a relative path is
  relative to the config file's folder, like watchlists and rules (``state.path`` stays relative
  to the working directory).

Numbers must be finite, and every duration has a range (``Interval``, ``Timeout`` ...), so a value
that passes here cannot crash the scheduler or the HTTP client later.

Every error names the file, the key path (``feeds[3].url``) and the offending value.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from monitor import __version__
from monitor.detect.match import Pack, compile_pack
from monitor.detect.netpolicy import parse_networks
from monitor.errors import ConfigError, StoreError
from monitor.models import DestinationSpec, FeedSpec, Severity
from monitor.service import yaml_safe
from monitor.service.bundle import bundled_config
from monitor.state.open import StateUrl, parse_state_url, redact_url

DEFAULT_STATE_PATH = "state/monitor.db"

BUNDLED_CONFIG = bundled_config()
DEFAULT_USER_AGENT = (
    f"sanctions-monitor/{__version__} (+https://github.com/sanctions-monitor/sanctions-monitor;"
    " news monitoring)"
)
SECRET_KEYS = frozenset({"secret", "secrets", "token", "password"})
REDACTED = "<redacted>"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def resolve_config_path(cli_path: str | None) -> Path:
    """``--config`` wins, then ``$MONITOR_CONFIG``, then the bundled default."""
    if cli_path:
        return Path(cli_path)
    env_path = os.environ.get("MONITOR_CONFIG")
    return Path(env_path) if env_path else BUNDLED_CONFIG


# --- the schema (pydantic, strict about unknown keys) ----------------------------------------


def _http_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return value


def _cidr(value: str) -> str:
    parse_networks([value])  # raises ValueError naming the entry
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
PositiveFloat = Annotated[float, AfterValidator(_positive)]
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
Interval = Annotated[float, Field(ge=1, le=WEEK_S)]  # poll intervals: 1 s to 7 days
Timeout = Annotated[float, Field(ge=0.1, le=DAY_S)]  # timeouts and deadlines: 0.1 s to 1 day
ShortTime = Annotated[float, Field(ge=0.1, le=3600)]  # time limits and ticks: 0.1 s to 1 hour
SeverityName = Literal["low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StateModel(_Strict):
    path: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _one_location(self) -> StateModel:
        if self.path is not None and self.url is not None:
            raise ValueError("set state.path (SQLite shorthand) or state.url, not both")
        if self.url is not None:
            try:
                parse_state_url(self.url)
            except StoreError as exc:
                raise ValueError(str(exc).removeprefix("state: ")) from None
        return self

    @property
    def location(self) -> StateUrl:
        """Where the state lives: ``url`` if set, else the SQLite file ``path``."""
        if self.url is not None:
            return parse_state_url(self.url)
        return StateUrl("sqlite", self.path or DEFAULT_STATE_PATH)


class HttpModel(_Strict):
    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: Timeout = 30.0
    max_bytes: Annotated[int, Field(gt=0)] = 5_000_000
    per_host_limit: Annotated[int, Field(gt=0)] = 2
    global_limit: Annotated[int, Field(gt=0)] = 16
    max_redirects: Annotated[int, Field(ge=0, le=10)] = 5
    allow_networks: tuple[Annotated[str, AfterValidator(_cidr)], ...] = ()


class DefaultsModel(_Strict):
    interval_s: Interval = 900.0
    jitter_s: Annotated[float, Field(ge=0, le=WEEK_S)] = 30.0
    max_story_age_h: Annotated[float, Field(gt=0, le=100 * 365 * 24)] = 72.0
    backoff_cap_s: Annotated[float, Field(ge=1, le=30 * DAY_S)] = 86_400.0
    parse_time_limit_s: ShortTime = 10.0
    failing_after: Annotated[int, Field(ge=1)] = 3
    stale_factor: Annotated[float, Field(gt=0, le=1000)] = 10.0


class ServerModel(_Strict):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464
    grace_s: ShortTime = 8.0


class LogModel(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class DeliveryModel(_Strict):
    retry_schedule_s: tuple[Annotated[float, Field(ge=0, le=WEEK_S)], ...] = (
        0, 5, 60, 300, 1800, 7200,
    )  # fmt: skip
    give_up_after_s: Annotated[float, Field(gt=0, le=365 * DAY_S)] = 6 * 3600.0
    poll_interval_s: ShortTime = 1.0


class AdaptiveModel(_Strict):
    min_interval_s: Interval = 300.0
    max_interval_s: Interval = 6 * 3600.0

    @model_validator(mode="after")
    def _ordered(self) -> AdaptiveModel:
        if self.min_interval_s > self.max_interval_s:
            raise ValueError("min_interval_s must not exceed max_interval_s")
        return self


class FeedModel(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    url: HttpUrl
    name: str | None = None
    interval_s: Interval | None = None
    adaptive: AdaptiveModel | None = None
    tags: tuple[str, ...] = ()


class DigestModel(_Strict):
    every_s: Interval = 3600.0


class DestinationModel(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    type: Literal["console", "slack", "slack_api", "webhook", "apprise"]
    url: str | None = None
    secret: str | None = None
    secrets: tuple[str, ...] = ()
    token: str | None = None
    channel: str | None = None
    min_severity: SeverityName = "medium"
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    headers: dict[str, str] = Field(default_factory=dict)
    rate_per_s: Annotated[float, Field(gt=0, le=1000)] | None = None
    burst: Annotated[int, Field(ge=1, le=10_000)] = 1
    digest: DigestModel | None = None
    timeout_s: Timeout = 10.0
    unsigned: bool = False
    concurrency: Annotated[int, Field(ge=1, le=64)] | None = None


class TopicsModel(_Strict):
    disabled: tuple[str, ...] = ()


class DedupModel(_Strict):
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.88
    window_h: Annotated[float, Field(gt=0, le=365 * 24)] = 72.0
    retention_days: Annotated[float, Field(gt=0, le=100 * 365)] = 30.0


def _domains(values: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for value in values:
        domain = value.strip().lower().lstrip(".")
        if not domain or "/" in domain or ":" in domain or " " in domain:
            raise ValueError(f"not a host name: {value!r} (write e.g. ft.com, no scheme or path)")
        out.append(domain)
    return tuple(out)


class EnrichModel(_Strict):
    enabled: bool = False
    min_summary_words: Annotated[int, Field(ge=0)] = 40
    max_per_poll: Annotated[int, Field(ge=0)] = 5
    max_per_host_per_hour: Annotated[int, Field(ge=0)] = 30
    poll_budget_s: PositiveFloat = 60.0
    extract_time_limit_s: PositiveFloat = 10.0
    max_text_chars: Annotated[int, Field(gt=0)] = 20_000
    robots_ttl_s: PositiveFloat = 86_400.0
    partial_match: bool = False
    domains_skip: Annotated[tuple[str, ...], AfterValidator(_domains)] = ()


class EvidenceModel(_Strict):
    retention_days: PositiveFloat = 365.0


class HealthAlertsModel(_Strict):
    destinations: tuple[str, ...] = ()


class ConfigModel(_Strict):
    state: StateModel = StateModel()
    http: HttpModel = HttpModel()
    defaults: DefaultsModel = DefaultsModel()
    server: ServerModel = ServerModel()
    log: LogModel = LogModel()
    delivery: DeliveryModel = DeliveryModel()
    topics: TopicsModel = TopicsModel()
    dedup: DedupModel = DedupModel()
    health_alerts: HealthAlertsModel = HealthAlertsModel()
    enrich: EnrichModel = EnrichModel()
    evidence: EvidenceModel = EvidenceModel()
    feeds: tuple[FeedModel, ...] = ()
    watchlists: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    destinations: tuple[DestinationModel, ...] = ()


# --- the result handed to the rest of the program ------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The validated configuration, with the detection pack compiled."""

    path: Path
    model: ConfigModel
    feeds: tuple[FeedSpec, ...]
    destinations: tuple[DestinationSpec, ...]
    skipped_destinations: tuple[str, ...]
    pack: Pack
    secrets: frozenset[str] = field(default_factory=frozenset)
    unsigned_destinations: tuple[str, ...] = ()

    @property
    def state_url(self) -> StateUrl:
        """The state store (``state.url``, or ``state.path`` as a SQLite file)."""
        return self.model.state.location

    @property
    def state_path(self) -> Path:
        """The SQLite file of ``state.path`` / a ``sqlite://`` URL (the state of one process);
        ``StoreError`` for a PostgreSQL state (commands that only work on a file)."""
        where = self.state_url
        if where.kind != "sqlite":
            raise StoreError("store: this command works on a SQLite state file; state.url is "
                             f"{redact_url(where.target)}")  # fmt: skip
        return where.path

    @property
    def disabled_topics(self) -> frozenset[str]:
        return frozenset(self.model.topics.disabled)

    @property
    def max_story_age_s(self) -> float:
        return self.model.defaults.max_story_age_h * 3600.0

    def feed(self, feed_id: str) -> FeedSpec | None:
        return next((f for f in self.feeds if f.id == feed_id), None)


def load_config(path: Path | str, *, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read, substitute, validate and compile; raise ``ConfigError`` naming file and key.

    ``overrides`` maps dotted keys (``state.path``, ``log.format``) to values that replace the
    file's (the command line's ``--state`` and ``--log-format``); they are validated as the
    file's own values are.
    """
    path = Path(path)
    raw = _read_yaml(path)
    substituted = _with_overrides(_substitute(raw, str(path), ""), overrides or {})
    try:
        model = ConfigModel.model_validate(substituted)
    except ValidationError as exc:
        raise _config_error(exc, str(path), substituted) from None
    destinations, skipped = _destinations(model, str(path))
    rules = list(_read_sources(path, model.rules, "rules"))
    try:
        # Watchlists are read one file at a time as the pack compiles them, and neither their
        # parsed YAML nor the rules' is kept: a 10,000-alias file's YAML is ~8 MB of objects.
        pack = compile_pack(
            watchlists=_read_sources(path, model.watchlists, "watchlists"),
            rules=rules,
            disabled_topics=frozenset(model.topics.disabled),
        )
    except ConfigError as exc:
        if exc.file is not None:
            raise
        raise ConfigError(str(exc), file=str(path)) from None
    _check_health_destinations(model, destinations, skipped, str(path))
    return Settings(
        path=path,
        model=model,
        feeds=tuple(_feed_spec(f, model.defaults) for f in model.feeds),
        destinations=destinations,
        skipped_destinations=skipped,
        pack=pack,
        secrets=frozenset([*_secrets_of(destinations), *_state_secrets(model.state)]),
        unsigned_destinations=tuple(
            d.id for d in model.destinations if d.unsigned and d.id not in skipped
        ),
    )


def _with_overrides(data: Any, overrides: Mapping[str, Any]) -> Any:
    """``data`` with each dotted key of ``overrides`` set (sections created as needed)."""
    if not overrides or not isinstance(data, dict):
        return data
    result = dict(data)
    for dotted, value in overrides.items():
        node = result
        *sections, last = dotted.split(".")
        for name in sections:
            inner = node.get(name)
            node[name] = dict(inner) if isinstance(inner, dict) else {}
            node = node[name]
        node[last] = value
    return result


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration with every secret replaced by ``<redacted>``."""
    data = settings.model.model_dump(mode="json")
    for dest in data["destinations"]:
        for key in SECRET_KEYS & dest.keys():
            if dest[key]:
                dest[key] = [REDACTED] * len(dest[key]) if key == "secrets" else REDACTED
        if dest["type"] != "console" and dest.get("url"):
            dest["url"] = REDACTED  # a Slack or webhook URL is itself a credential
        dest["headers"] = {name: REDACTED for name in dest.get("headers", {})}
    if data["state"].get("url"):
        data["state"]["url"] = redact_url(data["state"]["url"])
    return data


def _check_health_destinations(
    model: ConfigModel,
    destinations: Sequence[DestinationSpec],
    skipped: Sequence[str],
    file: str,
) -> None:
    known = {d.id for d in destinations} | set(skipped)
    for i, dest_id in enumerate(model.health_alerts.destinations):
        if dest_id not in known:
            raise ConfigError(
                f"unknown destination {dest_id!r} (known: {', '.join(sorted(known)) or 'none'})",
                file=file,
                key_path=f"health_alerts.destinations[{i}]",
            )


# --- reading and substitution --------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        return yaml_safe.load(text)
    except yaml_safe.YamlRefused as exc:
        where = f"line {exc.line}" if exc.line else None
        raise ConfigError(f"YAML refused: {exc}", file=str(path), key_path=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"malformed YAML: {problem}", file=str(path), key_path=where) from None


def _substitute(node: Any, file: str, key_path: str) -> Any:
    """Apply ``${VAR}`` and ``*_file`` substitution to every string inside ``node``."""
    if isinstance(node, str):
        return _expand(node, file, key_path)
    if isinstance(node, list):
        return [
            _substitute(item, file, f"{key_path}[{_index_label(i, item)}]")
            for i, item in enumerate(node)
        ]
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            sub_path = f"{key_path}.{key}" if key_path else str(key)
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                out[key.removesuffix("_file")] = _read_secret_file(
                    _expand(value, file, sub_path), file, sub_path, base=Path(file).parent
                )
            else:
                out[str(key)] = _substitute(value, file, sub_path)
        return out
    return node


def _index_label(index: int, item: Any) -> str:
    """``2`` or, for an entry with an id, ``2:nknews`` (as validation errors write it)."""
    item_id = item.get("id") if isinstance(item, Mapping) else None
    return str(index) if item_id is None else f"{index}:{item_id}"


def _expand(text: str, file: str, key_path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if os.environ.get(name):
            return os.environ[name]
        if os.environ.get(f"{name}_FILE"):  # an empty VAR (compose's ${VAR:-}) must not win
            return _read_secret_file(os.environ[f"{name}_FILE"], file, key_path, base=None)
        if default is not None:
            return default
        if name in os.environ:
            return ""
        raise ConfigError(
            f"environment variable ${{{name}}} is not set (use ${{{name}:-default}} for a default)",
            file=file,
            key_path=key_path,
        )

    return _VAR.sub(replace, text)


def _read_secret_file(secret_path: str, file: str, key_path: str, *, base: Path | None) -> str:
    """The stripped contents of a secret file; a relative path is taken from ``base``."""
    full = Path(secret_path)
    if base is not None and not full.is_absolute():
        full = base / full
    try:
        return full.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read secret file {secret_path!r}: {exc.strerror}", file=file, key_path=key_path
        ) from None


def _read_sources(
    config_path: Path, patterns: Sequence[str], key: str
) -> Iterator[tuple[str, Any]]:
    """Yield ``(file, parsed YAML)`` for every file the patterns name, relative to the config."""
    base = config_path.resolve().parent
    for i, pattern in enumerate(patterns):
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        if not matches:
            raise ConfigError(
                f"no file matches {pattern!r}", file=str(config_path), key_path=f"{key}[{i}]"
            )
        for file in matches:
            yield file, _read_yaml(Path(file))


# --- validation helpers --------------------------------------------------------------------


def _config_error(exc: ValidationError, file: str, data: Any) -> ConfigError:
    first = exc.errors()[0]
    key_path = _format_loc(first["loc"], data)
    value = first.get("input")
    shown = "" if isinstance(value, Mapping) else f" (got {value!r})"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    more = len(exc.errors()) - 1
    suffix = f"; and {more} more problem(s)" if more else ""
    return ConfigError(f"{message}{shown}{suffix}", file=file, key_path=key_path)


def _format_loc(loc: Sequence[int | str], data: Any) -> str:
    """``("feeds", 3, "url")`` → ``feeds[3].url``; adds the feed's id when it has one."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{_index_label(part, node[part] if _indexable(node, part) else None)}]"
        else:
            out += f".{part}" if out else str(part)
        node = node[part] if _indexable(node, part) else None
    return out


def _indexable(node: Any, part: int | str) -> bool:
    if isinstance(node, list) and isinstance(part, int):
        return 0 <= part < len(node) and isinstance(node[part], Mapping)
    return isinstance(node, Mapping) and part in node


def _feed_spec(feed: FeedModel, defaults: DefaultsModel) -> FeedSpec:
    return FeedSpec(
        id=feed.id,
        url=feed.url,
        interval_s=feed.interval_s or defaults.interval_s,
        tags=feed.tags,
        name=feed.name,
        adaptive_bounds_s=(
            (feed.adaptive.min_interval_s, feed.adaptive.max_interval_s) if feed.adaptive else None
        ),
    )


def _destinations(
    model: ConfigModel, file: str
) -> tuple[tuple[DestinationSpec, ...], tuple[str, ...]]:
    """Build specs; a destination whose URL resolved empty is skipped (reported, not fatal)."""
    specs: list[DestinationSpec] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for i, dest in enumerate(model.destinations):
        key_path = f"destinations[{i}:{dest.id}]"
        if dest.id in seen:
            raise ConfigError(f"duplicate destination id {dest.id!r}", file=file, key_path=key_path)
        seen.add(dest.id)
        if dest.type in ("slack", "webhook", "apprise") and not (dest.url or "").strip():
            skipped.append(dest.id)
            continue
        if dest.type in ("slack", "webhook") and dest.url:
            try:
                _http_url(dest.url)
            except ValueError:
                raise ConfigError(
                    "not an http(s) URL (value hidden: it may be a secret)",
                    file=file,
                    key_path=f"{key_path}.url",
                ) from None
        if dest.type == "slack_api" and not dest.token:
            skipped.append(dest.id)
            continue
        _check_signing(dest, file, key_path)
        specs.append(_destination_spec(dest))
    _check_unique_feeds(model, file)
    return tuple(specs), tuple(skipped)


def _check_signing(dest: DestinationModel, file: str, key_path: str) -> None:
    """A webhook signs every request unless it says ``unsigned: true`` (then warned at start)."""
    has_secret = bool((dest.secret or "").strip() or any(s.strip() for s in dest.secrets))
    if dest.unsigned and dest.type != "webhook":
        raise ConfigError("only a webhook destination can be unsigned", file=file,
                          key_path=f"{key_path}.unsigned")  # fmt: skip
    if dest.type != "webhook" or has_secret == (not dest.unsigned):
        return
    if has_secret:
        raise ConfigError(
            "has a secret and says unsigned: true; drop one of them",
            file=file,
            key_path=f"{key_path}.unsigned",
        )
    raise ConfigError(
        "a webhook destination needs a secret to sign its requests (secret, secrets or "
        "secret_file; check that its variable or file is not empty), or `unsigned: true` to "
        "send unsigned requests on purpose",
        file=file,
        key_path=f"{key_path}.secret",
    )


def _check_unique_feeds(model: ConfigModel, file: str) -> None:
    seen: set[str] = set()
    for i, feed in enumerate(model.feeds):
        if feed.id in seen:
            raise ConfigError(f"duplicate feed id {feed.id!r}", file=file, key_path=f"feeds[{i}]")
        seen.add(feed.id)


# Slack allows about one message per second per channel, with short bursts.
_SLACK_TYPES = ("slack", "slack_api")
# Sends in flight per webhook destination: a backlog of 1,000 alerts to a receiver that takes
# 100 ms each drains in ~25 s instead of ~100 s. Slack and the others stay one at a time.
WEBHOOK_CONCURRENCY = 4


def _destination_spec(dest: DestinationModel) -> DestinationSpec:
    secrets = tuple(s for s in (dest.secret, *dest.secrets) if s)
    return DestinationSpec(
        id=dest.id,
        type=dest.type,
        url=dest.url or None,
        secrets=secrets,
        token=dest.token,
        channel=dest.channel,
        min_severity=Severity.parse(dest.min_severity),
        rules=dest.rules,
        tags=dest.tags,
        feeds=dest.feeds,
        headers=tuple(dest.headers.items()),
        rate_per_s=dest.rate_per_s or (1.0 if dest.type in _SLACK_TYPES else None),
        burst=dest.burst if dest.rate_per_s else (3 if dest.type in _SLACK_TYPES else dest.burst),
        digest_every_s=dest.digest.every_s if dest.digest else None,
        timeout_s=dest.timeout_s,
        concurrency=dest.concurrency or (WEBHOOK_CONCURRENCY if dest.type == "webhook" else 1),
    )


def _state_secrets(state: StateModel) -> Iterator[str]:
    """The password of a ``postgresql://user:password@…`` URL, redacted like a token."""
    if state.url is not None and (password := urlsplit(state.url).password):
        yield password


def _secrets_of(destinations: Sequence[DestinationSpec]) -> Iterator[str]:
    for dest in destinations:
        if dest.type != "console" and dest.url:
            yield dest.url
        yield from dest.secrets
        if dest.token:
            yield dest.token
        yield from (value for _, value in dest.headers)
