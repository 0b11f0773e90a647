"""A deliberately small HTTP/1.1 server on asyncio streams, for probes and scrapes.

GET (and HEAD) only, one request per connection, no bodies read. Enough for Kubernetes or
compose health checks and Prometheus; no web framework needed in every agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

log = logging.getLogger("chimera.http")

# A route answers (status, content type, body).
Route = Callable[[], Awaitable[tuple[int, str, bytes]]]

MAX_HEADER_BYTES = 16 * 1024
READ_TIMEOUT_S = 5.0


class HttpServer:
    def __init__(self, routes: dict[str, Route], host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = routes
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (the real one when 0 was asked)."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, ctype, body, head = await asyncio.wait_for(
                self._answer(reader), READ_TIMEOUT_S + 30.0
            )
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            status, ctype, body, head = 400, "text/plain", b"bad request\n", False
        except Exception:
            log.exception("HTTP handler failed")
            status, ctype, body, head = 500, "text/plain", b"internal error\n", False
        reason = HTTPStatus(status).phrase
        header = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            "Cache-Control: no-store\r\n\r\n"
        ).encode()
        with contextlib.suppress(ConnectionError):
            writer.write(header + (b"" if head else body))
            await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes, bool]:
        request = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
        parts = request.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise ValueError("not an HTTP request line")
        method, target, _ = parts
        total = 0
        while True:  # skip the headers
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
            total += len(line)
            if total > MAX_HEADER_BYTES:
                raise ValueError("headers too large")
            if line in (b"\r\n", b"\n", b""):
                break
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n", False
        route = self.routes.get(target.split("?", 1)[0])
        if route is None:
            return 404, "text/plain", b"not found\n", method == "HEAD"
        status, ctype, body = await route()
        return status, ctype, body, method == "HEAD"
