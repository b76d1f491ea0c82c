from __future__ import annotations

import math

import pytest

from ingest.sampling import FrameSampler


def taken(fps: float | None, timestamps: list[float]) -> list[float]:
    sampler = FrameSampler(fps)
    return [t for t in timestamps if sampler.due(t)]


def at_fps(fps: float, count: int, start: float = 0.0) -> list[float]:
    return [start + i / fps for i in range(count)]


@pytest.mark.parametrize(
    ("fps", "timestamps", "expected"),
    [
        (5.0, [], []),
        (None, [], []),
        (None, [0.0, 0.0, 0.01, 5.0], [0.0, 0.0, 0.01, 5.0]),  # None: every frame
        (5.0, at_fps(10, 10), [0.0, 0.2, 0.4, 0.6, 0.8]),  # exact halving, float-safe
        (2.0, [0.0, 0.3, 0.6, 0.9, 1.2], [0.0, 0.6, 1.2]),  # taken when the timestamp reaches the due slot
        # after a 10 s gap: one frame, then the normal rate again (no catch-up burst)
        (2.0, [0.0, 0.5, 10.2, 10.3, 10.5, 10.7, 11.0], [0.0, 0.5, 10.2, 10.5, 11.0]),
        (2.0, [100.0, 100.5, 3.0, 3.1, 3.5], [100.0, 100.5, 3.0, 3.5]),  # time went backwards: new grid
        (25.0, at_fps(10, 5), at_fps(10, 5)),  # asking more than the source gives: every frame
    ],
)
def test_frame_sampler_choice(fps: float | None, timestamps: list[float], expected: list[float]) -> None:
    assert taken(fps, timestamps) == expected


def test_rate_does_not_drift() -> None:
    """25 fps sampled at 10 fps for 60 s gives 600 frames, not 500 (which slot-from-frame would give)."""
    assert len(taken(10.0, at_fps(25, 25 * 60))) == 600


def test_same_timestamps_same_choice() -> None:
    timestamps = [1_700_000_000 + i * 0.0371 for i in range(500)]
    assert taken(3.0, timestamps) == taken(3.0, timestamps)


def test_reset_starts_a_new_grid() -> None:
    sampler = FrameSampler(1.0)
    assert sampler.due(0.0)
    assert not sampler.due(0.5)
    sampler.reset()
    assert sampler.due(0.6)


@pytest.mark.parametrize("fps", [0.0, -1.0, math.nan, math.inf])
def test_rejects_invalid_fps(fps: float) -> None:
    with pytest.raises(ValueError, match="fps"):
        FrameSampler(fps)
