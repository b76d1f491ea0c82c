"""Camera tamper from image statistics: synthetic pictures with sensor noise, an explicit clock (1 frame a second)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from analytics.events import EventPhase, Observation
from analytics.rules.camera_tamper import CameraTamperRule
from analytics.rules.harness import RuleHarness
from ingest.frames import VideoFrame
from models.clock import ManualClock
from models.config import CameraTamperRuleConfig
from tests.analytics.helpers import HEIGHT, WIDTH, online


def scene(seed: int = 0) -> np.ndarray:
    """A textured street-like picture: blocks of gray levels, lines and some fine texture."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(40, 200, (12, 16, 3), dtype=np.uint8), (WIDTH, HEIGHT),
                       interpolation=cv2.INTER_NEAREST)  # fmt: skip
    for _ in range(25):
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        cv2.line(image, (x, y), (x + int(rng.integers(-200, 200)), y + int(rng.integers(-200, 200))),
                 tuple(int(c) for c in rng.integers(0, 255, 3)), 2)  # fmt: skip
    return cv2.add(image, rng.integers(0, 25, image.shape, dtype=np.uint8))


BASE = scene()


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """What a live sensor adds to every frame."""
    return np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def covered(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[int(HEIGHT * 0.05):, int(WIDTH * 0.05):] = (78, 90, 107)  # a hand over 90 % of the lens
    return out


TAMPERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "covered": covered,
    "blurred": lambda image: cv2.GaussianBlur(image, (0, 0), 8),
    "moved": lambda image: np.roll(image, (90, 160), axis=(0, 1)),
    "dark": lambda image: (image * 0.06).astype(np.uint8),
    "bright": lambda image: (255 - (255 - image.astype(np.float32)) * 0.08).astype(np.uint8),
}


def observation(t: float, image: np.ndarray | None) -> Observation:
    frame = None if image is None else VideoFrame(camera_id="cam-1", frame_id=int(t), timestamp=t, pts=t, image=image)
    return Observation(camera_id="cam-1", timestamp=t, frame=frame, detections={}, health=online())


def run(rule, images: list[np.ndarray | None]) -> list[tuple[float, EventPhase]]:
    out = []
    for t, image in enumerate(images):
        event = rule.observe(observation(float(t), image))
        if event is not None:
            out.append((float(t), event.phase))
    return out


def timeline(kind: str, normal_s: int = 10, tamper_s: int = 20, after_s: int = 10, seed: int = 1) -> list[np.ndarray]:
    """normal_s normal frames, tamper_s tampered (frozen: one frame repeated), after_s normal again."""
    rng = np.random.default_rng(seed)
    images = [noisy(BASE, rng) for _ in range(normal_s)]
    if kind == "frozen":
        images += [images[-1]] * tamper_s
    else:
        images += [noisy(TAMPERS[kind](BASE), rng) for _ in range(tamper_s)]
    return images + [noisy(BASE, rng) for _ in range(after_s)]


def harnessed(**fields) -> RuleHarness:
    config = CameraTamperRuleConfig(**fields)
    return RuleHarness(lambda: CameraTamperRule(config), config, ZoneInfo("UTC"))


@pytest.mark.parametrize("kind", [*TAMPERS, "frozen"])
def test_each_tamper_opens_after_dwell_and_closes_when_the_picture_is_back(kind):
    # tampered from 10 s to 29 s; dwell_s 10 (medium): opened at 20 s; normal from 30 s, clear_s 3: closed at 33 s
    rule = harnessed()
    events = []
    for t, image in enumerate(timeline(kind)):
        event = rule.observe(observation(float(t), image))
        if event is not None:
            events.append((float(t), event.phase, rule.inner.kind if event.phase is EventPhase.OPENED else None))
    assert events == [(20.0, EventPhase.OPENED, kind), (33.0, EventPhase.CLOSED, None)]


@pytest.mark.parametrize("kind", [*TAMPERS, "frozen"])
def test_a_tamper_shorter_than_dwell_opens_nothing(kind):
    assert run(harnessed(), timeline(kind, tamper_s=6)) == []


@pytest.mark.parametrize(
    "images",
    [
        [],  # nothing observed
        [None] * 30,  # no frames at all: camera_offline's business
        timeline("covered", normal_s=40, tamper_s=0),  # a live, unchanging scene: noise alone is not a freeze
    ],
)
def test_nothing_to_report(images):
    assert run(harnessed(), images) == []


def test_a_slow_change_of_light_is_learned_and_a_cover_after_it_is_still_seen():
    """Dusk: the picture darkens to 30 % over 30 minutes (a frame every 5 s): nothing opens (the reference follows
    with its 10-minute time constant); the cover that follows is seen, T s later."""
    rng = np.random.default_rng(3)
    rule = harnessed()
    events = []
    for step in range(360 + 6):
        t = step * 5.0
        level = 1 - 0.7 * min(t, 1800) / 1800
        picture = (BASE * level).astype(np.uint8)
        image = noisy(covered(picture) if step >= 360 else picture, rng)
        if (event := rule.observe(observation(t, image))) is not None:
            events.append((t, event.phase))
    assert events == [(1810.0, EventPhase.OPENED)]  # covered from 1800 s, dwell_s 10


def test_a_dark_scene_from_the_start_is_its_reference_but_a_black_picture_is_dark_at_once():
    rng = np.random.default_rng(4)
    night = [noisy((BASE * 0.15).astype(np.uint8), rng) for _ in range(30)]  # mean gray ~16: a night street
    assert run(harnessed(), night) == []
    rule = CameraTamperRule(CameraTamperRuleConfig())
    assert run(rule, [np.zeros((HEIGHT, WIDTH, 3), np.uint8)]) == [(0.0, EventPhase.OPENED)]  # before any learning
    assert rule.kind == "dark"


def test_the_kind_changes_in_one_incident_and_the_evidence_shows_reference_and_frame():
    rule = CameraTamperRule(CameraTamperRuleConfig())
    rng = np.random.default_rng(5)
    images = [noisy(BASE, rng) for _ in range(8)] + [noisy(TAMPERS["blurred"](BASE), rng) for _ in range(3)]
    images += [noisy(covered(BASE), rng) for _ in range(3)]
    events = []
    for t, image in enumerate(images):
        if (event := rule.observe(observation(float(t), image))) is not None:
            events.append(event)
    assert [e.phase for e in events] == [EventPhase.OPENED, EventPhase.UPDATED]
    assert rule.kind == "covered" and events[-1].magnitude == pytest.approx(3 / 60, abs=1e-3)
    evidence = events[-1].evidence
    assert evidence is not None and evidence.frame.image.shape == (HEIGHT, 2 * WIDTH, 3)  # reference | frame


@pytest.mark.parametrize(
    ("field", "value"), [("dwell_s", -1), ("adapt_s", 0), ("blur_ratio", 1.5), ("min_view_match", 0), ("oops", 1)]
)
def test_bad_thresholds_name_their_field(field, value):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        CameraTamperRuleConfig(**{field: value})


def test_sensitivity_sets_dwell_and_thresholds_and_a_written_value_wins():
    assert CameraTamperRuleConfig(sensitivity="high").dwell_s == 5.0
    assert CameraTamperRuleConfig(sensitivity="low").blur_ratio == 0.15
    assert CameraTamperRuleConfig(sensitivity="high", dwell_s=60).dwell_s == 60


def test_a_frozen_picture_is_not_hidden_by_still_scene_gating(tmp_path):
    """A camera with a detector rule (fire) and camera_tamper, motion gating on and `still_decode: keyframes`:
    while the live scene is still (sensor noise only) it decodes keyframes only and skips detection, as designed.
    Then the encoder freezes on one picture. Keyframes alone do not show it (each keyframe re-codes the frozen
    picture a little differently: 0.45-0.6 gray levels, measured on this stream); the frames between repeat it
    exactly. The tamper rule reads every analysed frame itself (not the reused detections) and, while the picture is
    still, probes it every `freeze_probe_s` with 1.5 s of full-rate frames (its PENDING state turns full decoding
    on): the incident opens within two keyframe intervals plus dwell_s of the freeze. Without the probe it opened
    8 s later here, by luck of two identical keyframes; on a stream where they never are, never."""
    from analytics.pipeline import CameraPipeline, CameraRunner
    from ingest.camera_stream import CameraStream, DropPolicy
    from models.config import MotionConfig
    from tests.analytics.helpers import ListSink
    from tests.analytics.test_motion import GOP_FRAMES, SOURCE_FPS, BlobFireDetector, camera, encode

    rng = np.random.default_rng(6)
    still = [noisy(BASE, rng) for _ in range(12 * SOURCE_FPS)]
    freeze_at = len(still) / SOURCE_FPS
    path = encode(tmp_path / "still-then-frozen.mp4", still + [still[-1]] * (14 * SOURCE_FPS))
    detector = BlobFireDetector()
    config = camera(MotionConfig(still_decode="keyframes"), fire_smoke={}, camera_tamper={"dwell_s": 4, "freeze_probe_s": 5})
    pipeline = CameraPipeline("cam", config, {"fire_smoke": detector})
    stream = CameraStream("cam", str(path), analysis_fps=2.0, drop_policy=DropPolicy.BLOCK, realtime=False,
                          clock=ManualClock(0.0))  # fmt: skip
    sink = ListSink()
    runner = CameraRunner(pipeline, stream, sink)  # type: ignore[arg-type]
    stream.start()
    try:
        while (frame := stream.next_frame(timeout=10.0)) is not None:
            runner.run_step(frame)
    finally:
        stream.stop()
    opened = [e for e in sink.events if e.rule == "camera_tamper" and e.phase is EventPhase.OPENED]
    assert len(opened) == 1, sink.events
    assert freeze_at < opened[0].timestamp <= freeze_at + 2 * GOP_FRAMES / SOURCE_FPS + 4 + 0.5
    assert pipeline.motion.frames_skipped > 0  # detection was gated meanwhile
    total_frames = 26 * SOURCE_FPS
    assert stream.health.frames_decoded < total_frames * 0.8  # and the still part decoded keyframes only
