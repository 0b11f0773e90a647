"""`skills.http`: the one send, the one map from httpx failures to Chimera errors, JSON bodies.

The map is checked twice: with respx raising each httpx error (every branch of the tree), and
with real failures on loopback (a closed port, a server that never answers, one that hangs up),
so the mapping holds for what httpx really raises, not only for what a mock says.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import respx

from core.errors import OperationError, PermanentError, TransientError, UnknownError
from skills.http import json_body, json_object, request_error, send

URL = "https://api.example.test/v1/things"
SECRET = "s3cr3t-signature-value"


class LostAnswer(PermanentError):
    """Stands for publishing's OutcomeUnknownError."""

    default_code = "OUTCOME_UNKNOWN"


def lost(reason: str) -> OperationError:
    return LostAnswer(f"outcome unknown ({reason})", details={"reason": reason})


# Every branch of httpx's RequestError tree: (error, code, may the request have been sent).
TREE: list[tuple[type[httpx.RequestError], type[OperationError], str, bool]] = [
    (httpx.ConnectError, TransientError, "NETWORK_ERROR", False),
    (httpx.ConnectTimeout, TransientError, "NETWORK_ERROR", False),
    (httpx.PoolTimeout, TransientError, "NETWORK_ERROR", False),
    (httpx.UnsupportedProtocol, TransientError, "NETWORK_ERROR", False),
    (httpx.ReadTimeout, TransientError, "TIMEOUT", True),
    (httpx.WriteTimeout, TransientError, "TIMEOUT", True),
    (httpx.ReadError, TransientError, "NETWORK_ERROR", True),
    (httpx.WriteError, TransientError, "NETWORK_ERROR", True),
    (httpx.RemoteProtocolError, TransientError, "NETWORK_ERROR", True),
    (httpx.LocalProtocolError, TransientError, "NETWORK_ERROR", True),
    (httpx.ProxyError, TransientError, "NETWORK_ERROR", True),
    (httpx.DecodingError, UnknownError, "REQUEST_FAILED", True),
    (httpx.TooManyRedirects, UnknownError, "REQUEST_FAILED", True),
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


async def _failure(awaitable: Awaitable[httpx.Response]) -> OperationError:
    with pytest.raises(OperationError) as caught:
        await awaitable
    return caught.value


@pytest.mark.parametrize(("error", "kind", "code", "sent"), TREE)
async def test_each_httpx_error_has_one_code_and_creating_requests_an_unknown_outcome(
    client: httpx.AsyncClient,
    error: type[httpx.RequestError],
    kind: type[OperationError],
    code: str,
    sent: bool,
) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(URL).mock(side_effect=error(f"boom {SECRET}"))
        mock.post(URL).mock(side_effect=error("boom"))
        exc = await _failure(
            send(client, "GET", URL, platform="demo", step="list", params={"sig": SECRET})
        )
        creating = await _failure(
            send(client, "POST", URL, platform="demo", step="create", outcome_unknown=lost)
        )
    assert type(exc) is kind and exc.code == code
    assert exc.details == {"platform": "demo", "step": "list"}
    assert exc.message.startswith("demo list: ") and error.__name__ in exc.message
    assert "example.test" not in exc.message and SECRET not in exc.message
    assert isinstance(exc.__cause__, error)
    if sent:  # a request that may create something and may have arrived: never retried
        assert isinstance(creating, LostAnswer) and creating.details == {"reason": error.__name__}
    else:  # it never left: nothing can have been created, a retry is safe
        assert type(creating) is TransientError and creating.code == "NETWORK_ERROR"


async def test_report_url_puts_the_redacted_url_in_the_details(client: httpx.AsyncClient) -> None:
    def redact(url: httpx.URL) -> str:
        return str(url.copy_remove_param("sig"))

    with respx.mock() as mock:
        mock.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        exc = await _failure(
            send(
                client,
                "GET",
                URL,
                platform="demo",
                step="list",
                report_url=redact,
                params={"part": "a", "sig": SECRET},
            )
        )
    assert exc.code == "TIMEOUT"
    assert exc.details["url"] == f"{URL}?part=a" and SECRET not in exc.message


async def test_any_answer_is_returned_whatever_its_status(client: httpx.AsyncClient) -> None:
    with respx.mock() as mock:
        mock.get(URL).mock(return_value=httpx.Response(503, json={"error": "busy"}))
        response = await send(client, "GET", URL, platform="demo", step="list")
    assert response.status_code == 503 and json_object(response) == {"error": "busy"}


# --- Real failures on loopback ----------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on leaving: nobody listens there


@asynccontextmanager
async def _server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A loopback TCP server running `handle` per connection; its base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handle(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(10)  # cancelled when the test's server closes


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)  # then close without a word


async def _garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n"
        b"Connection: close\r\n\r\nnot gzip"
    )
    await writer.drain()


async def _redirect_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()


async def test_real_closed_port_is_a_network_error_even_for_a_creating_request() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/post"
    async with httpx.AsyncClient(timeout=2.0) as http:
        plain = await _failure(send(http, "POST", url, platform="demo", step="create"))
        creating = await _failure(
            send(http, "POST", url, platform="demo", step="create", outcome_unknown=lost)
        )
    for exc in (plain, creating):
        assert type(exc) is TransientError and exc.code == "NETWORK_ERROR"
        assert isinstance(exc.__cause__, httpx.ConnectError)
        assert str(url) not in exc.message


async def test_real_server_that_never_answers_is_a_timeout_or_an_unknown_outcome() -> None:
    async with _server(_never_answer) as base, httpx.AsyncClient() as http:
        timeout = httpx.Timeout(5.0, read=0.3)
        plain = await _failure(
            send(http, "GET", f"{base}/x", platform="demo", step="list", timeout=timeout)
        )
        creating = await _failure(
            send(
                http,
                "POST",
                f"{base}/x",
                platform="demo",
                step="create",
                outcome_unknown=lost,
                timeout=timeout,
                json={"text": "hello"},
            )
        )
    assert type(plain) is TransientError and plain.code == "TIMEOUT"
    assert isinstance(plain.__cause__, httpx.ReadTimeout)
    assert isinstance(creating, LostAnswer) and creating.details["reason"] == "ReadTimeout"


async def test_real_server_that_hangs_up_is_a_network_error_or_an_unknown_outcome() -> None:
    async with _server(_hang_up) as base, httpx.AsyncClient(timeout=2.0) as http:
        plain = await _failure(send(http, "GET", f"{base}/x", platform="demo", step="list"))
        creating = await _failure(
            send(http, "POST", f"{base}/x", platform="demo", step="create", outcome_unknown=lost)
        )
    assert type(plain) is TransientError and plain.code == "NETWORK_ERROR"
    assert isinstance(plain.__cause__, httpx.RemoteProtocolError)
    assert isinstance(creating, LostAnswer) and creating.details["reason"] == "RemoteProtocolError"


async def test_real_undecodable_body_and_redirect_loop_are_request_failed() -> None:
    async with (
        _server(_garbled) as garbled,
        _server(_redirect_loop) as looping,
        httpx.AsyncClient(timeout=2.0, follow_redirects=True, max_redirects=3) as http,
    ):
        undecodable = await _failure(send(http, "GET", garbled, platform="demo", step="read"))
        loop = await _failure(send(http, "GET", f"{looping}/loop", platform="demo", step="read"))
        created = await _failure(
            send(http, "POST", garbled, platform="demo", step="create", outcome_unknown=lost)
        )
    assert isinstance(undecodable.__cause__, httpx.DecodingError)
    assert isinstance(loop.__cause__, httpx.TooManyRedirects)
    assert {(type(e), e.code) for e in (undecodable, loop)} == {(UnknownError, "REQUEST_FAILED")}
    assert isinstance(created, LostAnswer)  # an answer came back: the request did arrive


def test_request_error_maps_a_streamed_read_the_same_way() -> None:
    exc = request_error(httpx.ReadTimeout("slow"), platform="feed", step="fetch", details={"a": 1})
    assert type(exc) is TransientError and exc.code == "TIMEOUT"
    assert exc.details == {"platform": "feed", "step": "fetch", "a": 1}


# --- JSON bodies -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "body", "obj"),
    [
        (httpx.Response(200, json={"a": 1}), {"a": 1}, {"a": 1}),
        (httpx.Response(200, json=[1, 2]), [1, 2], {}),
        (httpx.Response(200, json=None), None, {}),
        (httpx.Response(200, json="text"), "text", {}),
        (httpx.Response(200, text="<html>oops</html>"), None, {}),
        (httpx.Response(204), None, {}),
        (httpx.Response(200, content=b"\xff\xfe{"), None, {}),
    ],
)
def test_json_body_and_json_object(response: httpx.Response, body: object, obj: dict) -> None:
    assert json_body(response) == body
    assert json_object(response) == obj
