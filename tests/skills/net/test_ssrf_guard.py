"""The SSRF guard's rules, on a stubbed resolver (no DNS, no network)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from skills.net.guard import UrlGuard, URLRefused, address_problem, is_public_address


def stub(table: dict[str, list[str]]):
    """A resolver answering from `table` and recording what it was asked."""
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
        ("::ffff:8.8.8.8", "IPv4-mapped address"),
        ("::10.0.0.1", "IPv4-compatible private"),
        ("::127.0.0.1", "IPv4-compatible loopback"),
        ("64:ff9b::a00:1", "NAT64 private"),
        ("2002:7f00:1::1", "6to4 loopback"),
        ("2001:db8::1", "private"),  # documentation range
    ],
)
def test_forbidden_addresses(address: str, expected: str) -> None:
    problem = address_problem(address)
    assert problem is not None and expected in problem
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.1",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses(address: str) -> None:
    assert address_problem(address) is None
    assert is_public_address(address)


def test_any_forbidden_address_refuses_the_host() -> None:
    guard = UrlGuard(resolver=stub({"mixed.example": ["93.184.216.34", "fd00::7"]}))
    with pytest.raises(URLRefused) as caught:
        guard.check_url("https://mixed.example/video")
    assert "fd00::7" in caught.value.reason and "private" in caught.value.reason
    assert guard.refusals == [caught.value]


def test_public_host_passes_with_all_its_addresses() -> None:
    resolver = stub({"cdn.example": ["93.184.216.34", "2606:4700:4700::1111"]})
    guard = UrlGuard(resolver=resolver)
    target = guard.check_url("HTTPS://CDN.example:8443/a.mp4?x=1")
    assert target.host == "cdn.example" and target.port == 8443 and target.scheme == "https"
    assert target.addresses == ("93.184.216.34", "2606:4700:4700::1111")
    assert not target.allowlisted
    assert resolver.asked == [("cdn.example", 8443)]  # type: ignore[attr-defined]
    assert guard.check_url("http://cdn.example/").port == 80


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://cdn.example/a.mp4",
        "data:text/plain,hello",
        "gopher://cdn.example/",
        "javascript:alert(1)",
        "//cdn.example/a.mp4",
        "cdn.example/a.mp4",
        "http:///nohost",
        "http://cdn.example:99999/",
        "ws://cdn.example/",
    ],
)
def test_refused_urls_never_resolve(url: str) -> None:
    resolver = stub({"cdn.example": ["93.184.216.34"]})
    guard = UrlGuard(resolver=resolver)
    with pytest.raises(URLRefused):
        guard.check_url(url)
    assert resolver.asked == []  # type: ignore[attr-defined]


def test_unresolvable_and_empty_answers_are_refused() -> None:
    guard = UrlGuard(resolver=stub({"empty.example": []}))
    with pytest.raises(URLRefused, match="cannot resolve"):
        guard.check_url("http://nowhere.example/")
    with pytest.raises(URLRefused, match="no address"):
        guard.check_url("http://empty.example/")


def test_allowlist_by_host_and_port() -> None:
    resolver = stub({"localhost": ["127.0.0.1", "::1"], "mirror.internal": ["10.1.2.3"]})
    guard = UrlGuard(["127.0.0.1:8080", "Mirror.Internal", "[::1]:9000"], resolver=resolver)
    assert guard.check_url("http://127.0.0.1:8080/x").allowlisted
    with pytest.raises(URLRefused, match="loopback"):
        guard.check_url("http://127.0.0.1:8081/x")  # another port of an allowlisted host
    assert guard.check_url("https://mirror.internal/a").allowlisted  # no port: every port
    assert guard.check_url("http://mirror.internal:81/a").addresses == ("10.1.2.3",)
    assert guard.check_url("http://[::1]:9000/").allowlisted
    with pytest.raises(URLRefused):
        guard.check_url("http://localhost:8080/x")  # names are not addresses: not allowlisted
    with pytest.raises(URLRefused, match="scheme"):
        guard.check_url("file://127.0.0.1:8080/etc/passwd")  # the scheme rule still applies


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1"])
def test_numeric_host_spellings_resolve_to_loopback(host: str) -> None:
    # The real resolver turns these spellings into 127.0.0.1 without any DNS traffic.
    with pytest.raises(URLRefused, match="loopback"):
        UrlGuard().check_url(f"http://{host}/")


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError("connect() called in a test that must not connect")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts


def test_connect_refuses_before_opening_a_socket(no_connect: list[object]) -> None:
    guard = UrlGuard(resolver=stub({"rebind.example": ["10.0.0.1"]}))
    with pytest.raises(URLRefused, match="private"):
        guard.connect(("rebind.example", 80), timeout=1)
    assert no_connect == []


def test_connect_goes_to_the_checked_address() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[str] = []

    def accept() -> None:
        conn, peer = server.accept()
        accepted.append(peer[0])
        conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    # The name resolves (stubbed) to 127.0.0.1, which is allowlisted for this port only.
    guard = UrlGuard([f"app.test:{port}"], resolver=stub({"app.test": ["127.0.0.1"]}))
    sock = guard.connect(("app.test", port), timeout=5)
    try:
        assert sock.getpeername() == ("127.0.0.1", port)
    finally:
        sock.close()
        thread.join(5)
        server.close()
    assert accepted == ["127.0.0.1"]
