"""The loopback redirect of installed apps (RFC 8252 section 7.3): a one-shot HTTP listener on
127.0.0.1 that receives the authorization response, checks `state`, and hands over the code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from core.errors import ValidationError

PAGE = (
    "<!doctype html><meta charset=utf-8><title>Chimera</title>"
    "<p>{message}</p><p>You can close this tab.</p>"
)


@dataclass
class Callback:
    code: str | None
    error: str | None


class LoopbackReceiver:
    """Listens on 127.0.0.1:`port` (0: any free port) until one callback arrives."""

    def __init__(self, port: int = 0, path: str = "/callback") -> None:
        self.port = port
        self.path = path
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[Callback] | None = None
        self._state = ""

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self, state: str = "") -> None:
        self._state = state
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def expect_state(self, state: str) -> None:
        self._state = state

    async def wait(self, timeout: float) -> str:  # noqa: ASYNC109 - one deadline, said in errors
        """The authorization code; ValidationError on a refusal, a state mismatch or timeout."""
        assert self._result is not None, "start() first"
        try:
            result = await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            raise ValidationError(
                f"no authorization arrived at {self.redirect_uri} within {timeout:.0f}s",
                code="AUTHORIZATION_TIMEOUT",
            ) from None
        finally:
            await self.close()
        if result.error or not result.code:
            raise ValidationError(
                f"the platform refused the authorization: {result.error or 'no code'}",
                code="AUTHORIZATION_REFUSED",
            )
        return result.code

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            target = line.split(" ")[1] if line.count(" ") >= 2 else "/"
            parts = urlsplit(target)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path != self.path:
                self._reply(writer, 404, "Not the callback.")
            elif query.get("state") != self._state:
                self._reply(writer, 400, "The state does not match this sign-in; start again.")
                self._finish(Callback(None, "state mismatch"))
            elif "error" in query:
                self._reply(writer, 200, "Authorization refused.")
                self._finish(Callback(None, query["error"]))
            else:
                self._reply(writer, 200, "Chimera is connected.")
                self._finish(Callback(query.get("code"), None))
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def _finish(self, result: Callback) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_result(result)

    @staticmethod
    def _reply(writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = PAGE.format(message=message).encode()
        writer.write(
            f"HTTP/1.1 {status} OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
