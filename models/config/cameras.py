"""`cameras:` in the service config: each camera's stream, zones, lines, rules, motion gating, tracking and model
inputs. Camera ids are GB/T 28181 device codes or short slugs."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from models.config.base import SLUG_ID, Strict
from models.config.ground import GroundCalibrationConfig
from models.config.rules import RulesConfig
from models.config.video_check import VideoCheckConfig

GB28181_ID = re.compile(r"^\d{20}$")
GB28181_CAMERA_TYPES = {"131", "132"}  # 131 camera, 132 network camera (IPC)


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
    crop: bool = Field(
        default=False,
        description="Detect where it moves: when the changed pixels cover at most `crop_max_area` of the frame, the "
        "models run on a crop around them (at the camera's own scale) and the detections outside it are reused; "
        "the whole frame is still detected at least every `max_interval_s`. Needs `enabled`. Off by default: see "
        "bench/speed/RESULTS.md section 11.",
    )
    crop_max_area: float = Field(
        default=0.5, gt=0, le=1, description="Largest crop (fraction of the frame area); a larger one detects the frame."
    )
    crop_margin: float = Field(
        default=0.15, ge=0, le=1, description="Margin added around the changed pixels' box, a fraction of its side "
        "(at least 32 px).",
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

class ModelGateConfig(Strict):
    """Run a model (the fire model) at a lower rate until a cue says fire could be there (analytics/model_gate.py)."""

    idle_fps: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="Runs per second of the model while no cue asks for more; in between its last detections are "
        "reused. Fire or smoke that no cue catches is seen at most 1/idle_fps seconds later (bench/speed/RESULTS.md "
        "section 13).",
    )
    hold_s: float = Field(
        default=3.0,
        gt=0,
        description="After a cue, the model runs on every analysed frame for this many seconds (a hit then makes its "
        "rule pending, which keeps full rate by itself).",
    )
    low_confidence: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="Cue: the model's last run found one of its rules' labels at least this confident (below the "
        "rule's min_confidence too).",
    )
    min_area: float = Field(
        default=0.003,
        ge=0,
        lt=1,
        description="Cue: at least this fraction of the small copy is fire-coloured (bright red, orange or yellow) "
        "and changed since the model's last run.",
    )
    frame_height: int = Field(
        default=96, ge=16, le=1080, description="Height (pixels) of the small copy the colour cue is computed on."
    )
    change_threshold: int = Field(
        default=20, ge=1, le=255, description="A pixel changed when its gray level moved by at least this much."
    )
    min_value: int = Field(default=170, ge=0, le=255, description="Least HSV value (brightness) of a fire colour.")
    min_saturation: int = Field(default=80, ge=0, le=255, description="Least HSV saturation of a fire colour.")


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

    gate: ModelGateConfig | None = Field(
        default=None,
        description="Rate gate (analytics/model_gate.py): run this model at `idle_fps` until a cue (fire colours "
        "that changed, a low-confidence hit, a pending or open rule) asks for every analysed frame. Off when omitted.",
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
    record_url: SecretStr | None = Field(
        default=None,
        description="The camera's main stream, for evidence (Frigate's `record` role). When set, `url` is the "
        "stream analysed (the low-resolution sub-stream, 辅码流) and this one is only received and demuxed, never "
        "decoded, into the event-clip ring: clips come at main resolution. A secret like `url`.",
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
        description="Ground calibration (models/config/ground.py): an incident is then located where its objects "
        "stand, in the grid cell of that map point (the camera's own cell when outside every cell).",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="Motion gating: where nothing moves, detection is skipped."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Tracker settings for the rules that need tracks."
    )
    video_check: VideoCheckConfig = Field(
        default_factory=VideoCheckConfig,
        description="Video check of a closure (视频核查, models/config/video_check.py): when one of this camera's "
        "incidents is reported handled, the camera re-examines the scene and passes or sends it back.",
    )

    @field_validator("video_check")
    @classmethod
    def verify_video_check_rules(cls, check: VideoCheckConfig) -> VideoCheckConfig:
        unknown = sorted(set(check.rules or ()) - set(RulesConfig.model_fields))
        if unknown:
            raise ValueError(f"rules: unknown rule(s) {unknown} (rules: {sorted(RulesConfig.model_fields)})")
        return check

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

    @field_validator("url", "record_url")
    @classmethod
    def verify_stream_url(cls, url: SecretStr | None) -> SecretStr | None:
        """A network URL needs a host and a port in 1-65535 (urllib would only fail on it at the first connect);
        the message never repeats the URL (it carries credentials). Plain paths and file:// URLs are files."""
        from urllib.parse import urlsplit

        from ingest.sources import local_path

        if url is None:  # record_url not given
            return None
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
