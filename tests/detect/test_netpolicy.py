"""The feed network policy (SSRF guard): which addresses a fetch may contact, on every hop.

Loopback cases run against real servers on 127.0.0.1 / 127.0.0.2. Metadata, private and ULA
addresses are ONLY ever handed to an injected resolver and a recording backend that never
connects: no test opens a connection outside the loopback range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from monitor.detect.fetch import ACCEPT, FeedFetcher
from monitor.detect.netpolicy import (
    AddressRefused,
    GuardedBackend,
    GuardedTransport,
    NetworkPolicy,
    address_kind,
    parse_networks,
)
from monitor.errors import FetchBlocked
from monitor.models import FeedSpec, FeedState
from tests.servers.feed_server import FeedServer, item, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver, webhook_receiver
from tests.support import FakeClock, run_cli, write_config

__all__ = ["webhook_receiver"]

BODY = rss_feed([item("Putin gives Kim an Aurus", link="https://example.org/a", guid="a1")])
HOOK = {"id": "hook", "type": "webhook", "secret": TEST_SECRETS[0], "min_severity": "low"}
AURUS_FEED = rss_feed(
    [
        item(
            "Putin gave Kim Jong Un a Russian-made Aurus car",
            link="https://news.example/world/aurus-gift",
            guid="seed-aurus-1",
            description="Seoul says UN Security Council resolutions ban supplying North Korea "
            "with vehicles under HS codes 86 to 89, so the limousine breaches the sanctions.",
            pub_date=datetime.now(UTC) - timedelta(hours=1),
        )
    ]
)
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=0)


# --- which addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "unique local"),
        ("fc00::1", "unique local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "wrapped in IPv6"),
        ("::ffff:169.254.169.254", "wrapped in IPv6"),
        ("64:ff9b::a9fe:a9fe", "wrapped in IPv6"),
        ("2002:7f00:1::1", "wrapped in IPv6"),
        ("240.0.0.1", "address"),
        ("255.255.255.255", "address"),
        ("192.0.2.1", "address"),
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    reason = NetworkPolicy().refusal(address)
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_unicast_addresses_pass(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None
    assert NetworkPolicy().refusal(address) is None


def test_allow_networks_opens_exactly_their_range() -> None:
    policy = NetworkPolicy(allow_networks=parse_networks(["10.1.0.0/16", "127.0.0.0/8"]))
    assert policy.refusal("10.1.200.3") is None
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("10.2.0.1") is not None
    assert policy.refusal("169.254.169.254") is not None
    assert policy.refusal("::ffff:127.0.0.1") is not None  # the mapped form is not 127/8


def test_parse_networks_names_a_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        parse_networks(["127.0.0.0/8", "10.0.0.0/33"])


# --- injected resolver and recording backend (never connects) -----------------------------------


class StaticResolver:
    """Answers from a table and counts the questions."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return self.table[host]


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records the address it would contact, then fails as an unreachable host would."""

    def __init__(self) -> None:
        self.contacted: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.contacted.append((host, port))
        raise httpcore.ConnectError(f"recording backend: not connecting to {host}")

    async def sleep(self, seconds: float) -> None:
        return None


def _fetcher(transport: httpx.AsyncBaseTransport) -> FeedFetcher:
    client = httpx.AsyncClient(transport=transport, headers={"Accept": ACCEPT})
    return FeedFetcher(client=client, clock=FakeClock(), timeout_s=5)


def _feed(url: str) -> FeedSpec:
    return FeedSpec(id="untrusted", url=url, interval_s=60)


METADATA_AND_PRIVATE = {
    "metadata.test": ["169.254.169.254"],
    "aws-v6.test": ["fd00:ec2::254"],
    "intranet.test": ["10.20.30.40"],
    "router.test": ["192.168.0.1"],
    "corp.test": ["172.20.1.1"],
    "mapped.test": ["::ffff:10.0.0.1"],
}


@pytest.mark.parametrize("host", sorted(METADATA_AND_PRIVATE))
async def test_names_resolving_to_metadata_or_private_ranges_are_never_contacted(
    host: str,
) -> None:
    backend = RecordingBackend()
    policy = NetworkPolicy(resolver=StaticResolver(METADATA_AND_PRIVATE))
    fetcher = _fetcher(GuardedTransport(policy, limits=LIMITS, proxies={}, inner_backend=backend))
    with pytest.raises(FetchBlocked, match=r"untrusted") as caught:
        await fetcher.fetch(_feed(f"http://{host}/latest/meta-data/"), FeedState("untrusted"))
    assert host in str(caught.value)
    assert METADATA_AND_PRIVATE[host][0] in str(caught.value)
    assert backend.contacted == []
    await fetcher.client.aclose()


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/", "http://[fd00:ec2::254]/", "http://10.0.0.7:8080/"]
)
async def test_literal_private_addresses_are_refused_without_asking_dns(url: str) -> None:
    backend, resolver = RecordingBackend(), StaticResolver({})
    policy = NetworkPolicy(resolver=resolver)
    fetcher = _fetcher(GuardedTransport(policy, limits=LIMITS, proxies={}, inner_backend=backend))
    with pytest.raises(FetchBlocked):
        await fetcher.fetch(_feed(url), FeedState("untrusted"))
    assert backend.contacted == [] and resolver.asked == []
    await fetcher.client.aclose()


async def test_a_mixed_answer_connects_only_to_its_public_address() -> None:
    backend = RecordingBackend()
    resolver = StaticResolver({"mixed.test": ["10.0.0.1", "169.254.169.254", "93.184.216.34"]})
    backend_ = GuardedBackend(NetworkPolicy(resolver=resolver), inner=backend)
    with pytest.raises(httpcore.ConnectError):
        await backend_.connect_tcp("mixed.test", 443)
    assert backend.contacted == [("93.184.216.34", 443)]


class _PeerStream(httpcore.AsyncNetworkStream):
    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.closed = False

    def get_extra_info(self, info: str) -> Any:
        return self.peer if info == "server_addr" else None

    async def aclose(self) -> None:
        self.closed = True


async def test_the_peer_address_of_the_socket_is_checked_too() -> None:
    """A backend that ends up somewhere other than the address dialled is caught and closed."""
    stream = _PeerStream(("10.9.9.9", 80))

    class Diverted(RecordingBackend):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            self.contacted.append((host, port))
            return stream

    inner = Diverted()
    guarded = GuardedBackend(NetworkPolicy(), inner=inner)
    with pytest.raises(AddressRefused, match=r"10\.9\.9\.9"):
        await guarded.connect_tcp("93.184.216.34", 80)
    assert stream.closed


# --- real loopback servers ---------------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[FeedServer]:
    """The 'internal service' on 127.0.0.1 that a hostile feed wants us to read."""
    with FeedServer("127.0.0.1") as server:
        server.set_feed("/secret", b"internal credentials", content_type="text/plain")
        server.set_feed("/feed.xml", BODY)
        yield server


@pytest.fixture
def outlet() -> Iterator[FeedServer]:
    """A feed host on 127.0.0.2 (the one loopback address the tests' policy allows)."""
    with FeedServer("127.0.0.2") as server:
        server.set_feed("/feed.xml", BODY)
        yield server


def _real(allow: Sequence[str], resolver: Any = None) -> FeedFetcher:
    kwargs = {"resolver": resolver} if resolver is not None else {}
    policy = NetworkPolicy(allow_networks=parse_networks(allow), **kwargs)
    return _fetcher(GuardedTransport(policy, limits=LIMITS, proxies={}))


async def test_a_loopback_feed_is_refused_when_nothing_is_allowed(internal: FeedServer) -> None:
    fetcher = _real([])
    with pytest.raises(FetchBlocked, match=r"127\.0\.0\.1 is a loopback address.*untrusted"):
        await fetcher.fetch(_feed(internal.url("/feed.xml")), FeedState("untrusted"))
    assert internal.requests == []
    await fetcher.client.aclose()


@pytest.mark.parametrize("host", ["localhost", "0x7f.1", "2130706433", "127.1", "[::1]"])
async def test_odd_spellings_of_loopback_are_refused(internal: FeedServer, host: str) -> None:
    fetcher = _real(["127.0.0.2/32"])
    with pytest.raises(FetchBlocked, match="loopback"):
        await fetcher.fetch(_feed(f"http://{host}:{internal.port}/feed.xml"), FeedState("u"))
    assert internal.requests == []
    await fetcher.client.aclose()


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://0x7f.1:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
    ],
)
async def test_a_redirect_to_loopback_is_refused(
    outlet: FeedServer, internal: FeedServer, target: str
) -> None:
    """The first hop (127.0.0.2, allowed) is fetched; its redirect to 127.0.0.1 is not."""
    outlet.set_feed(
        "/moved", behaviour="redirect", location=target.format(port=internal.port), status=302
    )
    fetcher = _real(["127.0.0.2/32"])
    with pytest.raises(FetchBlocked, match=r"not allowed by http\.allow_networks"):
        await fetcher.fetch(_feed(outlet.url("/moved")), FeedState("untrusted"))
    assert [r.path for r in outlet.requests] == ["/moved"]
    assert internal.requests == []
    await fetcher.client.aclose()


async def test_the_same_redirect_is_followed_when_loopback_is_allowed(
    outlet: FeedServer, internal: FeedServer
) -> None:
    """The control: with 127.0.0.0/8 allowed the redirect above reaches the internal server."""
    outlet.set_feed("/moved", behaviour="redirect", location=internal.url("/feed.xml"), status=302)
    fetcher = _real(["127.0.0.0/8"])
    result = await fetcher.fetch(_feed(outlet.url("/moved")), FeedState("untrusted"))
    assert result.status == 200 and b"Aurus" in result.body
    assert [r.path for r in internal.requests] == ["/feed.xml"]
    await fetcher.client.aclose()


async def test_dns_rebinding_cannot_switch_the_address_after_the_check(
    outlet: FeedServer, internal: FeedServer
) -> None:
    """A name that answers an allowed address once, then loopback: each connection is checked
    on the address it dials (resolved once per connection, no second look-up to race)."""
    outlet.set_feed("/a", BODY)
    internal.set_feed("/a", b"internal", content_type="text/plain")

    class Rebinding:
        def __init__(self) -> None:
            self.answers = [["127.0.0.2"], ["127.0.0.1"]]
            self.asked = 0

        async def __call__(self, host: str, port: int) -> Sequence[str]:
            self.asked += 1
            return self.answers.pop(0)

    resolver = Rebinding()
    fetcher = _real(["127.0.0.2/32"], resolver=resolver)
    first = await fetcher.fetch(_feed(f"http://rebind.test:{outlet.port}/a"), FeedState("u"))
    assert first.status == 200
    with pytest.raises(FetchBlocked, match=r"rebind\.test \(127\.0\.0\.1\)"):
        await fetcher.fetch(_feed(f"http://rebind.test:{internal.port}/a"), FeedState("u"))
    assert resolver.asked == 2  # one answer per connection, none for a separate check
    assert internal.requests == []
    await fetcher.client.aclose()


# --- behind an egress proxy --------------------------------------------------------------------


@pytest.fixture
async def proxy() -> AsyncIterator[FeedServer]:
    """A loopback 'proxy' that answers absolute-form requests itself (it forwards nothing)."""
    with FeedServer("127.0.0.1") as server:
        server.set_feed("http://public.test/feed.xml", BODY)
        yield server


async def test_behind_a_proxy_the_target_is_checked_before_anything_is_sent(
    proxy: FeedServer,
) -> None:
    resolver = StaticResolver({"public.test": ["93.184.216.34"], **METADATA_AND_PRIVATE})
    transport = GuardedTransport(
        NetworkPolicy(resolver=resolver), limits=LIMITS, proxies={"http": proxy.base_url}
    )
    fetcher = _fetcher(transport)
    ok = await fetcher.fetch(_feed("http://public.test/feed.xml"), FeedState("u"))
    assert ok.status == 200 and b"Aurus" in ok.body
    for host in ("metadata.test", "intranet.test"):
        with pytest.raises(FetchBlocked, match=host):
            await fetcher.fetch(_feed(f"http://{host}/x"), FeedState("u"))
    assert [r.path for r in proxy.requests] == ["http://public.test/feed.xml"]
    await fetcher.client.aclose()


def test_no_proxy_hosts_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "feeds.internal.test")
    transport = GuardedTransport(NetworkPolicy(), limits=LIMITS)
    assert transport.proxy_for(httpx.URL("https://news.test/rss")) == "http://127.0.0.1:3128"
    assert transport.proxy_for(httpx.URL("https://feeds.internal.test/rss")) is None
    assert transport.proxy_for(httpx.URL("http://news.test/rss")) is None  # no HTTP_PROXY


# --- through the CLI -------------------------------------------------------------------------


@pytest.mark.slow
def test_once_refuses_a_feed_redirecting_to_loopback_and_still_delivers_to_loopback(
    tmp_path: Path, outlet: FeedServer, internal: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    """A hostile feed on the allowed 127.0.0.2 redirects to an internal service on 127.0.0.1
    whose text would alert: the feed fails with a clear error naming it, the internal server is
    never asked, a good feed beside it is alerted, and the webhook on 127.0.0.1 (a destination,
    not limited by the policy) receives that alert."""
    internal.set_feed("/internal.xml", AURUS_FEED)
    outlet.set_feed(
        "/hostile.xml", behaviour="redirect", location=internal.url("/internal.xml"), status=302
    )
    outlet.set_feed("/good.xml", AURUS_FEED)
    config = write_config(
        tmp_path,
        feeds=[
            {"id": "hostile", "url": outlet.url("/hostile.xml")},
            {"id": "good", "url": outlet.url("/good.xml")},
        ],
        destinations=[HOOK | {"url": webhook_receiver.url("/h")}],
        extra={"http": {"allow_networks": ["127.0.0.2/32"]}},
    )
    result = run_cli("once", config=config)
    assert result.returncode == 3  # a partial run: one feed failed
    assert "failed hostile: fetch: refused to connect: 127.0.0.1 is a loopback address" in (
        result.stdout
    ), result.stdout + result.stderr
    assert internal.requests == []
    assert [r.path for r in outlet.requests_for("/good.xml")] == ["/good.xml"]
    assert len(webhook_receiver.delivered()) == 1
