"""`cameras.<id>.video_check` in the service config: the video check of a closure (视频核查).

When one of the camera's incidents reaches the handled step (处置反馈), the camera watches the incident's rule for
`duration_s`; see analytics/video_check.py for how the outcome is decided and recorded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VideoCheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="Re-examine the scene when one of this camera's incidents is reported handled: passed moves it "
        "to checked (核查) with an after snapshot and clip, failed sends it back (退回重办) with that evidence.",
    )
    duration_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long the camera watches after the handled step before it decides (seconds of its own "
        "stream time). Longer than the rule's own time to close a situation that is over (e.g. fire_smoke's "
        "clear_frames / analysis_fps) plus clear_s.",
    )
    clear_s: float = Field(
        default=10.0,
        gt=0,
        description="The check passes when the incident's rule saw nothing (was idle) for at least the last this many "
        "seconds of the window, with frames analysed in them; seen within them, it fails.",
    )
    rules: list[str] | None = Field(
        default=None,
        description="The rules whose incidents are checked (e.g. [fire_smoke]); None: every rule of the camera.",
    )

    @model_validator(mode="after")
    def verify_clear_within_duration(self) -> VideoCheckConfig:
        if self.clear_s > self.duration_s:
            raise ValueError(f"clear_s ({self.clear_s}) cannot exceed duration_s ({self.duration_s})")
        return self

    def covers(self, rule: str) -> bool:
        """Whether an incident raised by `rule` is checked on camera."""
        return self.enabled and (self.rules is None or rule in self.rules)
