"""Where a feed fetch may connect: public unicast addresses only, unless the config allows more.

For the feed fetcher (``detect.fetch.build_client``), because feeds are untrusted: a feed, or a
redirect it sends, must not make the monitor fetch its cloud metadata service, an internal API or
a port on its own host (SSRF). The check is made on the socket, not on the URL:

- ``NetworkPolicy`` says whether one IP address may be contacted: refused are loopback, private
  (RFC 1918, CGNAT), link-local (169.254/16 with the metadata service, fe80::/10), unique local
  (fc00::/7), unspecified, multicast, reserved and documentation ranges, and IPv4 addresses
  wrapped in IPv6 (``::ffff:a.b.c.d``, NAT64, 6to4, Teredo) — unless the address lies in one of
  ``http.allow_networks``.
- ``GuardedBackend`` is the network backend of the direct connection pool: it resolves the host
  itself, connects only to an address the policy allows (by that literal IP, so a DNS answer that
  changes between check and connect — rebinding — changes nothing), then checks the peer address
  of the socket it got. Every connection goes through it: the first request and every redirect
  hop, whatever spelling the URL used (``0x7f.1``, ``[::1]``, ``localhost`` all resolve to
  loopback and are refused as such).
- ``GuardedTransport`` sends through the proxy of ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
  ``ALL_PROXY`` (and honours ``NO_PROXY``) when one is set. The proxy connects for us, so the
  target host is resolved here first and refused unless EVERY address it has is allowed.

A refusal is ``AddressRefused`` (an ``httpx.TransportError``), which the fetcher turns into a
``FetchBlocked`` error naming the feed. Destinations (Slack, webhooks) do not use this client:
they are the operator's own and are not limited.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")


class AddressRefused(httpx.TransportError):
    """A connection the network policy does not allow; ``host`` and ``address`` say which."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"{shown} is {reason}; not allowed by http.allow_networks")


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (``127.0.0.0/8``, ``10.1.0.0/16``, ``fd00::/8``) as networks.

    Raises ``ValueError`` naming the bad entry (the config turns it into a ``ConfigError``).
    """
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR form: {value!r} ({exc})") from None
    return tuple(networks)


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for ``host`` (A and AAAA), in its order, without repeats."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class NetworkPolicy:
    """Decides which addresses a feed fetch may contact, and resolves hosts to check them.

    ``allow_networks`` are contacted whatever their kind (for an intranet feed, or tests on
    127.0.0.1); ``resolver`` is injectable so tests can map a name to any address without a
    DNS server and without ever contacting that address.
    """

    def __init__(
        self,
        *,
        allow_networks: Sequence[IPNetwork] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow_networks = tuple(allow_networks)
        self.resolver = resolver

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be contacted, or None when it may."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
        if any(ip in net for net in self.allow_networks if net.version == ip.version):
            return None
        return address_kind(ip)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Addresses of ``host`` (an IP literal is its own answer; the resolver is not asked)."""
        bare = host.strip("[]")
        try:
            return [str(ipaddress.ip_address(bare.split("%", 1)[0]))]
        except ValueError:
            pass
        return list(await self.resolver(bare, port))

    async def check_host(self, host: str, port: int) -> None:
        """Raise ``AddressRefused`` unless every address of ``host`` may be contacted."""
        for address in await self.resolve(host, port):
            reason = self.refusal(address)
            if reason is not None:
                raise AddressRefused(host, address, reason)


def address_kind(ip: IPAddress) -> str | None:
    """The kind of a non-public address ("a loopback address", ...), or None for public unicast."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return f"an IPv4 address ({embedded}) wrapped in IPv6"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (this includes cloud metadata services)"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in _ULA, "a unique local address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "a shared (CGNAT) address"),
        (ip.is_private, "a private or special-purpose address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((kind for hit, kind in checks if hit), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    # ::a.b.c.d, the deprecated IPv4-compatible form (not :: and not ::1)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


# --- the socket-level check --------------------------------------------------------------------


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only where ``policy`` allows.

    ``inner`` does the real connecting (``httpcore.AnyIOBackend`` by default); tests pass one
    that records the address it was asked for instead of connecting.
    """

    def __init__(
        self, policy: NetworkPolicy, *, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        refused: AddressRefused | None = None
        failure: Exception | None = None
        for address in await self.policy.resolve(host, port):
            reason = self.policy.refusal(address)
            if reason is not None:
                refused = refused or AddressRefused(host, address, reason)
                continue
            try:
                stream = await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                failure = exc
                continue
            await self._check_peer(host, stream)
            return stream
        if failure is not None:
            raise failure
        raise refused or httpcore.ConnectError(f"no address for {host!r}")

    async def _check_peer(self, host: str, stream: httpcore.AsyncNetworkStream) -> None:
        """The address the socket is really connected to must be allowed too."""
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return  # a stream without a socket (a test double): the literal dialled was checked
        reason = self.policy.refusal(str(peer[0]))
        if reason is not None:
            await stream.aclose()
            raise AddressRefused(host, str(peer[0]), reason)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(path, path, "a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncBaseTransport):
    """The feed client's transport: direct connections through ``GuardedBackend``, or the
    environment's proxy after the target host's addresses were checked.

    ``proxies`` maps ``http``/``https``/``all`` to a proxy URL (default: the environment, as
    ``urllib.request.getproxies_environment`` reads it); ``NO_PROXY`` hosts connect directly.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        limits: httpx.Limits,
        proxies: dict[str, str] | None = None,
        inner_backend: httpcore.AsyncNetworkBackend | None = None,
        proxy_transport: Callable[[str], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.policy = policy
        self.direct = httpx.AsyncHTTPTransport(limits=limits)
        # httpx has no public hook for the network backend: replace its pool with one built on
        # the guarded backend (same settings as AsyncHTTPTransport would use).
        self.direct._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, inner=inner_backend),
        )
        env = urllib.request.getproxies_environment() if proxies is None else proxies
        self._proxy_urls = {k: v for k, v in env.items() if k in ("http", "https", "all") and v}
        self._no_proxy = proxies is None
        make = proxy_transport or (lambda url: httpx.AsyncHTTPTransport(limits=limits, proxy=url))
        self._proxies = {url: make(url) for url in set(self._proxy_urls.values())}

    def proxy_for(self, url: httpx.URL) -> str | None:
        """The proxy URL a request to ``url`` goes through, or None for a direct connection."""
        proxy = self._proxy_urls.get(url.scheme) or self._proxy_urls.get("all")
        if proxy is None:
            return None
        if self._no_proxy and urllib.request.proxy_bypass(url.host):
            return None
        return proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.proxy_for(request.url)
        if proxy is None:
            return await self.direct.handle_async_request(request)
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        await self.policy.check_host(request.url.host, port)
        return await self._proxies[proxy].handle_async_request(request)

    async def aclose(self) -> None:
        await self.direct.aclose()
        for transport in self._proxies.values():
            await transport.aclose()
