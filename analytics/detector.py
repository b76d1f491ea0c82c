"""Detector backends. Ultralytics results become supervision `Detections` once, here, at the edge.

Every detection carries a domain label in `detections.data["label"]` (person, fire, smoke, fall, ...); model
classes that the config does not map to a label are dropped here and never seen downstream. A class mapped to
several labels (`Fall: [person, fall]`) becomes one detection per label, so that each rule reads its own label
(a crowd counts the fallen person, the fall rule sees the fall).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import supervision as sv

from analytics.model_files import choose_runtime, exported_model, preload, resolve_weights
from models.config import UltralyticsModelConfig

# The camera network is air-gapped: keep ultralytics from probing the internet at import and at load.
os.environ.setdefault("YOLO_OFFLINE", "true")

LABEL_KEY = "label"


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> sv.Detections: ...


def empty_detections() -> sv.Detections:
    detections = sv.Detections.empty()
    detections.data[LABEL_KEY] = np.array([], dtype=object)
    return detections


def subset(detections: sv.Detections, mask: np.ndarray) -> sv.Detections:
    """Boolean-mask selection (typed: `sv.Detections.__getitem__` is annotated as a union)."""
    return cast(sv.Detections, detections[mask])


def confidences(detections: sv.Detections) -> np.ndarray:
    return detections.confidence if detections.confidence is not None else np.ones(len(detections))


def with_label(detections: sv.Detections, *labels: str) -> sv.Detections:
    """The detections whose domain label is one of `labels`."""
    if len(detections) == 0:
        return detections
    return subset(detections, np.isin(detections.data[LABEL_KEY], labels))


class UltralyticsDetector:
    """One loaded YOLO model, shared by every camera that uses it (calls are serialised: the predictor is stateful).

    It runs on the configured runtime (`runtime`, `auto` = the fastest installed): .pt weights are exported once to
    ONNX or OpenVINO (analytics.model_files.exported_model) and the export is loaded through ultralytics, so pre-
    and post-processing (letterbox, NMS) are the same on every runtime. A camera that needs another input size uses
    another model entry with the same weights and its own `image_size`.
    """

    def __init__(self, name: str, config: UltralyticsModelConfig, *, cache_dir: Path | None = None) -> None:
        from ultralytics import YOLO

        preload(name, config)
        self.name = name
        self.config = config
        self.weights = resolve_weights(name, config)
        runtime = choose_runtime(name, config, self.weights)
        self.runtime: str = runtime or self.weights.suffix.lstrip(".")
        self.model_path = (
            exported_model(name, config, self.weights, runtime, cache_dir=cache_dir) if runtime else self.weights
        )
        self._model = YOLO(str(self.model_path), task=config.task)
        names: dict[int, str] = self._model.names  # type: ignore[assignment]
        unknown = set(config.labels) - set(names.values())
        if unknown:
            from analytics.model_files import ModelUnavailableError

            raise ModelUnavailableError(
                f"model {name!r}: classes {sorted(unknown)} in `labels` are not in the model ({sorted(names.values())})"
            )
        # model class id -> its domain labels, for the classes we keep
        self._class_labels = {cid: config.labels_of(cname) for cid, cname in names.items() if cname in config.labels}
        self._keep_ids = np.array(sorted(self._class_labels), dtype=int)
        kept_labels = [label for labels in self._class_labels.values() for label in labels]
        self._merge_within_label = len(set(kept_labels)) < len(kept_labels)
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> sv.Detections:
        with self._lock:
            results = self._model.predict(
                image,
                imgsz=self.config.image_size,
                conf=self.config.confidence,
                iou=self.config.nms_iou,
                verbose=False,
            )
        detections = sv.Detections.from_ultralytics(results[0])  # type: ignore[index]
        class_ids = detections.class_id if detections.class_id is not None else np.zeros(0, dtype=int)
        rows = [(i, label) for i, c in enumerate(class_ids) for label in self._class_labels.get(int(c), ())]
        detections = cast(sv.Detections, detections[np.array([i for i, _ in rows], dtype=int)])
        detections.data[LABEL_KEY] = np.array([label for _, label in rows], dtype=object)
        if self._merge_within_label and len(detections) > 1:
            detections = merge_within_label(detections, self.config.nms_iou)
        return detections


def merge_within_label(detections: sv.Detections, iou: float) -> sv.Detections:
    """NMS across the model classes that share a domain label: overlapping boxes of one label become the most
    confident one. Boxes of different labels (a fire inside smoke) are never merged."""
    _, label_index = np.unique(np.asarray(detections.data[LABEL_KEY], dtype=str), return_inverse=True)
    predictions = np.column_stack([detections.xyxy, confidences(detections), label_index.astype(float)])
    return subset(detections, sv.box_non_max_suppression(predictions, iou_threshold=iou))


def load_detectors(models: dict[str, UltralyticsModelConfig], names: set[str]) -> dict[str, Detector]:
    """Load each named model once. Raises ModelUnavailableError (with how to fix it) for a missing model."""
    return {name: UltralyticsDetector(name, models[name]) for name in sorted(names)}
