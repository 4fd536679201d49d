"""Where one source's crawl may go: its own hosts and ports, and nowhere inside the network it runs in.

Pure functions (no DNS, no I/O), shared by discovery, which refuses a sitemap named off the source when
it reads the robots.txt or sitemap index naming it, and `crawler.middlewares.addresses`, which resolves
every request's host and judges each answer before anything connects.

- **Hosts** (`SourceReach.holds_host`): the source's allowed domains and their subdomains, and the hosts
  of its configured feeds, sitemaps and listing pages.
- **Ports** (`SourceReach.off_source_reason`): the default port of the URL's scheme (80 for http, 443 for
  https), or a port a configured URL names on that same host (an intranet site on `:8080`).
- **Addresses** (`internal_kind`): loopback, link-local, private, shared (CGNAT), multicast, reserved and
  unspecified addresses, and the cloud metadata services (`METADATA_ADDRESSES`), are inside; an
  IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address is judged by the IPv4 address it carries. Only a
  globally routable address is outside.
- **Host literals** (`host_address`): an address in any spelling a resolver reads — `127.0.0.1`,
  `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]` — is that address, never a name.
- **Names that are always inside** (`internal_name_kind`): `localhost` and `*.localhost` (RFC 6761),
  `*.local` (mDNS, RFC 6762), `*.internal` (ICANN's private-use TLD, `metadata.google.internal`),
  `*.home.arpa` (RFC 8375), and single-label names (`http://jenkins/`: no public site has one). They
  are refused without a DNS query, which matters behind a proxy that would resolve them itself.
- **The exception** (`SourceReach.trusts`): the hosts of a source's configured URLs and the hosts its
  `allowed_domains` name exactly may be inside (an intranet news site); their subdomains may not.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from kuroshio.crawler.options import SourceConfig

IPAddress = IPv4Address | IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
# AWS, GCP and Azure (169.254.169.254), AWS over IPv6 (fd00:ec2::254), Alibaba Cloud (100.100.100.200).
METADATA_ADDRESSES = frozenset(ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
INTERNAL_NAME_SUFFIXES = ("localhost", "local", "internal", "home.arpa")
NAT64_PREFIX = IPv6Network("64:ff9b::/96")
# The properties ipaddress knows, most telling first; anything else not globally routable is "not public".
_KINDS = (
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_reserved", "a reserved address"),
    ("is_private", "a private address"),
)
# A host a resolver reads as an IPv4 address: one to four dot-separated numbers, decimal, octal or hex.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}", re.IGNORECASE)


class HostError(ValueError):
    """A host that is neither a name nor a valid address (`http://999999999999/`)."""


def internal_kind(address: IPAddress) -> str | None:
    """What kind of inside address `address` is ("a loopback address", ...), or None if it is public."""
    if isinstance(address, IPv6Address) and (carried := _carried_ipv4(address)) is not None:
        return internal_kind(carried)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for attribute, kind in _KINDS:
        if getattr(address, attribute):
            return kind
    return None if address.is_global else "not a public address"


def _carried_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (v4-mapped, 6to4, Teredo client, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64_PREFIX:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def host_address(host: str) -> IPAddress | None:
    """The address `host` spells (in any form a resolver reads), or None when it is a name.

    Raises HostError for a numeric host no resolver reads as an address.
    """
    host = host.rstrip(".")
    if ":" in host:
        try:
            return ip_address(host.split("%", 1)[0])
        except ValueError:
            raise HostError(f"{host} is not a valid address") from None
    if _NUMERIC_HOST.fullmatch(host):
        # inet_aton is the parser resolvers use, legacy forms included: 2130706433, 0x7f.1, 0177.0.0.1.
        try:
            return IPv4Address(socket.inet_aton(host))
        except OSError:
            raise HostError(f"{host} is neither a name nor a valid address") from None
    return None


def internal_name_kind(host: str) -> str | None:
    """Why the name `host` is always inside (a reserved private-use name), or None."""
    name = host.rstrip(".").lower()
    if "." not in name:
        return "a single-label (intranet) name"
    if any(name == suffix or name.endswith(f".{suffix}") for suffix in INTERNAL_NAME_SUFFIXES):
        return "a name reserved for private networks"
    return None


def url_port(url: str) -> int | None:
    """The port `url` connects to (its scheme's default when it names none), or None if it is not valid."""
    parts = urlsplit(url)
    try:
        return parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None


@dataclass(frozen=True)
class SourceReach:
    """The hosts and ports one source's crawl may reach, and which of its hosts may be inside."""

    domains: tuple[str, ...]
    configured: frozenset[tuple[str, int]]
    trusted: frozenset[str]

    @classmethod
    def of(cls, source: SourceConfig) -> SourceReach:
        """The reach of `source`: its domains, its configured URLs' hosts and ports."""
        configured = set()
        for url in source.discovery_urls:
            host, port = (urlsplit(url).hostname or "").rstrip("."), url_port(url)
            if host and port:
                configured.add((host, port))
        domains = tuple(domain.lower().rstrip(".") for domain in source.domains)
        return cls(domains, frozenset(configured), frozenset({host for host, _ in configured} | set(domains)))

    def holds_host(self, host: str) -> bool:
        """True for a host of the source: a configured URL's host, an allowed domain or its subdomain."""
        return host.lower().rstrip(".") in self.trusted or self.in_domains(host)

    def in_domains(self, host: str) -> bool:
        """True for an allowed domain or one of its subdomains."""
        host = host.lower().rstrip(".")
        return any(host == domain or host.endswith(f".{domain}") for domain in self.domains)

    def trusts(self, host: str) -> bool:
        """True for a host the operator named (configured URLs, allowed domains as written): it may be inside."""
        return host.lower().rstrip(".") in self.trusted

    def off_source_reason(self, url: str) -> str | None:
        """Why `url` is off the source — another host, or a port its configured URLs do not use — or None."""
        host = (urlsplit(url).hostname or "").rstrip(".")
        port = url_port(url)
        if not host or port is None:
            return f"{url} has no valid host and port"
        if not self.holds_host(host):
            return f"{host} is not one of the source's hosts"
        if port != DEFAULT_PORTS.get(urlsplit(url).scheme) and (host, port) not in self.configured:
            return f"port {port} of {host} is not a port of the source's configured URLs"
        return None
