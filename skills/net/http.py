"""httpx with the SSRF guard: the client for URLs that come from input or from a third party.

`guarded_client(guard)` is an `httpx.AsyncClient` whose every request, redirect hops included,
passes `UrlGuard`'s rules (`skills.net.guard`) twice:

* before anything is sent, the transport checks the URL: http(s) only, the host name resolved
  and every address public (or the host allowlisted), so a refused URL is never contacted;
* when httpcore opens a TCP connection, the network backend resolves the host again, checks
  every address, and connects to one of exactly those checked addresses. What the first check
  saw cannot be swapped by DNS rebinding: the socket goes where the second check looked.
  httpcore still sends the original host in `Host` and as the TLS server name (SNI), and
  verifies the certificate against it.

A refusal raises `URLRefused` (an `OSError`, not an `httpx.RequestError`: it is not a network
failure to retry); `skills.http.send` maps it to a `ValidationError` `URL_REFUSED`.

Redirects are followed (at most `max_redirects`), each hop through the transport, so each is
checked. Environment proxies are ignored (`trust_env=False`): a proxy would make the checked
address meaningless. The trusted platform APIs (YouTube, TikTok, X, OAuth token endpoints) keep
the plain client: their hosts are fixed in the settings, not chosen by anyone's input.
"""

from __future__ import annotations

import ssl
import typing

import anyio.to_thread
import certifi
import httpcore
import httpx

from skills.net.guard import ALLOWED_SCHEMES, UrlGuard

__all__ = ["GuardedBackend", "GuardedTransport", "guarded_client"]

LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard checked."""

    def __init__(self, guard: UrlGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        target = await anyio.to_thread.run_sync(self.guard.check_host, host, port)
        error: Exception | None = None
        for address in target.addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # check_host never returns an empty list
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise self.guard.refuse(path, "unix sockets are not reachable through the guard")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An `httpx.AsyncHTTPTransport` that checks each request's URL and connects through
    `GuardedBackend` (no proxy, no unix socket)."""

    def __init__(
        self,
        guard: UrlGuard,
        *,
        limits: httpx.Limits = LIMITS,
        ssl_context: ssl.SSLContext | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        self.guard = guard
        # httpx builds its pool from public httpcore parts; this is the same pool, with the
        # guarded network backend (httpx 0.28 has no parameter for it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(cafile=certifi.where()),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard, network),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.url.scheme not in ALLOWED_SCHEMES:
            raise self.guard.refuse(url, f"scheme {request.url.scheme!r} is not http or https")
        await anyio.to_thread.run_sync(self.guard.check_url, url)
        return await super().handle_async_request(request)


def guarded_client(
    guard: UrlGuard,
    *,
    timeout: httpx.Timeout = TIMEOUT,
    max_redirects: int = 5,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The client for untrusted URLs (`SkillContext.untrusted_http`): every request and
    redirect hop checked, every connection made to a checked address. `network` is the backend
    that opens the checked connections (default: httpcore's anyio backend)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(guard, network=network),
        timeout=timeout,
        follow_redirects=True,
        max_redirects=max_redirects,
        trust_env=False,
    )
