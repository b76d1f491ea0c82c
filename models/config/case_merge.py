"""`event_categories.<code>.merge` in the service config: one case per situation (analytics/case_merge.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CaseMergeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="A camera's new incident of this category joins an open one of another camera nearby (same "
        "grid cell or within radius_m), overlapping in time, as a sighting of it, instead of opening a second case.",
    )
    same_grid_cell: bool = Field(
        default=True, description="Incidents located in the same grid cell are one case."
    )
    radius_m: float | None = Field(
        default=None,
        gt=0,
        le=5000,
        description="Incidents whose map points (the camera's position, or where the objects stand on a calibrated "
        "camera) are at most this many metres apart are one case. None: by grid cell only.",
    )
    window_s: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description="How long after the open incident's situation ended on its camera a new opening still joins it.",
    )

    @model_validator(mode="after")
    def verify_some_place(self) -> CaseMergeConfig:
        if self.enabled and not self.same_grid_cell and self.radius_m is None:
            raise ValueError("give same_grid_cell: true or a radius_m (or set enabled: false)")
        return self
