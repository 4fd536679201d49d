"""No request reaches inside the network the crawler runs in, or off its source's hosts and ports.

`AddressPolicyMiddleware` judges every request — robots.txt and each hop of a redirect included — after
Scrapy's OffsiteMiddleware and before robots.txt is fetched for it, so a refused host is not even asked
for its robots.txt. It refuses with `AddressRefused` (which the spider records with the URL):
- a URL off the source's hosts, or on a port its configured URLs do not use (`SourceReach.off_source_reason`);
- a host spelt as an inside address in any form (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`), or a
  name that is always inside (`localhost`, `*.internal`, a single label);
- a name any of whose DNS answers, IPv4 or IPv6, is inside (`crawler.addresses.internal_kind`);
unless the host is one the source's own configuration names (`SourceReach.trusts`: an intranet site).
A name that does not resolve is the proxy's business when one is used (the proxy connects, not the
crawler); without one it fails as Scrapy's own lookup would (DNSLookupError, retried).

`CheckedAddressResolver` (`TWISTED_DNS_RESOLVER`) makes a direct connection use the answer that was
judged: a name the middleware resolved is answered from that resolution for the rest of the crawl and
never looked up again, so a name whose DNS answer changes between the check and the connection (DNS
rebinding) cannot slip an inside address in. Through a proxy, the proxy resolves the name again; that
is not covered.

Settings:
- `KUROSHIO_HOSTS`: a closed hosts table `{name: [address, ...]}` used instead of DNS: its names resolve to
  its addresses, every other name does not resolve, and no DNS query is made. For offline tests and the
  demo web (`fixtures/demo.toml`); set through `[crawl] scrapy_settings`.
- `KUROSHIO_PROXY` (`[crawl] proxy`), or the proxy the environment names for the URL's scheme (as
  Scrapy's HttpProxyMiddleware reads it): with a proxy, a name the crawler cannot resolve is allowed.
- `DNS_TIMEOUT`, `DNSCACHE_ENABLED`, `DNSCACHE_SIZE`: Scrapy's, for the lookups.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from ipaddress import ip_address
from typing import Any
from urllib.request import getproxies

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.settings import BaseSettings
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer
from twisted.internet.abstract import isIPAddress
from twisted.internet.base import ReactorBase
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from zope.interface import implementer

from kuroshio.crawler.addresses import (
    HostError,
    IPAddress,
    SourceReach,
    host_address,
    internal_kind,
    internal_name_kind,
)

# Every name resolved in this process, with all its answers, for the rest of the crawl: the middleware
# judges these answers and the resolver connects with them. Module-wide because Scrapy builds one
# resolver per process (from the first crawler's settings) and one middleware per source.
_answers: dict[str, tuple[IPAddress, ...]] = {}


class AddressRefused(IgnoreRequest):
    """A request not made: it would reach off its source, or inside the network the crawler runs in."""


def hosts_table(settings: BaseSettings) -> dict[str, tuple[IPAddress, ...]] | None:
    """`KUROSHIO_HOSTS` with its addresses parsed, or None when DNS is used."""
    if settings.get("KUROSHIO_HOSTS") is None:
        return None
    table: Mapping[str, Sequence[str]] = settings.getdict("KUROSHIO_HOSTS")
    return {name.lower().rstrip("."): tuple(ip_address(address) for address in addresses)
            for name, addresses in table.items()}


async def resolve(host: str, *, hosts: Mapping[str, tuple[IPAddress, ...]] | None,
                  timeout: float) -> tuple[IPAddress, ...] | None:
    """Every address `host` resolves to (from `hosts` when given), or None when it does not resolve."""
    if answers := _answers.get(host):
        return answers
    if hosts is not None:
        answers = hosts.get(host, ())
    else:
        try:
            found = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout)
        except (TimeoutError, OSError):
            return None
        # An IPv6 answer may carry a zone ("fe80::1%eth0"), which ip_address does not read.
        answers = tuple(dict.fromkeys(ip_address(str(info[4][0]).split("%", 1)[0]) for info in found))
    if not answers:
        return None
    _answers[host] = answers
    return answers


class AddressPolicyMiddleware:
    """Refuses requests off the source's hosts and ports and requests that would reach inside."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.hosts = hosts_table(crawler.settings)
        self.proxy = crawler.settings.get("KUROSHIO_PROXY") or ""
        self.timeout = crawler.settings.getfloat("DNS_TIMEOUT", 60.0)
        self._reach: SourceReach | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressPolicyMiddleware:
        return cls(crawler)

    @property
    def reach(self) -> SourceReach:
        """The reach of the crawler's source (read once the spider exists)."""
        if self._reach is None:
            spider: Any = self.crawler.spider
            self._reach = SourceReach.of(spider.source)
        return self._reach

    async def process_request(self, request: scrapy.Request) -> None:
        why = await self._why_refused(request)
        if why is None:
            return
        self.crawler.stats.inc_value("kuroshio/refused")
        chain = request.meta.get("redirect_urls")
        refused = AddressRefused(f"refused: redirected to {request.url}: {why}" if chain else f"refused: {why}")
        if request.errback is None and (record_error := getattr(self.crawler.spider, "record_error", None)):
            # Scrapy's own requests (robots.txt) have no errback to record the refusal with; the spider's do.
            record_error((chain or [request.url])[0], str(refused))
        raise refused

    async def _why_refused(self, request: scrapy.Request) -> str | None:
        if why := self.reach.off_source_reason(request.url):
            return why
        host = (urlparse_cached(request).hostname or "").rstrip(".")
        if self.reach.trusts(host):
            return None
        try:
            literal = host_address(host)
        except HostError as error:
            return str(error)
        if literal is not None:
            kind = internal_kind(literal)
            if kind is None:
                return None
            return f"{host} is {kind}" if str(literal) == host else f"{host} is {literal}, {kind}"
        if kind := internal_name_kind(host):
            return f"{host} is {kind}"
        answers = await resolve(host.lower(), hosts=self.hosts, timeout=self.timeout)
        if answers is None:
            if self._proxied(request):
                return None
            raise DNSLookupError(f"{host} does not resolve")
        for address in answers:
            if kind := internal_kind(address):
                return f"{host} resolves to {address}, {kind}"
        return None

    def _proxied(self, request: scrapy.Request) -> bool:
        scheme = urlparse_cached(request).scheme
        return bool(request.meta.get("proxy") or self.proxy or getproxies().get(scheme))


@implementer(IResolverSimple)
class CheckedAddressResolver(CachingThreadedResolver):
    """Scrapy's default resolver (IPv4), except that a name `AddressPolicyMiddleware` judged is answered
    with the address it judged, and with `KUROSHIO_HOSTS` set only that table answers."""

    def __init__(self, reactor: ReactorBase, cache_size: int, timeout: float) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.hosts: dict[str, tuple[IPAddress, ...]] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> CheckedAddressResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.hosts = hosts_table(crawler.settings)
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:  # noqa: N802 (Twisted's name)
        if isIPAddress(name):  # Twisted's HostnameEndpoint (a proxy's) asks for an address literal too
            return defer.succeed(name)
        key = name.lower().rstrip(".")
        answers = _answers.get(key)
        if answers is None and self.hosts is not None:
            answers = self.hosts.get(key, ())
        if answers is None:
            return super().getHostByName(name, timeout)
        ipv4 = next((str(address) for address in answers if address.version == 4), None)
        if ipv4 is None:
            return defer.fail(DNSLookupError(f"{name} has no IPv4 address"))
        return defer.succeed(ipv4)
