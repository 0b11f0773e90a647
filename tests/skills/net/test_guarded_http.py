"""The guarded httpx client (`skills.net.http`) against real loopback servers: what it refuses
is never contacted, every redirect hop is checked, and the connection goes to the address that
was checked, with the original host name in `Host`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.errors import ErrorCategory
from skills.http import send
from skills.net.guard import UrlGuard, URLRefused
from skills.net.http import guarded_client
from tests.skills.media.support import LoopbackServer, serve
from tests.support import LoopbackOnly, offline_client, offline_guard


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LoopbackServer]:
    (tmp_path / "rss").write_text("feed")
    with serve(tmp_path) as state:
        yield state


@pytest.fixture
def second(tmp_path: Path) -> Iterator[LoopbackServer]:
    with serve(tmp_path) as state:
        yield state


def loopback(server: LoopbackServer) -> str:
    return f"127.0.0.1:{server.port}"


async def test_connects_to_the_checked_address_with_the_original_host(
    server: LoopbackServer,
) -> None:
    network = LoopbackOnly()
    guard = offline_guard({"feeds.test": ["127.0.0.1"]}, allowed=(f"feeds.test:{server.port}",))
    async with offline_client(guard, network) as client:
        response = await client.get(f"http://feeds.test:{server.port}/rss")
    assert response.status_code == 200 and response.text == "feed"
    assert server.hosts == [f"feeds.test:{server.port}"]  # Host: the name, not the address
    assert network.connected == [("127.0.0.1", server.port)]  # socket: the checked address


@pytest.mark.parametrize("target", ["http://{loopback}/rss", "http://localhost:{port}/rss"])
async def test_an_internal_address_is_refused_before_anything_is_sent(
    server: LoopbackServer, target: str
) -> None:
    url = target.format(loopback=loopback(server), port=server.port)
    async with guarded_client(UrlGuard()) as client:  # the production client, system resolver
        with pytest.raises(URLRefused) as refused:
            await client.get(url)
    assert "loopback" in refused.value.reason
    assert server.hosts == []


async def test_a_name_that_resolves_inside_is_refused(server: LoopbackServer) -> None:
    guard = offline_guard({"intranet.example.org": ["10.20.30.40"]})
    async with offline_client(guard) as client:
        with pytest.raises(URLRefused, match=r"10\.20\.30\.40: private"):
            await client.get("https://intranet.example.org/feed")


async def test_dns_rebinding_between_check_and_connect_is_refused(server: LoopbackServer) -> None:
    """The first lookup (the URL check) says public, the second (at connect) says loopback:
    the connection is refused, because it goes only where its own check looked."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    guard = UrlGuard(resolver=lambda host, port: next(answers))
    network = LoopbackOnly()
    async with offline_client(guard, network) as client:
        with pytest.raises(URLRefused, match=r"127\.0\.0\.1: loopback"):
            await client.get(f"http://rebind.example.org:{server.port}/rss")
    assert network.connected == [] and server.hosts == []


async def test_every_redirect_hop_is_checked(
    server: LoopbackServer, second: LoopbackServer
) -> None:
    hop = f"http://{loopback(server)}/redirect?to=http://{loopback(second)}/rss"
    guard = offline_guard(allowed=(loopback(server),))  # allowed host -> an internal one
    async with offline_client(guard) as client:
        with pytest.raises(URLRefused, match="loopback"):
            await client.get(hop)
    assert server.hosts == [loopback(server)]
    assert second.hosts == []  # the second hop was never contacted


async def test_an_allowed_redirect_is_followed(
    server: LoopbackServer, second: LoopbackServer
) -> None:
    (second.root / "rss").write_text("feed")
    hop = f"http://{loopback(server)}/redirect?to=http://{loopback(second)}/rss"
    guard = offline_guard(allowed=(loopback(server), loopback(second)))
    async with offline_client(guard) as client:
        response = await client.get(hop)
    assert response.text == "feed" and second.hosts == [loopback(second)]


async def test_send_maps_a_refusal_to_a_permanent_url_refused() -> None:
    async with offline_client() as client:
        with pytest.raises(Exception) as caught:
            await send(client, "GET", "http://169.254.169.254/latest", platform="p", step="s")
    error = caught.value
    assert getattr(error, "code", None) == "URL_REFUSED"
    assert error.info.category is ErrorCategory.VALIDATION  # type: ignore[attr-defined]


async def test_other_schemes_are_refused() -> None:
    async with offline_client() as client:
        with pytest.raises((URLRefused, httpx.UnsupportedProtocol)):
            await client.get("ftp://example.org/feed")
