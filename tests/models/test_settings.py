"""Process settings come from the environment (XUELIANG_*), read when used, with one default each."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.model_files import models_cache_dir
from ingest.rtsp_server import default_cache_dir
from models.settings import Settings


def test_the_cache_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XUELIANG_CACHE", str(tmp_path / "cache"))
    assert Settings().cache == tmp_path / "cache"
    # every user of the cache follows it, read at the call (not at import)
    assert models_cache_dir() == tmp_path / "cache" / "models"
    assert default_cache_dir() == tmp_path / "cache" / "streams"


def test_the_cache_defaults_to_the_users_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XUELIANG_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().cache == tmp_path / ".cache" / "xueliang"
    assert models_cache_dir() == tmp_path / ".cache" / "xueliang" / "models"


def test_other_environment_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XUELIANG_DEMO_RTSP", "rtsp://h")  # a ${NAME} of the YAML config, not a setting
    assert "demo_rtsp" not in Settings().model_dump()
