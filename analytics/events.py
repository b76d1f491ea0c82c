"""Events: what a rule decides. One event per change of an ongoing situation: opened, updated, closed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import supervision as sv

from ingest.frames import VideoFrame
from ingest.health import CameraHealth


class EventPhase(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Evidence:
    """The frame that best shows the event and the detections to draw on it."""

    frame: VideoFrame
    detections: sv.Detections


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    phase: EventPhase
    rule: str  # the rule's name, e.g. "crowd"
    category: str  # event category code from the config
    camera_id: str
    timestamp: float  # epoch seconds of the observation that decided it
    magnitude: float  # rule-specific size used for severity bands (see SeverityBand)
    count: int | None = None  # peak people count (crowd)
    confidence: float | None = None  # peak detection confidence
    evidence: Evidence | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What one analysis step saw: detections per model (empty when no frame) and the camera's health."""

    camera_id: str
    timestamp: float
    frame: VideoFrame | None
    detections: dict[str, sv.Detections]  # by model name
    health: CameraHealth
