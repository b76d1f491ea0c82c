"""`cameras.<id>.rules:` in the service config: one config model per rule, sharing `RuleConfig`'s knobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from models.config.base import Strict
from models.config.categories import SeverityBand, verify_bands
from models.labels import VEHICLE_LABELS, Label

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Sensitivity = Literal["low", "medium", "high"]


class ArmingWindow(Strict):
    """One weekly window of a rule's arming schedule (布防时间), in the camera's `timezone`."""

    days: list[Weekday] = Field(
        default=list(WEEKDAYS), min_length=1, description="Days of the week the window applies to (mon ... sun)."
    )
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time the window opens, HH:MM.")
    end: str = Field(
        pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$",
        description="Local time the window closes, HH:MM (24:00: midnight at the end of the day); after `start`. "
        "A window over midnight is two windows (22:00-24:00 and 00:00-06:00 of the next days).",
    )

    @model_validator(mode="after")
    def verify_order(self) -> ArmingWindow:
        if self.end_minute <= self.start_minute:
            raise ValueError(f"the window ends ({self.end}) before it starts ({self.start}); split one over midnight")
        return self

    @property
    def start_minute(self) -> int:
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    @property
    def end_minute(self) -> int:
        hours, minutes = self.end.split(":")
        return int(hours) * 60 + int(minutes)


class RuleConfig(Strict):
    """The knobs every rule shares (one implementation: analytics/rules/harness.py). A rule's config model subclasses
    this, sets `category`'s default and `SENSITIVITY` (what low/medium/high set), and says which labels, zones and
    lines it needs (`needed_labels`, `zone_refs`, `line_refs`) so that the config checks need not know it."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {}  # preset -> field values it sets (medium: the defaults)
    RUNS_IN_REPLAYS: ClassVar[bool] = True  # False: a clip cannot show it (camera health), a replay turns it off

    enabled: bool = Field(default=True, description="Run this rule on the camera.")
    category: str = Field(description="Event category code for the incident.")
    sensitivity: Sensitivity = Field(
        default="medium",
        description="Preset for the rule's detection thresholds (each rule's table is in README and in its config "
        "model's SENSITIVITY); a threshold written out in the config wins over the preset.",
    )
    schedule: list[ArmingWindow] = Field(
        default_factory=list,
        description="Arming schedule (布防时间): weekly windows in the camera's time zone when the rule is armed; "
        "empty (default): always armed. Outside them it sees nothing, and an open incident closes.",
    )
    dwell_s: float = Field(
        default=0.0,
        ge=0,
        description="The situation must hold this long (rule open without a break) before an incident opens.",
    )
    alarm_interval_s: float = Field(
        default=0.0,
        ge=0,
        description="A situation that ends and returns within this many seconds joins the previous incident "
        "(updated, not a new one); the incident closes once it has stayed away this long. 0: every return is new.",
    )
    severity_bands: list[SeverityBand] | None = Field(
        default=None,
        min_length=1,
        description="Severity by magnitude for this rule's incidents, instead of its category's bands.",
    )

    @model_validator(mode="before")
    @classmethod
    def apply_sensitivity(cls, data: Any) -> Any:
        if isinstance(data, dict):
            preset = cls.SENSITIVITY.get(str(data.get("sensitivity", "medium")), {})
            return {**preset, **data}
        return data

    @model_validator(mode="after")
    def verify_own_bands(self) -> RuleConfig:
        if self.severity_bands is not None:
            verify_bands(self.severity_bands)
        return self

    @property
    def model_name(self) -> str | None:
        """The model whose detections the rule reads; None for a rule without one (camera health)."""
        model = getattr(self, "model", None)
        return model if isinstance(model, str) else None

    def needed_labels(self) -> set[str]:
        """The labels the rule reads from its model (its model must map classes to each)."""
        return set(getattr(self, "labels", None) or ())

    def zone_refs(self) -> dict[str, str]:
        """field -> the camera zone that field names."""
        zone = getattr(self, "zone", None)
        return {"zone": zone} if isinstance(zone, str) else {}

    def line_refs(self) -> dict[str, str]:
        """field -> the camera line that field names."""
        line = getattr(self, "line", None)
        return {"line": line} if isinstance(line, str) else {}


class CrowdRuleConfig(RuleConfig):
    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.45}, "medium": {"min_confidence": 0.35}, "high": {"min_confidence": 0.25}
    }  # fmt: skip

    enabled: bool = Field(default=True, description="Run this rule on the camera.")
    model: str = Field(default="people", description="Name of the model (under `models`) that finds people.")
    category: str = Field(default="crowd_gathering", description="Event category code for the incident.")
    zone: str | None = Field(default=None, description="Zone name; the whole frame when omitted.")
    min_people: int = Field(default=10, ge=1, description="N: people in the zone needed to count as a crowd.")
    open_after_s: float = Field(default=10.0, ge=0, description="T: the crowd must hold this long to open.")
    hysteresis: int = Field(default=2, ge=0, description="h: the incident ends below N - h people.")
    close_after_s: float = Field(default=15.0, ge=0, description="T_end: below N - h this long closes the incident.")
    min_confidence: float = Field(default=0.35, gt=0, lt=1, description="Lowest person confidence counted.")
    count_window_s: float = Field(
        default=3.0,
        ge=0,
        description="The count the rule decides on is the median of the per-frame counts over the last this many "
        "seconds of analysed frames (0: each frame's own count). Why: on a dense scene the per-frame count jumps "
        "by a few people (occlusion, a box lost for one frame), so a crowd near N would cross N back and forth; the "
        "median ignores a low or high frame and follows a change that lasts half the window. It is also the count "
        "peaks and incidents report.",
    )
    dip_tolerance_s: float = Field(
        default=3.0,
        ge=0,
        description="While pending, the (median) count may fall below N for up to this long without the crowd "
        "starting over; the time counts towards `open_after_s`. An open incident already rides out dips shorter "
        "than `close_after_s`. 0: any frame below N starts over.",
    )

    def needed_labels(self) -> set[str]:
        return {"person"}


class FireSmokeRuleConfig(RuleConfig):
    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.5}, "medium": {"min_confidence": 0.4}, "high": {"min_confidence": 0.3}
    }  # fmt: skip

    enabled: bool = Field(default=True, description="Run this rule on the camera.")
    model: str = Field(default="fire_smoke", description="Name of the model that finds fire and smoke.")
    category: str = Field(default="fire_hazard", description="Event category code for the incident.")
    labels: list[Literal["fire", "smoke"]] = Field(
        default=["fire", "smoke"], min_length=1, description="Which labels raise the event."
    )
    zone: str | None = Field(default=None, description="Zone name; the whole frame when omitted.")
    min_confidence: float = Field(default=0.4, gt=0, lt=1, description="Lowest confidence that counts as a hit.")
    min_box_area: float = Field(
        default=0.001, ge=0, lt=1, description="Smallest box, as a fraction of the frame area, that counts."
    )
    window_frames: int = Field(default=6, ge=1, description="n: analysed frames in the sliding window.")
    min_hits: int = Field(default=4, ge=1, description="k: frames with a hit among the last n needed to open.")
    clear_frames: int = Field(
        default=10, ge=1, description="Consecutive analysed frames without a hit that close the incident."
    )

    @model_validator(mode="after")
    def verify_k_of_n(self) -> FireSmokeRuleConfig:
        if self.min_hits > self.window_frames:
            raise ValueError(f"min_hits ({self.min_hits}) cannot exceed window_frames ({self.window_frames})")
        return self


class CameraOfflineRuleConfig(RuleConfig):
    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"open_after_s": 60.0}, "medium": {"open_after_s": 30.0}, "high": {"open_after_s": 10.0}
    }  # fmt: skip
    RUNS_IN_REPLAYS: ClassVar[bool] = False  # a clip's health is not a camera's

    enabled: bool = Field(default=True, description="Raise a device-fault incident when the camera is down.")
    category: str = Field(default="camera_fault", description="Event category code for the incident.")
    open_after_s: float = Field(default=30.0, ge=0, description="T: offline or stalled this long opens an incident.")


class IntrusionRuleConfig(RuleConfig):
    """区域入侵: a person (or another configured label) inside the zone, while armed, for `dwell_s`."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.5, "dwell_s": 10.0},
        "medium": {"min_confidence": 0.4, "dwell_s": 5.0},
        "high": {"min_confidence": 0.3, "dwell_s": 2.0},
    }

    model: str = Field(default="people", description="Name of the model that finds the objects.")
    category: str = Field(default="zone_intrusion", description="Event category code for the incident.")
    labels: list[Label] = Field(default=["person"], min_length=1, description="Labels that count as intruders.")
    zone: str = Field(description="The zone watched (objects count by their bottom-centre point).")
    min_confidence: float = Field(default=0.4, gt=0, lt=1, description="Lowest detection confidence counted.")
    dwell_s: float = Field(
        default=5.0, ge=0, description="T: someone must be in the zone this long (without a break) to open."
    )
    clear_s: float = Field(
        default=3.0,
        ge=0,
        description="The zone must be empty this long for the incident to end (a missed detection is not an exit).",
    )


class LoiteringRuleConfig(RuleConfig):
    """徘徊: the same tracked person inside the zone for `min_total_s` in total within the last `window_s`."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.5, "min_total_s": 120.0},
        "medium": {"min_confidence": 0.4, "min_total_s": 60.0},
        "high": {"min_confidence": 0.3, "min_total_s": 30.0},
    }

    model: str = Field(default="people", description="Name of the model that finds people (tracked).")
    category: str = Field(default="loitering", description="Event category code for the incident.")
    labels: list[Label] = Field(default=["person"], min_length=1, description="Labels that are tracked and timed.")
    zone: str = Field(description="The zone watched (people count by their bottom-centre point).")
    min_confidence: float = Field(default=0.4, gt=0, lt=1, description="Lowest detection confidence counted.")
    min_total_s: float = Field(
        default=60.0, gt=0, description="T: time one tracked person must spend in the zone, in total, to open."
    )
    window_s: float = Field(default=300.0, gt=0, description="The time in the zone is summed over this window.")
    max_gap_s: float = Field(
        default=3.0,
        gt=0,
        description="Two sightings of a track in the zone further apart than this add only this much (it may have "
        "left in between).",
    )
    clear_s: float = Field(
        default=10.0, ge=0, description="No loiterer seen in the zone this long ends the incident."
    )

    @model_validator(mode="after")
    def verify_window(self) -> LoiteringRuleConfig:
        if self.window_s < self.min_total_s:
            raise ValueError(f"window_s ({self.window_s}) cannot be shorter than min_total_s ({self.min_total_s})")
        return self


class LineCrossingRuleConfig(RuleConfig):
    """越线 / 逆行: a tracked object crossing the line in the forbidden direction; in/out counts are kept either way."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.5}, "medium": {"min_confidence": 0.4}, "high": {"min_confidence": 0.3}
    }  # fmt: skip

    model: str = Field(default="people", description="Name of the model that finds the objects (tracked).")
    category: str = Field(default="line_crossing", description="Event category code for the incident.")
    labels: list[Label] = Field(default=["person"], min_length=1, description="Labels that are tracked and counted.")
    line: str = Field(description="The camera line watched (under the camera's `lines`).")
    forbidden: Literal["in", "out", "both", "none"] = Field(
        default="in",
        description="Which crossing raises an incident: `in` (see the camera's `lines`), `out` (the other way), "
        "`both`, or `none` (count only).",
    )
    min_confidence: float = Field(default=0.4, gt=0, lt=1, description="Lowest detection confidence counted.")
    clear_s: float = Field(
        default=10.0, ge=0, description="No forbidden crossing for this long ends the incident."
    )


class FallRuleConfig(RuleConfig):
    """跌倒: a person down (the people model's `fall` label) in at least k of the last n analysed frames."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.6}, "medium": {"min_confidence": 0.5}, "high": {"min_confidence": 0.4}
    }  # fmt: skip

    model: str = Field(default="people", description="Name of the model that finds fallen people.")
    category: str = Field(default="fall_detected", description="Event category code for the incident.")
    labels: list[Label] = Field(
        default=["fall"], min_length=1, description="Labels that mean a person down (the model must give them)."
    )
    zone: str | None = Field(default=None, description="Zone name; the whole frame when omitted.")
    min_confidence: float = Field(default=0.5, gt=0, lt=1, description="Lowest confidence of a fall that counts.")
    window_frames: int = Field(default=6, ge=1, description="n: analysed frames in the sliding window.")
    min_hits: int = Field(default=4, ge=1, description="k: frames with someone down among the last n to open.")
    clear_frames: int = Field(
        default=10, ge=1, description="Consecutive analysed frames with nobody down that close the incident."
    )

    @model_validator(mode="after")
    def verify_k_of_n(self) -> FallRuleConfig:
        if self.min_hits > self.window_frames:
            raise ValueError(f"min_hits ({self.min_hits}) cannot exceed window_frames ({self.window_frames})")
        return self


class CameraTamperRuleConfig(RuleConfig):
    """视频遮挡 / 画面异常: covered, defocused, turned away, frozen, or far too dark/bright for `dwell_s`, judged from
    image statistics against a reference learned from the camera's own picture (analytics/rules/camera_tamper.py)."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"dwell_s": 30.0, "blur_ratio": 0.15, "min_view_match": 0.2},
        "medium": {"dwell_s": 10.0, "blur_ratio": 0.25, "min_view_match": 0.3},
        "high": {"dwell_s": 5.0, "blur_ratio": 0.35, "min_view_match": 0.4},
    }

    category: str = Field(default="camera_tamper", description="Event category code for the incident.")
    dwell_s: float = Field(default=10.0, ge=0, description="T: the picture must stay abnormal this long to open.")
    clear_s: float = Field(default=3.0, ge=0, description="A normal picture this long ends the incident.")
    learn_s: float = Field(
        default=5.0, ge=0, description="Seconds of normal picture learned as the reference before it judges."
    )
    adapt_s: float = Field(
        default=600.0,
        gt=0,
        description="Time constant of the reference (exponential average over normal frames): slow changes (dusk, "
        "rain, clouds) are followed, a sudden change is not.",
    )
    analysis_width: int = Field(default=320, ge=64, le=1920, description="Width of the gray copy measured (px).")
    dark_level: float = Field(
        default=40.0, gt=0, lt=128, description="`dark` needs a mean gray level below this (0-255) ..."
    )
    dark_ratio: float = Field(default=0.35, gt=0, lt=1, description="... and below this fraction of the reference's.")
    bright_ratio: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="`bright`: the headroom to white (255 - mean) below this fraction of the reference's, and the "
        "mean above 255 - dark_level.",
    )
    flat_std: float = Field(default=4.0, gt=0, description="A cell of the 8x8 grid is flat when its gray std is below.")
    uniform_fraction: float = Field(
        default=0.97, gt=0, le=1, description="This fraction of flat cells is a dead picture, reference or not."
    )
    covered_fraction: float = Field(
        default=0.6, gt=0, le=1, description="`covered`: at least this fraction of the picture flat ..."
    )
    covered_gain: float = Field(
        default=0.4, gt=0, le=1, description="... and at least this much more of it than in the reference."
    )
    blur_ratio: float = Field(
        default=0.25, gt=0, lt=1, description="`blurred`: sharpness (Laplacian variance) below this fraction of the "
        "reference's."
    )
    min_view_match: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="`moved`: fewer than this fraction of the reference's background edges found again (2 px).",
    )
    freeze_diff: float = Field(
        default=0.1,
        ge=0,
        description="`frozen`: mean absolute gray difference from the previous analysed frame below this (0: off).",
    )
    still_change: float = Field(
        default=1.5,
        gt=0,
        description="A picture changing less than this (mean gray difference) is still: a freeze candidate, probed "
        "with full-rate frames every `freeze_probe_s` (keyframes alone cannot show a freeze).",
    )
    freeze_probe_s: float = Field(default=30.0, gt=0, description="How often a still picture is probed for a freeze.")
    probe_s: float = Field(default=1.5, gt=0, description="How long one freeze probe decodes every frame.")


class VehicleDwellRuleConfig(RuleConfig):
    """机动车违停 / 占道: a vehicle stationary inside a no-parking zone for `min_stationary_s` (T, minutes in practice)."""

    SENSITIVITY: ClassVar[dict[str, dict[str, Any]]] = {
        "low": {"min_confidence": 0.5, "max_shift": 0.05},
        "medium": {"min_confidence": 0.35, "max_shift": 0.1},
        "high": {"min_confidence": 0.25, "max_shift": 0.15},
    }

    model: str = Field(
        default="vehicles",
        description="Name of the model that finds vehicles (a COCO detector configured by `path` and `sha256`).",
    )
    category: str = Field(default="illegal_parking", description="Event category code for the incident.")
    labels: list[Label] = Field(
        default=list(VEHICLE_LABELS), min_length=1, description="Labels that count as vehicles."
    )
    zone: str = Field(description="The no-parking zone (vehicles count by their bottom-centre point).")
    min_confidence: float = Field(default=0.35, gt=0, lt=1, description="Lowest detection confidence counted.")
    min_stationary_s: float = Field(
        default=300.0, gt=0, description="T: a vehicle must stand still in the zone this long to open (default 5 min)."
    )
    max_shift: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Stationary: the box's bottom-centre stays within this fraction of the box's larger side of "
        "where it was first seen, for the whole of T.",
    )
    clear_s: float = Field(
        default=30.0,
        ge=0,
        description="A parked vehicle unseen this long is gone (shorter gaps, e.g. a bus passing in front, are "
        "tolerated); no parked vehicle left ends the incident.",
    )


class RulesConfig(Strict):
    """One field per rule (the field name is the rule's name in RULE_FACTORIES, analytics/rules/__init__.py)."""

    crowd: CrowdRuleConfig | None = Field(default=None, description="Crowd gathering rule; off when omitted.")
    fire_smoke: FireSmokeRuleConfig | None = Field(default=None, description="Fire/smoke rule; off when omitted.")
    camera_offline: CameraOfflineRuleConfig = Field(
        default_factory=CameraOfflineRuleConfig, description="Device-fault rule; on by default."
    )
    intrusion: IntrusionRuleConfig | None = Field(default=None, description="Zone intrusion (区域入侵); off when omitted.")
    loitering: LoiteringRuleConfig | None = Field(default=None, description="Loitering (徘徊); off when omitted.")
    line_crossing: LineCrossingRuleConfig | None = Field(
        default=None, description="Line crossing (越线/逆行) and people-flow counts; off when omitted."
    )
    fall: FallRuleConfig | None = Field(default=None, description="Fall (跌倒); off when omitted.")
    camera_tamper: CameraTamperRuleConfig | None = Field(
        default=None, description="Camera tamper (视频遮挡/画面异常) from image statistics; off when omitted."
    )
    vehicle_dwell: VehicleDwellRuleConfig | None = Field(
        default=None, description="Illegal parking (机动车违停/占道) in a no-parking zone; off when omitted."
    )

    def enabled(self) -> Iterator[tuple[str, RuleConfig]]:
        """(rule name, config) of the rules that run."""
        for name, rule in self:
            if isinstance(rule, RuleConfig) and rule.enabled:
                yield name, rule
