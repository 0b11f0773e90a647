"""yt-dlp with the SSRF guard on every request it makes, redirects included.

yt-dlp's generic extractor follows redirects, meta refreshes and embedded links, so checking
only the URL a caller passed is not enough. `GuardedYoutubeDL` replaces yt-dlp's request
director with one holding a single handler, `GuardedUrllibRH`, which:

* accepts only http and https (no file://, data:, ftp:, websockets) and no proxies;
* checks each request URL with the guard before sending it;
* checks each redirect target before following it (`GuardedRedirectHandler`), so a redirect to
  a private address is refused without connecting to it;
* opens every TCP connection through `UrlGuard.connect`, which resolves the host, refuses
  forbidden addresses and connects to exactly an address it checked (no DNS rebinding).

Every yt-dlp download path that fetches over the network goes through `YoutubeDL.urlopen`
when native downloaders are used; `GUARDED_OPTIONS` forces them (external downloaders such as
ffmpeg or aria2c would open their own connections, outside the guard).

YouTube (since yt-dlp 2025.11) needs JavaScript run on its player to solve the "n" and signature
challenges: yt-dlp's EJS solver scripts (the `yt-dlp-ejs` package, which `yt-dlp[default]`
installs) and a JavaScript runtime (Deno, from the `deno` package). `js_runtime_options` hands
yt-dlp the runtime; `GUARDED_OPTIONS` allows no remote components, so no solver code is
fetched from GitHub or npm at run time. yt-dlp runs Deno without permissions (`--no-remote`,
no `--allow-*`); the player script itself is fetched by yt-dlp, through the guard.
"""

from __future__ import annotations

import functools
import http.client
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from yt_dlp import YoutubeDL
from yt_dlp.networking._urllib import HTTPHandler, RedirectHandler, UrllibRH
from yt_dlp.networking.exceptions import RequestError

from skills.net.guard import UrlGuard, URLRefused
from skills.settings.media import JsRuntime


class GuardRefusedRequest(RequestError):
    """A request yt-dlp wanted to make and the guard refused (never sent)."""

    def __init__(self, refusal: URLRefused) -> None:
        super().__init__(str(refusal), cause=refusal)
        self.refusal = refusal


def find_refusal(exc: BaseException | None) -> URLRefused | None:
    """The guard refusal somewhere in `exc`'s chain of causes, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, URLRefused):
            return exc
        if isinstance(exc, GuardRefusedRequest):
            return exc.refusal
        # urllib's URLError keeps its cause in `reason`; yt-dlp's errors in `cause`/`exc_info`.
        reason = getattr(exc, "reason", None)
        if isinstance(reason, URLRefused):
            return reason
        nxt = getattr(exc, "cause", None)
        if not isinstance(nxt, BaseException):
            exc_info = getattr(exc, "exc_info", None)
            nxt = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        if not isinstance(nxt, BaseException):
            nxt = exc.__cause__ or exc.__context__
        exc = nxt
    return None


def _guarded_connection(
    guard: UrlGuard,
    http_class: type[http.client.HTTPConnection],
    source_address: str | None,
    *args: Any,
    **kwargs: Any,
) -> http.client.HTTPConnection:
    conn = http_class(*args, **kwargs)
    # http.client opens its socket with `self._create_connection((host, port), timeout, src)`;
    # HTTPSConnection then wraps it with TLS for `server_hostname=host`, so certificates are
    # still verified against the name while the socket goes to the checked address.
    conn._create_connection = guard.connect  # type: ignore[attr-defined]
    if source_address is not None:
        conn.source_address = (source_address, 0)  # type: ignore[attr-defined]
    return conn


class GuardedHTTPHandler(HTTPHandler):
    """yt-dlp's urllib HTTP handler with every connection opened by the guard."""

    def __init__(self, guard: UrlGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(
            functools.partial(
                _guarded_connection, self._guard, http.client.HTTPConnection, self._source_address
            ),
            req,
        )

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(
            functools.partial(
                _guarded_connection, self._guard, http.client.HTTPSConnection, self._source_address
            ),
            req,
            context=self._context,
        )


class GuardedRedirectHandler(RedirectHandler):
    """Checks a redirect's target before following it (raises `URLRefused`).

    The check runs on the absolute target before urllib's own scheme check, so a redirect to
    `file://` or to a private address is reported as a guard refusal, and nothing connects.
    """

    def __init__(self, guard: UrlGuard) -> None:
        super().__init__()
        self._guard = guard

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            self._guard.check_url(urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        self._guard.check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class GuardedUrllibRH(UrllibRH):
    """The only request handler of a `GuardedYoutubeDL`."""

    RH_NAME = "chimera-guarded-urllib"
    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()

    def __init__(self, *, guard: UrlGuard, **kwargs: Any) -> None:
        kwargs["enable_file_urls"] = False
        super().__init__(**kwargs)
        self.guard = guard

    def _create_instance(
        self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None
    ) -> urllib.request.OpenerDirector:
        opener = urllib.request.OpenerDirector()
        handlers: list[urllib.request.BaseHandler] = [
            GuardedHTTPHandler(
                self.guard,
                debuglevel=int(bool(self.verbose)),
                context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                source_address=self.source_address,
            ),
            urllib.request.HTTPCookieProcessor(cookiejar),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            GuardedRedirectHandler(self.guard),
        ]
        for handler in handlers:
            opener.add_handler(handler)
        opener.addheaders = []
        return opener

    def _send(self, request: Any) -> Any:
        try:
            self.guard.check_url(request.url)
            return super()._send(request)
        except URLRefused as exc:
            raise GuardRefusedRequest(exc) from exc
        except RequestError as exc:
            refusal = find_refusal(exc)
            if refusal is not None:
                raise GuardRefusedRequest(refusal) from exc
            raise


class GuardedYoutubeDL(YoutubeDL):
    """A `YoutubeDL` whose every HTTP request goes through `GuardedUrllibRH`."""

    def __init__(self, params: dict[str, Any], *, guard: UrlGuard) -> None:
        self.chimera_guard = guard
        super().__init__(params)

    @functools.cached_property
    def _request_director(self) -> Any:
        handler = functools.partial(GuardedUrllibRH, guard=self.chimera_guard)
        return self.build_request_director([handler])


def bundled_deno() -> Path | None:
    """The Deno binary that the `deno` package installed for this Python, if any."""
    try:
        import deno

        return Path(deno.find_deno_bin())
    except (ImportError, FileNotFoundError):
        return None


def js_runtime_options(runtime: JsRuntime, path: Path | None = None) -> dict[str, Any]:
    """yt-dlp's `js_runtimes` option: `runtime` at `path` (for Deno without a path, the `deno`
    package's binary; when there is none, yt-dlp looks beside Python and on PATH itself)."""
    if path is None and runtime == "deno":
        path = bundled_deno()
    return {"js_runtimes": {runtime: {"path": str(path)} if path is not None else {}}}


#: Options that keep every fetch inside the guard; merge them last over any other options.
GUARDED_OPTIONS: dict[str, Any] = {
    "proxy": "",  # no environment proxies: the guard's address checks must be the real route
    "external_downloader": {"default": "native"},  # ffmpeg/aria2c would connect on their own
    "hls_prefer_native": True,
    "enable_file_urls": False,
    "nocheckcertificate": False,
    "legacyserverconnect": False,
    "allow_unplayable_formats": False,
    "writethumbnail": False,
    "writesubtitles": False,
    "writeautomaticsub": False,
    "noplaylist": True,
    "remote_components": [],  # no EJS solver code from GitHub or npm: the installed package only
}
