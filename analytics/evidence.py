"""Evidence snapshots: the frame with its detections boxed and labelled, as a JPEG on disk."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from analytics.detector import LABEL_KEY
from analytics.events import Evidence
from models.labels import DOMAIN_LABELS

# A box's colour by its domain label: one for each declared label (models/labels.py), none of them the zone's yellow.
LABEL_COLORS: dict[str, sv.Color] = {
    "person": sv.Color.from_hex("#2f80ed"),
    "fall": sv.Color.from_hex("#f2994a"),
    "fire": sv.Color.from_hex("#eb5757"),
    "smoke": sv.Color.from_hex("#9b9b9b"),
    "car": sv.Color.from_hex("#27ae60"),
    "truck": sv.Color.from_hex("#9b51e0"),
    "bus": sv.Color.from_hex("#56ccf2"),
    "motorcycle": sv.Color.from_hex("#6fcf97"),
}
_PALETTE = sv.ColorPalette([LABEL_COLORS[label] for label in DOMAIN_LABELS])
_LABEL_INDEX: dict[str, int] = {label: i for i, label in enumerate(DOMAIN_LABELS)}


# The snapshot must read at 320 px wide (the feed, the map's popups, a phone): what is drawn scales with the frame
# so that, shrunk to 320 px, a box edge stays >= 2 px and a label's text ~9 px high (cv2's simplex font is 27 px
# high at scale 1).
LEGIBLE_WIDTH_PX = 320
ZONE_COLOR = sv.Color.from_hex("#f2c94c")  # the rule's zone or line: yellow, apart from every label's colour


@dataclass(frozen=True, kw_only=True)
class RuleGeometry:
    """What the rule that raised the incident watches, in image pixels: zones (polygons) and lines (two points)."""

    zones: tuple[np.ndarray, ...] = ()
    lines: tuple[np.ndarray, ...] = ()


def render_snapshot(evidence: Evidence, jpeg_quality: int = 85, geometry: RuleGeometry | None = None) -> bytes:
    """The evidence frame with the rule's zone or line, and each detection boxed with its label and confidence."""
    image = evidence.frame.image.copy()
    scale = image.shape[1] / LEGIBLE_WIDTH_PX
    thickness = max(2, round(2 * scale))
    if geometry is not None:
        image = _draw_geometry(image, geometry, thickness)
    detections = evidence.detections
    if len(detections):
        labels = list(detections.data.get(LABEL_KEY, [""] * len(detections)))
        colored = sv.Detections(
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            class_id=np.array([_LABEL_INDEX.get(str(label), 0) for label in labels], dtype=int),
        )
        image = sv.BoxAnnotator(color=_PALETTE, thickness=thickness).annotate(image, colored)
        confidences = detections.confidence if detections.confidence is not None else np.zeros(len(labels))
        texts = [f"{label} {conf:.2f}" for label, conf in zip(labels, confidences, strict=True)]
        image = sv.LabelAnnotator(
            color=_PALETTE,
            text_scale=max(0.5, scale / 3),
            text_thickness=max(1, round(scale)),
            text_padding=max(4, round(3 * scale)),
            smart_position=True,  # labels of boxes side by side do not cover each other
        ).annotate(image, colored, labels=texts)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding of the evidence snapshot failed")
    return encoded.tobytes()


def _draw_geometry(image: np.ndarray, geometry: RuleGeometry, thickness: int) -> np.ndarray:
    color = ZONE_COLOR.as_bgr()
    shaded = image.copy()
    for polygon in geometry.zones:
        cv2.fillPoly(shaded, [polygon.astype(np.int32)], color)
    image = cv2.addWeighted(shaded, 0.2, image, 0.8, 0) if geometry.zones else image
    for polygon in geometry.zones:
        cv2.polylines(image, [polygon.astype(np.int32)], True, color, thickness, cv2.LINE_AA)
    for line in geometry.lines:
        (x1, y1), (x2, y2) = line.astype(int)[:2]
        cv2.line(image, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        for x, y in ((x1, y1), (x2, y2)):
            cv2.circle(image, (x, y), 2 * thickness, color, -1, cv2.LINE_AA)
    return image


def save_snapshot(path: Path, jpeg: bytes) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(jpeg)
    os.replace(tmp, path)
