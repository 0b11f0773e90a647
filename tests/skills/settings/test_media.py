"""MediaSettings from the environment, and the skills' registration."""

from __future__ import annotations

import pytest

from skills.settings.media import MediaSettings


def test_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_SSRF_ALLOWED_HOSTS", "127.0.0.1:8080, mirror.internal")
    monkeypatch.setenv("CHIMERA_DOWNLOAD_ALLOWED_EXTRACTORS", '["generic"]')
    monkeypatch.setenv("CHIMERA_WHISPER_MODEL", "/models/whisper-small")
    cfg = MediaSettings()
    assert cfg.ssrf_allowed_hosts == ["127.0.0.1:8080", "mirror.internal"]
    assert cfg.download_allowed_extractors == ["generic"]
    assert cfg.whisper_model == "/models/whisper-small"
    assert cfg.max_filesize_bytes == 500 * 1024 * 1024


def test_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = MediaSettings()
    assert "generic" in cfg.download_allowed_extractors and cfg.ssrf_allowed_hosts == []
    with pytest.raises(ValueError, match="preset"):
        MediaSettings(render_preset="warp")


def test_skills_are_registered() -> None:
    import importlib

    from skills.base import REGISTRY as registry

    for module in ("download", "transcribe", "render"):
        importlib.import_module(f"skills.media.{module}")
    for name in ("skill_download_video", "skill_transcribe_audio", "skill_generate_video"):
        spec = registry[name]
        schemas = spec.schemas()
        assert schemas["description"]
        # Every output field but success/error has a default (a failure is representable).
        failed = spec.output_model(success=False)
        assert failed.success is False
