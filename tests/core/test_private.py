"""Owner-only state and media, whatever the umask; the published page the only world-readable
output; the local master key created by the stack, 0600, and said where it is."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chimera import stack
from core import crypto
from core.credentials import ensure
from core.private import private_dir
from core.settings import Settings
from skills.context import SkillPaths
from skills.files import write_text_atomic
from skills.publish.local import LocalPublisher
from skills.publish.models import PublishContentInput


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """What a library caller or a supervisor might run with: group and others may read."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("CHIMERA_SECRET_KEY", "CHIMERA_SECRET_KEY_FILE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    return Settings(state_dir=tmp_path / "state", media_dir=tmp_path / "state" / "media")


async def test_state_and_media_are_owner_only_and_the_page_alone_is_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    settings = local_settings(tmp_path, monkeypatch)
    paths = SkillPaths.of(settings)  # what the agents and `chimera skill run` use
    ensure(settings.state_dir / "credentials.json", ["publish"])
    crypto.ensure_key_file(settings.state_dir / "secret.key")
    write_text_atomic(paths.media_dir / "transcripts" / "clip.srt", "1\n")
    private_dir(paths.media_dir / "renders")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    publisher = LocalPublisher(settings.state_dir / "publish")
    await publisher.publish(
        PublishContentInput(
            platform="local", video_path=video, title="A title", publication_id="pub-1"
        )
    )

    public = {
        settings.state_dir / "publish",
        settings.state_dir / "publish" / "videos",
        publisher.page_path,
        *(settings.state_dir / "publish" / "videos").iterdir(),
    }
    assert len(public) == 4
    for path in [settings.state_dir, *settings.state_dir.rglob("*")]:
        if path in public:
            expected = 0o755 if path.is_dir() else 0o644
        else:
            expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, f"{path.relative_to(tmp_path)}: {oct(mode(path))}"
    assert (settings.state_dir / "publish" / "index.json").exists()  # checked above: 0600


def test_an_existing_loose_state_folder_is_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "state"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)  # noqa: S103 (the loose folder under test)
    private_dir(loose)
    # As root the traverse bit stays (the local PostgreSQL runs as `postgres` and needs it).
    assert mode(loose) == (0o701 if os.geteuid() == 0 else 0o700)


def test_a_shared_sticky_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # noqa: S103 (a shared folder like /tmp)
    private_dir(shared)
    assert mode(shared) == 0o1777


def test_the_stack_creates_the_master_key_once_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    settings = local_settings(tmp_path, monkeypatch)
    first = stack.ensure_master_key(settings)
    assert first is not None and first.created
    assert first.path == settings.state_dir / "secret.key"
    assert mode(first.path) == 0o600 and mode(settings.state_dir) == 0o700
    assert str(first.path) in first.describe() and "created" in first.describe()
    crypto.keyring_for(settings)  # a valid key: the publish agent can start
    again = stack.ensure_master_key(settings)
    assert again is not None and not again.created
    assert first.path.read_text() == again.path.read_text()


def test_no_key_file_is_made_when_the_key_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = local_settings(tmp_path, monkeypatch)
    given = settings.model_copy(update={"secret_key": crypto.generate_key()})
    assert stack.ensure_master_key(given) is None
    assert not (settings.state_dir / "secret.key").exists()


def test_child_processes_are_told_where_the_stack_key_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chimera demo` gives its agents the URLs, so they cannot tell they run on the local stack:
    the key file must travel with them (the publish agent refuses to start without a key)."""
    from core.credentials import process_env

    settings = local_settings(tmp_path, monkeypatch)
    key = stack.ensure_master_key(settings)
    assert key is not None
    env = process_env(settings)
    assert env["CHIMERA_SECRET_KEY_FILE"] == str(key.path)
    monkeypatch.setenv("CHIMERA_SECRET_KEY_FILE", env["CHIMERA_SECRET_KEY_FILE"])
    child = Settings(
        KAFKA_BOOTSTRAP_SERVERS=env["KAFKA_BOOTSTRAP_SERVERS"], DATABASE_URL=env["DATABASE_URL"]
    )
    crypto.keyring_for(child)  # found, and a valid key
