"""`event_categories:` and `closed_loop:` in the service config: the event responsibility list (事件责任清单),
severity bands, time limits, and the closed loop's timers."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from models.config.base import Strict
from models.config.case_merge import CaseMergeConfig


class SeverityBand(Strict):
    severity: Literal["A", "B", "C"] = Field(description="Severity given when the magnitude reaches min_magnitude.")
    min_magnitude: float = Field(
        ge=0,
        description="Lowest magnitude for this severity. Magnitude is rule-specific: crowd = peak people count, "
        "fire/smoke = largest box as a percentage of the frame, camera offline = minutes offline.",
    )


class EventCategoryConfig(Strict):
    group: str = Field(description="First level of the taxonomy, e.g. 社会治安.")
    name: str = Field(description="Second level, e.g. 人员聚集.")
    owner_department: str = Field(description="Department that answers for this kind of event (one event, one owner).")
    time_limit_hours: float = Field(gt=0, description="Handling time limit; the incident's deadline is opened + this.")
    severity_bands: list[SeverityBand] = Field(
        min_length=1, description="Severity by magnitude; the highest band reached applies. Needs a band at 0."
    )
    cap_category: Literal[
        "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"
    ] = Field(default="Other", description="OASIS CAP 1.2 <category> of this kind of event in CAP exports.")
    merge: CaseMergeConfig = Field(
        default_factory=CaseMergeConfig,
        description="One case per situation (models/config/case_merge.py): several cameras' incidents of this "
        "category in one place at one time become one incident with each camera's sighting.",
    )

    @model_validator(mode="after")
    def verify_bands_cover_zero(self) -> EventCategoryConfig:
        verify_bands(self.severity_bands)
        return self

    @property
    def time_limit(self) -> timedelta:
        return timedelta(hours=self.time_limit_hours)

    def severity_for(self, magnitude: float, bands: list[SeverityBand] | None = None) -> str:
        """The severity of `magnitude` by `bands` (a rule's own), else by this category's."""
        reached = [b for b in (bands or self.severity_bands) if magnitude >= b.min_magnitude]
        return max(reached, key=lambda b: b.min_magnitude).severity


def verify_bands(bands: list[SeverityBand]) -> None:
    if min(b.min_magnitude for b in bands) != 0:
        raise ValueError("severity_bands needs one band with min_magnitude 0 so every event gets a severity")


class ClosedLoopConfig(Strict):
    overdue_check_s: float = Field(
        default=30.0, gt=0, description="How often the service looks for incidents past their deadline."
    )
