"""`scheduling:` in the service config: how the cameras that share a loaded model take turns on it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.config.base import Strict


class SchedulingConfig(Strict):
    mode: Literal["queue", "lock"] = Field(
        default="lock",
        description="`queue`: one inference worker per model serves the cameras round-robin, a camera's newest "
        "frame only, and drops a frame whose turn comes too late (analytics/scheduler.py); `lock`: each camera's "
        "thread runs the model itself, one at a time in whatever order the lock grants (bench/speed/RESULTS.md "
        "section 10 compares them).",
    )
    deadline_factor: float | None = Field(
        default=1.0,
        gt=0,
        description="`queue` only: a frame older than this many of its camera's analysis intervals (1 / "
        "analysis_fps) when its turn comes is dropped (counted as late-dropped) and the camera's newer frame goes "
        "instead; a camera whose last frame was dropped late is served next time whatever its age, so none starves. "
        "null: never drop.",
    )
