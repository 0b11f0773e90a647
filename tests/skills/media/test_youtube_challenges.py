"""YouTube as yt-dlp needs it today: the installed yt-dlp finds its EJS scripts (the yt-dlp-ejs
package) and the Deno runtime (the deno package) with the options the download skill gives it,
and solves "n" and signature challenges through them, offline.

yt-dlp has no public call for "can you solve YouTube's challenges?", so the tests ask the
YouTube extractor's own challenge director, the object extraction asks, and read the scripts
and runtime it chose. The player is a small synthetic one shaped like YouTube's (an IIFE whose
URL-building function sets "alr"="yes"); it is put in the extractor's player cache, and any
download or non-loopback connection fails the test.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yt_dlp_ejs
from yt_dlp.extractor.youtube.jsc._builtin.ejs import EJSBaseJCP, ScriptSource
from yt_dlp.extractor.youtube.jsc.provider import (
    JsChallengeRequest,
    JsChallengeType,
    NChallengeInput,
    NChallengeOutput,
    SigChallengeInput,
    SigChallengeOutput,
)

from core.settings import Settings
from skills.context import SkillPaths
from skills.media import download
from skills.net.guard import UrlGuard
from skills.net.ytdlp import GuardedYoutubeDL, bundled_deno, js_runtime_options
from skills.settings.media import MediaSettings

PLAYER_URL = "https://www.youtube.com/s/player/0a1b2c3d/player_ias.vflset/en_US/base.js"

# The solver keeps the IIFE's statements after the first, finds the function whose body calls
# `x.set("alr", "yes")`, builds a URL with it and calls the prototype's first method other
# than set/get/clone, which here reverses the signature and rewrites "n".
PLAYER = """
var _yt_player = {};
(function (g) {
  var window = this;
  var Url = function (query) { this.query = query; };
  Url.prototype.set = function (key, value) { this.query[key] = value; };
  Url.prototype.get = function (key) { return this.query[key]; };
  Url.prototype.decipher = function () {
    var s = this.query.s;
    if (s) this.query.s = s.split("").reverse().join("");
    var n = this.query.n;
    if (n) this.query.n = n.toUpperCase() + "-" + n.length;
  };
  var makeUrl = function (href, param, sig) {
    var url = new Url({});
    url.set("alr", "yes");
    if (sig) url.set(param, sig);
    return url;
  };
  g.makeUrl = makeUrl;
})(_yt_player);
"""


@pytest.fixture
def skill_options(settings: Settings) -> dict[str, object]:
    """The yt-dlp options `skill_download_video` uses, with the default settings."""
    cfg = MediaSettings()
    folder = settings.media_dir / "downloads"
    run = download._Run(max_bytes=cfg.max_filesize_bytes)
    return download._options(SkillPaths.of(settings), cfg, run, folder, cfg.download_max_height)


@pytest.fixture
def deno_provider(
    skill_options: dict[str, object], connections: list[tuple[str, int]]
) -> Iterator[EJSBaseJCP]:
    """The Deno challenge provider of a YouTube extractor built from the skill's options."""
    with GuardedYoutubeDL({**skill_options, "quiet": True}, guard=UrlGuard()) as ydl:
        youtube = ydl.get_info_extractor("Youtube")
        youtube.initialize()

        def no_download(*_: object, **__: object) -> None:
            raise AssertionError("the challenge test must not download anything")

        youtube._download_webpage = no_download
        youtube._code_cache[youtube._player_js_cache_key(PLAYER_URL)] = PLAYER
        providers = {p.PROVIDER_NAME: p for p in youtube._jsc_director.providers.values()}
        provider = providers["deno"]
        assert isinstance(provider, EJSBaseJCP)
        yield provider
    assert connections == []


def test_the_skill_hands_yt_dlp_the_packaged_deno_and_no_remote_components(
    skill_options: dict[str, object],
) -> None:
    deno = bundled_deno()
    assert deno is not None and deno.is_file(), "the deno package is installed with Chimera"
    assert skill_options["js_runtimes"] == {"deno": {"path": str(deno)}}
    assert skill_options["remote_components"] == []
    version = subprocess.run(
        [str(deno), "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert re.match(r"deno \d+\.\d+\.\d+", version)


def test_yt_dlp_finds_the_ejs_scripts_and_the_deno_runtime(deno_provider: EJSBaseJCP) -> None:
    runtime = deno_provider.runtime_info
    assert runtime is not None, "yt-dlp found no supported Deno"
    assert runtime.name == "deno" and runtime.supported
    assert runtime.path == str(bundled_deno())
    assert runtime.version_tuple >= (2, 3)  # yt-dlp's DenoJsRuntime.MIN_SUPPORTED_VERSION
    assert deno_provider.is_available()
    for script in (deno_provider._lib_script, deno_provider._core_script):
        assert script.source is ScriptSource.PYPACKAGE  # yt-dlp-ejs, not GitHub or npm
        assert script.version == yt_dlp_ejs.version


def test_deno_solves_n_and_signature_challenges_offline(deno_provider: EJSBaseJCP) -> None:
    director = deno_provider.ie._jsc_director
    n = JsChallengeRequest(JsChallengeType.N, NChallengeInput(PLAYER_URL, ["abcdef"]), "vid")
    sig = JsChallengeRequest(JsChallengeType.SIG, SigChallengeInput(PLAYER_URL, ["12345"]), "vid")
    solved = {request.type: response.output for request, response in director.bulk_solve([n, sig])}
    assert solved == {
        JsChallengeType.N: NChallengeOutput({"abcdef": "ABCDEF-6"}),
        JsChallengeType.SIG: SigChallengeOutput({"12345": "54321"}),
    }


def test_a_configured_runtime_path_is_handed_over(tmp_path: Path) -> None:
    node = tmp_path / "node"
    assert js_runtime_options("node", node) == {"js_runtimes": {"node": {"path": str(node)}}}
    assert js_runtime_options("bun") == {"js_runtimes": {"bun": {}}}  # yt-dlp searches PATH
