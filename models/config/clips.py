"""`clips:` in the service config: event clips (the encoded stream around each incident's opening frame)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ClipsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Keep each camera's recent packets and write a clip per incident.")
    pre_s: float = Field(default=5.0, ge=0, le=60, description="Seconds of video before the incident's opening frame.")
    post_s: float = Field(
        default=15.0, ge=0, le=120, description="Seconds after the opening frame; the clip is written once they passed."
    )
    ring_max_mb: float = Field(
        default=32.0,
        gt=0,
        description="A camera's packet ring holds at most this many MiB (whole GOPs are dropped, oldest first); at "
        "4 Mbit/s, 32 MiB is about a minute.",
    )
    ring_margin_s: float = Field(
        default=5.0,
        ge=0,
        description="The ring keeps pre_s + post_s + this many seconds, so that the keyframe before pre_s is still "
        "there when the clip is written (longer than the camera's keyframe interval).",
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Clips older than this are deleted (never those of incidents still open)."
    )
    data_dir_quota_mb: float | None = Field(
        default=None,
        gt=0,
        description="When the data directory (snapshots, clips, thumbnails) weighs more than this, clips are "
        "deleted oldest first until it fits (never those of incidents still open in the closed loop). None: no quota.",
    )
    prune_interval_s: float = Field(default=3600.0, gt=0, description="How often retention runs.")

    @model_validator(mode="after")
    def verify_length(self) -> ClipsConfig:
        if self.pre_s + self.post_s <= 0:
            raise ValueError("pre_s + post_s must be above 0 (or set enabled: false)")
        return self

    @property
    def ring_seconds(self) -> float:
        return self.pre_s + self.post_s + self.ring_margin_s
