"""The fire model's rate gate (analytics/model_gate.py): a colour cue on real fire stills and vtest frames, idle
throttling, full rate on a cue or while the rule is pending or open, and the real fire model's incident onset on the
fire stills clip with the gate as without it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analytics.events import EventPhase
from analytics.model_gate import ModelGate
from analytics.pipeline import CameraPipeline
from analytics.rules.base import RuleState
from analytics.rules.fire_smoke_rule import FireSmokeRule
from ingest.demo.footage import FIRE_STILLS, fire_clip, pedestrian_clip
from ingest.frames import VideoFrame
from ingest.sampling import sampled_frames
from models.config import CameraConfig, ConfigError, FireSmokeRuleConfig, ModelGateConfig, parse_config
from tests.analytics.helpers import detections, observe, online
from tests.conftest import demo_raw_config

FIRE_STILL = FIRE_STILLS / "07_img_104.jpg"  # CC BY fire still: a burning room, flames across the frame


@pytest.fixture(scope="module")
def walkway() -> list[tuple[float, np.ndarray]]:
    """vtest at 2 fps: people walking, no fire (some in red)."""
    return list(sampled_frames(pedestrian_clip(), fps=2, limit=40))


def with_fire(image: np.ndarray) -> np.ndarray:
    """The walkway with the fire still pasted over its lower left quarter: fire breaking out in the scene."""
    out = image.copy()
    height, width = out.shape[:2]
    out[height // 2 :, : width // 2] = cv2.resize(cv2.imread(str(FIRE_STILL)), (width // 2, height - height // 2))
    return out


def fire_rule() -> FireSmokeRule:
    return FireSmokeRule(FireSmokeRuleConfig())


def test_colour_cue_fires_on_a_fire_still_and_not_on_walkers(walkway: list[tuple[float, np.ndarray]]) -> None:
    gate = ModelGate("fire_smoke", ModelGateConfig(), [fire_rule()])
    (t0, first), (_, second) = walkway[0], walkway[1]
    gate.decide(first, t0)  # the model's run: its frame is the reference
    assert gate.colour_cue(gate.small(second)) < gate.config.min_area  # walkers moving, some in red: no cue
    assert gate.colour_cue(gate.small(with_fire(second))) >= gate.config.min_area


def test_throttles_walkers_and_goes_to_full_rate_on_a_cue(walkway: list[tuple[float, np.ndarray]]) -> None:
    gate = ModelGate("fire_smoke", ModelGateConfig(idle_fps=0.5, hold_s=3.0), [fire_rule()])
    runs = [gate.decide(image, t).run for t, image in walkway[:20]]  # 10 s of walkers
    assert sum(runs) == 5, runs  # one run every 2 s of frame time instead of 20
    t_fire = walkway[20][0]
    decisions = [gate.decide(with_fire(image), t) for t, image in walkway[20:26]]
    assert decisions[0].run and decisions[0].reason == "colour"
    assert all(d.run for d in decisions), decisions  # full rate for hold_s
    assert walkway[25][0] - t_fire <= 3.0


def test_a_low_confidence_hit_holds_full_rate(walkway: list[tuple[float, np.ndarray]]) -> None:
    gate = ModelGate("fire_smoke", ModelGateConfig(idle_fps=0.5, low_confidence=0.2, hold_s=3.0), [fire_rule()])
    (t0, image0) = walkway[0]
    gate.decide(image0, t0)
    gate.ran(detections([(10, 10, 200, 200)], "smoke", 0.22), t0)  # below the rule's min_confidence (0.4)
    assert all(gate.decide(image, t).run for t, image in walkway[1:6])
    assert not gate.decide(*reversed(walkway[7])).run  # 3.5 s later, nothing new: throttled again


def test_never_throttled_while_the_rule_is_pending_or_open(walkway: list[tuple[float, np.ndarray]]) -> None:
    rule = fire_rule()
    gate = ModelGate("fire_smoke", ModelGateConfig(idle_fps=0.1), [rule])
    gate.decide(*reversed(walkway[0]))
    rule.observe(observe(0.0, {"fire_smoke": detections([(100, 100, 300, 300)], "fire", 0.9)}))
    assert rule.state is RuleState.PENDING
    assert all(gate.decide(image, t).reason == "rule" for t, image in walkway[1:8])
    for i in range(1, 5):
        rule.observe(observe(float(i), {"fire_smoke": detections([(100, 100, 300, 300)], "fire", 0.9)}))
    assert rule.state is RuleState.OPEN
    assert all(gate.decide(image, t).run for t, image in walkway[8:16])


def fire_onset(real_detectors: dict, gate: ModelGateConfig | None) -> tuple[float | None, int]:
    """The fire incident's onset (clip seconds) on the fire stills clip at 2 fps, and the fire model's runs."""
    inference = {"fire_smoke": {"gate": gate.model_dump()}} if gate is not None else {}
    camera = CameraConfig.model_validate({"name": "c", "url": "/dev/null", "analysis_fps": 2,
                                          "rules": {"fire_smoke": {}}, "inference": inference})  # fmt: skip
    pipeline = CameraPipeline("c", camera, real_detectors)
    runs = 0
    health = online("c")
    onset = None
    for i, (t, image) in enumerate(sampled_frames(fire_clip(), fps=2)):
        frame = VideoFrame(camera_id="c", frame_id=i, timestamp=t, pts=t, image=image)
        before = pipeline.gates["fire_smoke"].runs if pipeline.gates else i
        events = pipeline.step(frame, health, t)
        runs += (pipeline.gates["fire_smoke"].runs - before) if pipeline.gates else 1
        if onset is None and any(e.phase is EventPhase.OPENED and e.rule == "fire_smoke" for e in events):
            onset = t
    return onset, runs


def test_real_fire_model_onset_with_the_gate_within_a_second(real_detectors: dict) -> None:
    off, _ = fire_onset(real_detectors, None)
    on, _ = fire_onset(real_detectors, ModelGateConfig(idle_fps=0.5))
    assert off is not None and on is not None
    assert on - off <= 1.0, (off, on)


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"idle_fps": 0}, "inference.fire_smoke.gate.idle_fps: Input should be greater than 0"),
        ({"idle_fsp": 1}, "inference.fire_smoke.gate.idle_fsp: Extra inputs are not permitted"),
        ({"hold_s": -1}, "inference.fire_smoke.gate.hold_s"),
    ],
)
def test_a_wrong_gate_setting_names_the_field(gate: dict, expected: str) -> None:
    raw = demo_raw_config()
    camera_id = next(iter(raw["cameras"]))
    raw["cameras"][camera_id]["inference"] = {"fire_smoke": {"gate": gate}}
    with pytest.raises(ConfigError) as error:
        parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
    assert f"cameras.{camera_id}.{expected}" in str(error.value)
