"""SSRF guard: which URLs Chimera may fetch on someone else's say-so, and connecting safely.

The rules (OWASP's SSRF prevention cheat sheet):

* only `http` and `https`; `file://`, `ftp://`, `data:` and everything else are refused;
* the host name is resolved (A and AAAA) and the URL is refused if ANY address is loopback,
  private, link-local, multicast, reserved, unspecified, shared (100.64.0.0/10) or otherwise not
  globally routable; IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
  IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4
  address they lead to;
* every redirect hop is checked the same way (see `skills.net.ytdlp` for yt-dlp);
* the connection goes to the address that was checked (`connect`), never to a second lookup of
  the name, so DNS rebinding between check and connect cannot slip a private address in.

An explicit allowlist of `host` or `host:port` entries bypasses the address check (not the
scheme check): that is how tests reach their own loopback server, and how an operator allows a
known internal mirror. Names are compared case-insensitively; an entry without a port allows
every port of that host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: `resolver(host, port)` returns the host's addresses as strings (both families).
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible IPv6


class URLRefused(OSError):
    """The guard refused a URL or a connection. An `OSError`, so that HTTP stacks which wrap
    connection errors (urllib, yt-dlp) carry it as the cause instead of crashing on it."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused {url!r}: {reason}")
        self.url = url
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    """Every address (IPv4 and IPv6) the system resolver gives for `host`."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_address(text: str) -> IPAddress:
    """An IP address from resolver output (IPv6 zone ids such as `fe80::1%eth0` dropped)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def _embedded_v4(addr: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address leads to, with the name of the embedding."""
    if addr.ipv4_mapped is not None:
        return "IPv4-mapped", addr.ipv4_mapped
    if addr in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return "6to4", addr.sixtofour
    if addr in _V4_COMPATIBLE and int(addr) > 1:  # `::` and `::1` are themselves, not IPv4
        return "IPv4-compatible", ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _v4_problem(addr: ipaddress.IPv4Address) -> str | None:
    if addr.is_unspecified or addr in ipaddress.IPv4Network("0.0.0.0/8"):
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr in _SHARED_V4:
        return "shared address space (100.64.0.0/10)"
    if addr.is_reserved or addr == ipaddress.IPv4Address("255.255.255.255"):
        return "reserved"
    if addr.is_private:
        return "private"
    if not addr.is_global:
        return "not globally routable"
    return None


def address_problem(address: str | IPAddress) -> str | None:
    """Why connecting to `address` is refused, or None when it is a public unicast address."""
    addr = parse_address(address) if isinstance(address, str) else address
    if isinstance(addr, ipaddress.IPv4Address):
        return _v4_problem(addr)
    embedded = _embedded_v4(addr)
    if embedded is not None:
        kind, v4 = embedded
        problem = _v4_problem(v4)
        if problem is not None:
            return f"{kind} {problem} ({v4})"
        if kind in ("IPv4-mapped", "IPv4-compatible"):
            # No public DNS name legitimately resolves to these forms; refusing them all keeps
            # a stack that treats them specially (dual-stack sockets) out of the question.
            return f"{kind} address ({v4})"
        return None  # NAT64 / 6to4 of a public IPv4 address: an ordinary route.
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_site_local:
        return "site-local"
    if addr.is_multicast:
        return "multicast"
    if addr.is_private:
        return "private"
    if addr.is_reserved:
        return "reserved"
    if not addr.is_global:
        return "not globally routable"
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """Whether `address` is a public unicast address that may be contacted."""
    return address_problem(address) is None


@dataclass(frozen=True)
class Target:
    """A checked destination: the host, port, and the addresses that may be connected to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    allowlisted: bool


def _normalise_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _parse_allow_entry(entry: str) -> tuple[str, int | None]:
    entry = entry.strip()
    if entry.startswith("["):  # [v6]:port or [v6]
        host, _, rest = entry[1:].partition("]")
        return _normalise_host(host), int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return _normalise_host(host), int(port)
    return _normalise_host(entry), None  # a bare name, IPv4 or unbracketed IPv6 address


@dataclass
class UrlGuard:
    """Checks URLs and connection targets; thread-safe (it only reads its configuration).

    `refusals` records every refusal in order (the yt-dlp integration reads it to tell an SSRF
    refusal from an ordinary network error, whatever yt-dlp wraps it in).
    """

    allowed_hosts: Iterable[str] = ()
    resolver: Resolver = system_resolver
    refusals: list[URLRefused] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._allow = frozenset(_parse_allow_entry(e) for e in self.allowed_hosts if e.strip())

    def is_allowlisted(self, host: str, port: int) -> bool:
        host = _normalise_host(host)
        return (host, port) in self._allow or (host, None) in self._allow

    def refuse(self, url: str, reason: str) -> URLRefused:
        error = URLRefused(url, reason)
        self.refusals.append(error)
        return error

    def check_url(self, url: str) -> Target:
        """Validate `url` (scheme, host, every resolved address); raise `URLRefused` if not."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise self.refuse(url, f"malformed URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise self.refuse(url, f"scheme {scheme or '(none)'!r} is not http or https")
        if not parts.hostname:
            raise self.refuse(url, "no host")
        return self.check_host(
            parts.hostname, port or DEFAULT_PORTS[scheme], url=url, scheme=scheme
        )

    def check_host(
        self, host: str, port: int, *, url: str | None = None, scheme: str = ""
    ) -> Target:
        """Resolve `host` and validate every address; raise `URLRefused` if any is refused."""
        url = url or f"{host}:{port}"
        host = _normalise_host(host)
        try:
            # An address literal is its own answer; anything else (names, and the inet_aton
            # spellings such as `2130706433` or `0x7f.1`) goes through the resolver.
            literal = parse_address(host)
            addresses: tuple[str, ...] = (str(literal),)
        except ValueError:
            literal = None
        try:
            if literal is None:
                addresses = tuple(dict.fromkeys(self.resolver(host, port)))
        except (OSError, UnicodeError) as exc:
            raise self.refuse(url, f"cannot resolve {host!r} ({exc})") from None
        if not addresses:
            raise self.refuse(url, f"{host!r} has no address")
        allowlisted = self.is_allowlisted(host, port)
        if not allowlisted:
            for address in addresses:
                try:
                    problem = address_problem(address)
                except ValueError:
                    problem = f"unparseable address {address!r}"
                if problem is not None:
                    raise self.refuse(url, f"{host} resolves to {address}: {problem}")
        return Target(url, scheme, host, port, addresses, allowlisted)

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """Open a TCP connection to a checked address of `address` (host, port).

        The signature matches `socket.create_connection`, so HTTP connection classes can use it
        as their `_create_connection`. The host is checked (and resolved) here, and the socket
        connects to one of exactly those addresses: nothing is contacted before the check.
        """
        host, port = address
        target = self.check_host(host, port)
        error: OSError | None = None
        for ip in target.addresses:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect((ip, port))
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        assert error is not None
        raise error
