"""``sanctions-monitor run`` as a subprocess: probes, metrics, hot reload, signals, secrets.

Every test starts the real daemon on a config that points at loopback servers (a feed server
and a webhook receiver that verifies Standard Webhooks signatures) and talks to it the way an
orchestrator does: HTTP probes on ``server.port``, ``sanctions-monitor healthcheck``, SIGHUP,
SIGTERM. What the daemon did is read from the receivers and from its JSON log lines.

``tests/test_observability_e2e.py`` already searches ``once``/``dump-config``/``check-config``
output for secrets while deliveries fail with 500s; the secret test here covers what that one
does not: the long-running ``run`` path (start-up, worker, reload-failure log lines), a
connection refused and a read time-out on delivery.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers.feed_server import FeedServer, feed_server, item, rss_feed
from tests.servers.webhook_receiver import (
    TEST_SECRETS,
    Reply,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)
from tests.support import (
    cli_env,
    daemon_process,
    events_named,
    free_port,
    http_get,
    log_events,
    metric_value,
    run_cli,
    transfer_stories,
    wait_for,
    write_config,
)

__all__ = ["feed_server", "slack_receiver", "webhook_receiver"]

# Deadlines are generous (a loaded host with parallel tests can take 20 s to start a daemon);
# every wait ends as soon as its event happens, so a healthy run stays fast.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NOW = datetime.now(UTC).replace(microsecond=0)
AURUS = item(
    "Putin gave Kim Jong Un a Russian-made Aurus car",
    link="https://news.example/aurus",
    guid="aurus-1",
    description="Seoul says UN resolutions ban supplying North Korea with vehicles under HS 86-89.",
    pub_date=NOW - timedelta(hours=1),
)
STOP_TIMEOUT_S = 15.0  # generous: a stuck daemon is what these waits detect, not a slow one


def stories_feed(first: int, count: int, prefix: str) -> bytes:
    """Items ``first .. first+count-1`` of ``transfer_stories`` (each one alerts)."""
    chosen = transfer_stories(first + count)[first:]
    return rss_feed(
        [
            item(
                title,
                link=f"https://news.example/{prefix}/{first + k}",
                guid=f"{prefix}-{first + k}",
                description=summary,
                pub_date=NOW - timedelta(minutes=5 + k),
            )
            for k, (title, summary) in enumerate(chosen)
        ]
    )


def hook(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "id": "hook",
        "type": "webhook",
        "url": receiver.url("/hooks/daemon"),
        "secret": TEST_SECRETS[0],
        "min_severity": "low",
        **extra,
    }


def server_block(port: int, **extra: Any) -> dict[str, Any]:
    return {"server": {"enabled": True, "host": "127.0.0.1", "port": port, **extra}}


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=STOP_TIMEOUT_S)


def ids_once(receiver: WebhookReceiver) -> Counter[str]:
    counts = Counter(receiver.delivered_ids())
    unverified = [r.verify_error for r in receiver.delivered() if not r.verified]
    assert not unverified, unverified
    return counts


# --- probes and metrics ------------------------------------------------------------------------


def test_probes_metrics_and_healthcheck_follow_the_first_cycle(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    # The feed answers after 2 s, so right after start-up no poll cycle can be complete yet
    # (the first poll starts 0-3 s after start-up: at most the interval).
    feed_url = feed_server.set_feed(
        "/slow.xml", rss_feed([AURUS]), etag='"s1"', behaviour="slow", delay_s=2.0
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path,
        feeds=[{"id": "slow-feed", "url": feed_url, "interval_s": 3}],
        destinations=[hook(webhook_receiver)],
        extra=server_block(port),
    )
    with daemon_process(config, log_path=tmp_path / "daemon.log") as proc:
        wait_for(lambda: http_get(f"{base}/healthz")[0] == 200, timeout_s=45)
        # Ready as soon as the scheduler runs and the state is writable; the body tells how
        # many feeds have succeeded so far (usually none yet: the feed answers after 2 s, but a
        # loaded host may start slowly; tests/service/test_readiness.py pins the 0 case).
        status, body = http_get(f"{base}/readyz")
        assert status == 200, body
        ready = json.loads(body)
        assert ready["status"] == "ready" and ready["scheduler_running"] is True
        assert ready["feeds"] == 1 and ready["feeds_ok"] in (0, 1), ready
        assert str(tmp_path) not in body and "config" not in ready, "a path in a probe body"
        before = http_get(f"{base}/metrics")[1]
        assert metric_value(before, "sanctions_monitor_fetches_total", outcome="ok") == 0, before
        delivered = metric_value(
            before,
            "sanctions_monitor_alerts_delivered_total",
            destination="hook",
            destination_type="webhook",
        )
        assert delivered in (0, None), before

        wait_for(lambda: json.loads(http_get(f"{base}/readyz")[1])["feeds_ok"] == 1, timeout_s=45)
        assert metric_value(http_get(f"{base}/metrics")[1], "sanctions_monitor_feeds_ok") in (
            0,
            1,
        )  # the gauge refreshes every few seconds
        webhook_receiver.wait_for(1, timeout_s=30)

        def counters_moved() -> str | None:
            text = http_get(f"{base}/metrics")[1]
            fetched = metric_value(text, "sanctions_monitor_fetches_total", outcome="ok") or 0
            sent = (
                metric_value(
                    text,
                    "sanctions_monitor_alerts_delivered_total",
                    destination="hook",
                    destination_type="webhook",
                )
                or 0
            )
            return text if fetched >= 1 and sent >= 1 else None

        after = wait_for(counters_moved, timeout_s=15)
        assert (metric_value(after, "sanctions_monitor_stories_new_total") or 0) >= 1
        assert (metric_value(after, "sanctions_monitor_alerts_queued_total") or 0) >= 1
        assert http_get(f"{base}/healthz")[0] == 200

        # healthcheck finds the port through the config's server block, as Docker runs it
        check = run_cli("healthcheck", config=config, timeout_s=20)
        assert check.returncode == 0, check.stdout + check.stderr
        assert stop(proc) == 0
    down = run_cli("healthcheck", config=config, timeout_s=20)
    assert down.returncode == 1, down.stdout + down.stderr
    assert len(webhook_receiver.delivered()) == 1


# --- hot reload ----------------------------------------------------------------------------


def test_sighup_with_a_valid_config_swaps_feeds_and_keeps_queued_alerts(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    old_url = feed_server.set_feed("/old.xml", stories_feed(0, 5, "old"), etag='"old"')
    new_url = feed_server.set_feed("/new.xml", stories_feed(5, 2, "new"), etag='"new"')
    log = tmp_path / "daemon.log"
    feeds_before = [{"id": "old-feed", "url": old_url, "interval_s": 1}]
    feeds_after = [{"id": "new-feed", "url": new_url, "interval_s": 1}]
    config = write_config(tmp_path, feeds=feeds_before, destinations=[hook(webhook_receiver)])
    webhook_receiver.stop()  # connection refused: the old feed's alerts stay queued
    with daemon_process(config, log_path=log) as proc:
        wait_for(lambda: events_named(log, "feed_polled", feed_id="old-feed"), timeout_s=45)
        queued = events_named(log, "feed_polled", feed_id="old-feed")[0]["alerts_queued"]
        assert queued == 5
        write_config(tmp_path, feeds=feeds_after, destinations=[hook(webhook_receiver)])
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: events_named(log, "config_reloaded"), timeout_s=30)
        old_polls = len(feed_server.requests_for("/old.xml"))
        webhook_receiver.start()

        webhook_receiver.wait_for(7, timeout_s=45)  # 5 queued before the reload + 2 new
        time.sleep(1.5)  # the old feed's 1 s schedule would have fired again by now
        assert proc.poll() is None
        assert stop(proc) == 0
    [reloaded] = events_named(log, "config_reloaded")
    assert reloaded.get("feeds_added") == ["new-feed"]
    assert reloaded.get("feeds_removed") == ["old-feed"]
    assert feed_server.requests_for("/new.xml")
    assert len(feed_server.requests_for("/old.xml")) <= old_polls + 1  # at most one in flight
    titles = Counter(r.json()["data"]["story"]["title"] for r in webhook_receiver.delivered())
    assert set(titles) == {title for title, _ in transfer_stories(7)}
    assert set(ids_once(webhook_receiver).values()) == {1}


def test_sighup_with_an_invalid_config_keeps_the_old_one_running(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    feed_url = feed_server.set_feed("/feed.xml", stories_feed(0, 1, "a"), etag='"v1"')
    log = tmp_path / "daemon.log"
    config = write_config(
        tmp_path,
        feeds=[{"id": "kept-feed", "url": feed_url, "interval_s": 1}],
        destinations=[hook(webhook_receiver)],
    )
    good_text = config.read_text(encoding="utf-8")
    with daemon_process(config, log_path=log) as proc:
        webhook_receiver.wait_for(1, timeout_s=45)
        broken = good_text.replace("interval_s: 1", "intervall_s: 1", 1)
        assert broken != good_text
        config.write_text(broken, encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        [failed] = wait_for(lambda: events_named(log, "config_reload_failed"), timeout_s=30)

        # still running on the old config: a new story on the kept feed is polled and alerted
        feed_server.set_feed("/feed.xml", stories_feed(0, 2, "a"), etag='"v2"')
        webhook_receiver.wait_for(2, timeout_s=30)
        assert proc.poll() is None
        assert stop(proc) == 0
    assert failed["level"] == "error"
    text = json.dumps(failed)
    assert str(config) in text
    assert "feeds[0" in text and "intervall_s" in text, failed
    assert not events_named(log, "config_reloaded")
    assert set(ids_once(webhook_receiver).values()) == {1}


# --- graceful shutdown -----------------------------------------------------------------------


def test_sigterm_during_a_burst_exits_0_and_the_rest_is_delivered_after_restart(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    total, grace_s = 30, 3.0
    feed_url = feed_server.set_feed("/burst.xml", stories_feed(0, total, "b"), etag='"b"')
    log = tmp_path / "daemon.log"
    config = write_config(
        tmp_path,
        feeds=[{"id": "burst", "url": feed_url, "interval_s": 2}],
        destinations=[hook(webhook_receiver)],
        extra={"server": {"enabled": False, "grace_s": grace_s}},
    )
    webhook_receiver.script(*[Reply(delay_s=0.25)] * total)  # a slow receiver: ~8 s in all
    with daemon_process(config, log_path=log) as proc:
        webhook_receiver.wait_for(5, timeout_s=60)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = proc.wait(timeout=grace_s + 10)
        waited_s = time.monotonic() - signalled
    assert code == 0
    first_run = len(webhook_receiver.delivered())
    assert first_run < total, "the burst was over before SIGTERM: nothing was interrupted"
    stopped = events_named(log, "daemon_stopped")
    assert stopped, log.read_text()
    assert waited_s < grace_s + 10  # (the wait above raises first; kept for the reader)

    webhook_receiver.heal()
    with daemon_process(config, log_path=log) as proc:
        wait_for(lambda: len(set(webhook_receiver.delivered_ids())) >= total, timeout_s=45)
        assert stop(proc) == 0
    counts = ids_once(webhook_receiver)
    assert len(counts) == total
    assert set(counts.values()) == {1}, [i for i, n in counts.items() if n > 1]


def test_sigterm_with_a_send_hanging_past_the_grace_period_still_exits_0(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    grace_s, total = 2.0, 3
    feed_url = feed_server.set_feed("/hang.xml", stories_feed(0, total, "h"), etag='"h"')
    log = tmp_path / "daemon.log"
    config = write_config(
        tmp_path,
        feeds=[{"id": "hang", "url": feed_url, "interval_s": 1}],
        # only the grace can end the send; one at a time, so the other two wait behind it
        destinations=[hook(webhook_receiver, timeout_s=60, concurrency=1)],
        extra={"server": {"enabled": False, "grace_s": grace_s}},
    )
    webhook_receiver.hang(45.0)  # the first request is answered long after the test is over
    with daemon_process(config, log_path=log) as proc:
        wait_for(lambda: events_named(log, "feed_polled", feed_id="hang"), timeout_s=45)
        time.sleep(0.5)  # the worker (0.1 s passes) is now inside the hanging request
        proc.send_signal(signal.SIGTERM)
        # Exit 0 within the grace period (plus shutdown and slack for a loaded machine), not
        # after the 45 s hang or the destination's 60 s time-out: wait() raises otherwise.
        assert proc.wait(timeout=grace_s + 12) == 0
    assert not webhook_receiver.delivered()  # nothing was answered: all three stay queued

    with daemon_process(config, log_path=log) as proc:
        webhook_receiver.wait_for(total, timeout_s=45)
        assert stop(proc) == 0
    counts = ids_once(webhook_receiver)
    assert len(counts) == total and set(counts.values()) == {1}


# --- unreachable feeds -----------------------------------------------------------------------


def test_feeds_on_closed_ports_each_log_an_error_and_the_daemon_keeps_running(
    tmp_path: Path,
) -> None:
    port = free_port()
    feeds = [
        {"id": f"offline-{n}", "url": f"http://127.0.0.1:{free_port()}/rss", "interval_s": 1}
        for n in range(3)
    ]
    log = tmp_path / "daemon.log"
    config = write_config(tmp_path, feeds=feeds, destinations=[], extra=server_block(port))
    with daemon_process(config, log_path=log) as proc:

        def every_feed_failed() -> list[dict[str, Any]] | None:
            failed = [e for e in log_events(log) if e.get("event") == "feed_failed"]
            named = {e.get("feed_id") for e in failed}
            return failed if named >= {f["id"] for f in feeds} else None

        failed = wait_for(every_feed_failed, timeout_s=45)
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        time.sleep(0.5)
        assert proc.poll() is None
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert stop(proc) == 0
    for event in failed:
        assert event["level"] in ("warning", "error")
        assert event["feed_id"] in event.get("error", ""), event  # the error names its feed


# --- secrets in logs -------------------------------------------------------------------------

REFUSED_PATH = "/hooks/refused-secret-path-6170"
SLOW_PATH = "/services/T0DAEMON1/B0DAEMON2/daemonSlackTail5512"
HMAC_SECRET = "whsec_ZGFlbW9uLWxvZy1zZWNyZXQtZm9yLXRlc3Rz"
HEADER_TOKEN = "daemon-header-token-80417"
ECHO_PATH = "/hooks/echo-secret-path-3391"
ECHO_SECRET = "whsec_ZWNoby1zZWNyZXQtOTkwMg=="


def test_no_secret_in_any_daemon_log_line_when_deliveries_fail(
    tmp_path: Path, feed_server: FeedServer, slack_receiver: WebhookReceiver
) -> None:
    feed_url = feed_server.set_feed("/feed.xml", rss_feed([AURUS]), etag='"v1"')
    refused_url = f"http://127.0.0.1:{free_port()}{REFUSED_PATH}"
    slack_url = slack_receiver.url(SLOW_PATH)
    slack_receiver.hang(3.0, times=50)  # longer than the destination's 0.5 s time-out
    # A receiver that refuses (4xx: dead letter) quoting its own URL path and the secret: the
    # notifier puts the start of a refusal's body into the error it raises.
    echo = WebhookReceiver().start()
    echo.script(*[Reply(status=422, body=f"no {ECHO_PATH} {ECHO_SECRET}".encode())] * 5)
    echo_url = echo.url(ECHO_PATH)
    destinations: list[dict[str, Any]] = [
        {
            "id": "refused",
            "type": "webhook",
            "url": "${DAEMON_HOOK_URL}",
            "secret": "${DAEMON_HOOK_SECRET}",
            "headers": {"Authorization": "Bearer ${DAEMON_HOOK_TOKEN}"},
            "min_severity": "low",
        },
        {
            "id": "timing-out",
            "type": "slack",
            "url": "${DAEMON_SLACK_URL}",
            "min_severity": "low",
            "timeout_s": 0.5,
        },
        {
            "id": "echoing",
            "type": "webhook",
            "url": "${DAEMON_ECHO_URL}",
            "secret": "${DAEMON_ECHO_SECRET}",
            "min_severity": "low",
        },
    ]
    log = tmp_path / "daemon.log"
    config = write_config(
        tmp_path,
        feeds=[{"id": "world", "url": feed_url, "interval_s": 1}],
        destinations=destinations,
        extra={"log": {"format": "json", "level": "DEBUG"}},
    )
    env = cli_env(
        DAEMON_HOOK_URL=refused_url,
        DAEMON_HOOK_SECRET=HMAC_SECRET,
        DAEMON_HOOK_TOKEN=HEADER_TOKEN,
        DAEMON_SLACK_URL=slack_url,
        DAEMON_ECHO_URL=echo_url,
        DAEMON_ECHO_SECRET=ECHO_SECRET,
    )
    try:
        run_failing_daemon(config, env, log)
    finally:
        echo.stop()
    assert [r.path for r in echo.requests] == [ECHO_PATH]  # refused once, then dead-lettered
    [dead] = events_named(log, "alert_dead_lettered", destination="echoing")
    assert "422" in dead.get("error", ""), dead

    output = log.read_text(encoding="utf-8", errors="replace")
    levels = {e.get("level") for e in log_events(log)}
    assert {"debug", "warning", "error"} <= levels, levels  # DEBUG on, failures logged
    secrets = (
        refused_url, slack_url, echo_url, REFUSED_PATH, SLOW_PATH, ECHO_PATH, HMAC_SECRET,
        ECHO_SECRET, HEADER_TOKEN, "refused-secret-path-6170", "daemonSlackTail5512",
        "T0DAEMON1", "ZGFlbW9uLWxvZy1zZWNyZXQtZm9yLXRlc3Rz", "echo-secret-path-3391",
        "ZWNoby1zZWNyZXQtOTkwMg",
    )  # fmt: skip
    leaked = [secret for secret in secrets if secret in output]
    assert not leaked, f"{leaked} leaked into the log"


def run_failing_daemon(config: Path, env: dict[str, str], log: Path) -> None:
    """Run until every destination has failed (twice where it retries), reload badly, stop."""
    with daemon_process(config, env=env, log_path=log) as proc:

        def all_failed() -> bool:
            failed = Counter(
                e.get("destination") for e in events_named(log, "alert_delivery_failed")
            )
            dead = events_named(log, "alert_dead_lettered", destination="echoing")
            return failed["refused"] >= 2 and failed["timing-out"] >= 2 and bool(dead)

        wait_for(all_failed, timeout_s=45)
        # a reload that fails must not quote the destinations either
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("min_severity: low", "min_severity: urgent"), "utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: events_named(log, "config_reload_failed"), timeout_s=30)
        assert stop(proc) == 0


def test_watch_config_reloads_when_the_file_changes(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    """``run --watch-config``: editing the file is a reload, as SIGHUP is (no signal sent)."""
    first = feed_server.set_feed("/first.xml", rss_feed([AURUS]), etag='"first"')
    second = feed_server.set_feed("/second.xml", stories_feed(0, 1, "second"), etag='"second"')
    hook = {"id": "hook", "type": "webhook", "url": webhook_receiver.url("/hook"),
            "secret": TEST_SECRETS[0]}  # fmt: skip
    config = write_config(tmp_path, feeds=[{"id": "first", "url": first}], destinations=[hook])
    log = tmp_path / "daemon.log"
    with daemon_process(config, "--watch-config", log_path=log) as proc:
        wait_for(lambda: len(webhook_receiver.delivered()) >= 1)
        time.sleep(1.1)  # a new mtime second, whatever the file system's resolution
        write_config(
            tmp_path,
            feeds=[{"id": "first", "url": first}, {"id": "second", "url": second}],
            destinations=[hook],
        )
        reloaded = wait_for(lambda: events_named(log, "config_reloaded"))
        assert reloaded[0]["feeds_added"] == ["second"]
        assert events_named(log, "config_changed")
        wait_for(lambda: len(webhook_receiver.delivered()) >= 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0
    titles = [r.json()["data"]["story"]["title"] for r in webhook_receiver.delivered()]
    assert titles[0].startswith("Putin gave Kim Jong Un")
    assert titles[1] == transfer_stories(1)[0][0]
