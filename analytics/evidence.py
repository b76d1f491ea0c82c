"""Evidence snapshots: the frame with its detections boxed and labelled, as a JPEG on disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from analytics.detector import LABEL_KEY
from analytics.events import Evidence

LABEL_COLORS = {
    "person": sv.Color.from_hex("#2f80ed"),
    "fire": sv.Color.from_hex("#eb5757"),
    "smoke": sv.Color.from_hex("#9b9b9b"),
}
_PALETTE = sv.ColorPalette([LABEL_COLORS["person"], LABEL_COLORS["fire"], LABEL_COLORS["smoke"]])
_LABEL_INDEX = {"person": 0, "fire": 1, "smoke": 2}


def render_snapshot(evidence: Evidence, jpeg_quality: int = 85) -> bytes:
    image = evidence.frame.image.copy()
    detections = evidence.detections
    if len(detections):
        labels = list(detections.data.get(LABEL_KEY, [""] * len(detections)))
        colored = sv.Detections(
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            class_id=np.array([_LABEL_INDEX.get(str(label), 0) for label in labels], dtype=int),
        )
        thickness = max(2, image.shape[1] // 320)
        image = sv.BoxAnnotator(color=_PALETTE, thickness=thickness).annotate(image, colored)
        confidences = detections.confidence if detections.confidence is not None else np.zeros(len(labels))
        texts = [f"{label} {conf:.2f}" for label, conf in zip(labels, confidences, strict=True)]
        image = sv.LabelAnnotator(color=_PALETTE, text_scale=max(0.4, image.shape[1] / 1600)).annotate(
            image, colored, labels=texts
        )
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding of the evidence snapshot failed")
    return encoded.tobytes()


def save_snapshot(path: Path, jpeg: bytes) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(jpeg)
    os.replace(tmp, path)
