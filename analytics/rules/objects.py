"""What the zone and line rules look at: one model's detections of some labels above a confidence."""

from __future__ import annotations

from collections.abc import Iterable

import supervision as sv

from analytics.detector import confidences, empty_detections, subset, with_label
from analytics.events import Observation


def objects(observation: Observation, model: str, labels: Iterable[str], min_confidence: float) -> sv.Detections:
    """The detections of `model` with one of `labels` and at least `min_confidence` (empty without a frame)."""
    detections = observation.detections.get(model)
    if detections is None or observation.frame is None or len(detections) == 0:
        return empty_detections()
    found = with_label(detections, *labels)
    if len(found) == 0:
        return found
    return subset(found, confidences(found) >= min_confidence)


def best_confidence(detections: sv.Detections) -> float | None:
    return round(float(confidences(detections).max()), 4) if len(detections) else None
