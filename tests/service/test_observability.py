"""Logging: one format for structlog and stdlib records, JSON vs console, and no secret ever."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from monitor.service import observability
from monitor.service.observability import (
    REDACTED,
    Redactor,
    add_secrets,
    configure_logging,
    wants_json,
)

SLACK_URL = "https://hooks.slack.com/services/T0AAAA1/B0BBBB2/xYzSecretPart123456"
WEBHOOK_URL = "http://127.0.0.1:8099/receive/4f9c2e7d-hook-path?sig=abc123"
HMAC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PLAIN_SECRET = "s3cr3t-hmac-value-991"
SECRETS = (SLACK_URL, WEBHOOK_URL, HMAC_SECRET, PLAIN_SECRET)
# Pieces that would betray a secret even if the whole string were hidden.
FRAGMENTS = (
    "xYzSecretPart123456",
    "4f9c2e7d-hook-path",
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "s3cr3t-hmac",
)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the root logger and structlog as the test found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in observability.NOISY_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def emit_everything(stream: io.StringIO) -> str:
    """Log every secret at every level, from structlog and stdlib loggers, with tracebacks."""
    log = structlog.get_logger("monitor.test")
    for method in ("debug", "info", "warning", "error", "critical"):
        getattr(log, method)(
            "delivery_attempted",
            destination="slack",
            url=SLACK_URL,
            nested={"urls": [WEBHOOK_URL], "pair": (HMAC_SECRET, 1)},
            error=f"POST {WEBHOOK_URL} failed",
        )
    log.info(f"event text with {PLAIN_SECRET} inside")
    try:
        raise RuntimeError(f"send to {SLACK_URL} with key {PLAIN_SECRET} failed")
    except RuntimeError:
        log.exception("alert_delivery_crashed", destination="slack")
        logging.getLogger("httpx").error("request to %s failed", WEBHOOK_URL, exc_info=True)
        logging.getLogger("apscheduler.executors.default").exception("job raised")
    try:
        raise ValueError(repr({"secret": HMAC_SECRET, "url": SLACK_URL}))
    except ValueError as exc:
        log.error("delivery_failed", error=str(exc), exc_info=exc)
    logging.getLogger("monitor.stdlib").warning("secret %s and %r", PLAIN_SECRET, WEBHOOK_URL)
    return stream.getvalue()


def http_status_error() -> httpx.HTTPStatusError:
    """The kind of error a notifier really sees: httpx names the full URL in its message."""
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    with httpx.Client(transport=transport) as client:
        response = client.post(SLACK_URL, content=b"{}")
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    raise AssertionError("raise_for_status did not raise")


@pytest.mark.parametrize("use_json", [True, False], ids=["json", "console"])
def test_no_secret_in_any_line_at_any_level(use_json: bool) -> None:
    stream = io.StringIO()
    configure_logging(json=use_json, level="DEBUG", secrets=SECRETS, stream=stream)
    output = emit_everything(stream)
    exc = http_status_error()
    structlog.get_logger("monitor.deliver.notifiers").warning(
        "delivery_failed", error=str(exc), exc=exc
    )
    output = stream.getvalue()
    assert output.count("\n") >= 12, output  # every call above produced a line
    assert "Traceback" in output  # tracebacks were rendered, and still nothing leaked
    for secret in (*SECRETS, *FRAGMENTS):
        assert secret not in output, f"{secret!r} leaked"
    assert REDACTED in output
    assert "delivery_attempted" in output  # redaction hides secrets, not the events


def test_secrets_from_stdlib_records_of_httpx_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="DEBUG", secrets=SECRETS, stream=stream)
    # httpx logs each request at INFO with the full URL: kept at WARNING, and redacted anyway.
    logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', SLACK_URL)
    logging.getLogger("httpx").warning('HTTP Request: POST %s "HTTP/1.1 500"', SLACK_URL)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["logger"] == "httpx"
    assert lines[0]["level"] == "warning"
    assert SLACK_URL not in lines[0]["event"] and REDACTED in lines[0]["event"]


def test_credential_shapes_are_redacted_without_registration() -> None:
    redactor = Redactor()
    text = (
        "slack https://hooks.slack.com/services/T1/B2/c3d4e5 "
        "discord https://discord.com/api/webhooks/123/abcDEF "
        "secret whsec_QUJDREVGRw== token xoxb-1234-5678-abcdef "
        "header Authorization: Bearer eyJhbGciOi.payload.sig "
        "proxy https://bob:hunter2@proxy.example/ "
        "query https://api.example/v1?api_key=k123&page=2&token=t456"
    )
    out = redactor(text)
    for leaked in (
        "c3d4e5",
        "abcDEF",
        "QUJDREVGRw",
        "xoxb-1234",
        "eyJhbGciOi",
        "hunter2",
        "k123",
        "t456",
    ):
        assert leaked not in out, leaked
    # What was hidden stays recognisable, and harmless parts stay.
    assert "hooks.slack.com/" in out
    assert "Bearer <redacted>" in out
    assert "page=2" in out
    assert "proxy.example" in out


@pytest.mark.parametrize(
    "form",
    [
        "https%3A%2F%2Fexample.test%2Fhook%2Fabcdef123",  # URL-quoted
        "example.test/hook/abcdef123",  # scheme dropped
        "/hook/abcdef123",  # path alone
    ],
)
def test_derived_forms_of_a_secret_url_are_redacted(form: str) -> None:
    redactor = Redactor(["https://example.test/hook/abcdef123"])
    assert redactor(f"value={form}!") == f"value={REDACTED}!"


def test_json_escaped_secret_is_redacted_in_rendered_line() -> None:
    secret = 'quote"and\\backslash-secret'
    stream = io.StringIO()
    configure_logging(json=True, secrets=[secret], stream=stream)
    # Not a str value: only the rendered line can catch it, where JSON escaped it.
    structlog.get_logger("t").info("odd_value", value=object.__new__(_Holder).set(secret))
    line = stream.getvalue()
    assert "backslash-secret" not in line
    assert REDACTED in line


class _Holder:
    text: str

    def set(self, text: str) -> _Holder:
        self.text = text
        return self

    def __repr__(self) -> str:
        return f"Holder({self.text!r})"


def test_blank_secrets_are_ignored() -> None:
    redactor = Redactor(["", "   "])
    assert redactor("nothing to hide") == "nothing to hide"


def test_add_secrets_after_configure_applies_to_the_next_line() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    later = "https://example.test/added/on-reload-7781"
    add_secrets([later])
    structlog.get_logger("t").info("config_reloaded", url=later)
    assert "on-reload-7781" not in stream.getvalue()


def test_reconfiguring_keeps_old_secrets_and_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json=True, secrets=["first-secret-abc123"], stream=first)
    configure_logging(json=True, secrets=["second-secret-def456"], stream=second)
    structlog.get_logger("t").info("both", a="first-secret-abc123", b="second-secret-def456")
    assert first.getvalue() == ""  # the earlier handler is gone, no line is written twice
    record = json.loads(second.getvalue())
    assert record["a"] == REDACTED and record["b"] == REDACTED


def test_json_lines_have_stable_fields() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    structlog.get_logger("monitor.detect.poller").info(
        "feed_polled", feed_id="nknews", new_stories=2
    )
    logging.getLogger("apscheduler.scheduler").warning("job missed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "feed_polled"
    assert first["feed_id"] == "nknews" and first["new_stories"] == 2
    assert first["level"] == "info" and first["logger"] == "monitor.detect.poller"
    assert first["timestamp"].endswith("Z")
    assert list(first)[:3] == ["timestamp", "level", "event"]
    assert second["logger"] == "apscheduler.scheduler" and second["level"] == "warning"


def test_level_filters_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="WARNING", stream=stream)
    structlog.get_logger("t").info("hidden_event")
    logging.getLogger("other").info("hidden stdlib")
    structlog.get_logger("t").warning("shown_event")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["shown_event"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="LOUD", stream=io.StringIO())


@pytest.mark.parametrize(
    ("tty", "env", "explicit", "expected"),
    [
        (False, None, None, True),  # a pipe or a container's stdout: JSON
        (True, None, None, False),  # a person at a terminal: console
        (True, "json", None, True),  # LOG_FORMAT=json wins over the terminal
        (False, "console", None, False),
        (True, "JSON", None, True),
        (False, "bogus", None, True),  # unknown values fall back to detection
        (True, "json", False, False),  # the explicit argument wins over everything
        (False, None, True, True),
    ],
)
def test_format_selection(
    monkeypatch: pytest.MonkeyPatch,
    tty: bool,
    env: str | None,
    explicit: bool | None,
    expected: bool,
) -> None:
    if env is None:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("LOG_FORMAT", env)
    stream = FakeTTY() if tty else io.StringIO()
    assert wants_json(stream, json=explicit) is expected


def test_console_renderer_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTTY()
    configure_logging(stream=stream)
    structlog.get_logger("t").info("feed_polled", feed_id="nknews")
    line = stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "feed_polled" in line and "feed_id=nknews" in line
    assert "\x1b[" not in line  # NO_COLOR honoured


def test_json_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    stream = io.StringIO()
    configure_logging(stream=stream)
    structlog.get_logger("t").info("feed_polled", title="김정은 Ким Чен Ын")
    record: dict[str, Any] = json.loads(stream.getvalue())
    assert record["title"] == "김정은 Ким Чен Ын"
    assert "김정은" in stream.getvalue()  # written as UTF-8, not \\u escapes


def test_python_warnings_are_routed_through_the_formatter() -> None:
    import warnings

    stream = io.StringIO()
    configure_logging(json=True, secrets=[PLAIN_SECRET], stream=stream)
    warnings.warn(f"deprecated thing {PLAIN_SECRET}", UserWarning, stacklevel=1)
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["logger"] == "py.warnings"
    assert PLAIN_SECRET not in stream.getvalue()
