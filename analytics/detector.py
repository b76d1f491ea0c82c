"""Detector backends. Ultralytics results become supervision `Detections` once, here, at the edge.

Every detection carries a domain label in `detections.data["label"]` (person, fire, smoke, fall, ...); model
classes that the config does not map to a label are dropped here and never seen downstream. A class mapped to
several labels (`Fall: [person, fall]`) becomes one detection per label, so that each rule reads its own label
(a crowd counts the fallen person, the fall rule sees the fall).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import supervision as sv

from analytics.model_files import choose_runtime, exported_model, offline_yolo, preload, resolve_weights
from models.config import ModelInputConfig, UltralyticsModelConfig

LABEL_KEY = "label"
# Tiles overlap by this fraction of their side, so a person cut by one tile's border is whole in the next.
TILE_OVERLAP = 0.2


@dataclass(frozen=True, slots=True)
class InputSize:
    """How a frame goes into a model: letterboxed to `long_side` px (stride 32), or, with `tile`, cut into
    overlapping tiles of `tile` px, each letterboxed to `long_side` (for small figures in large frames)."""

    long_side: int
    tile: int | None = None

    def describe(self) -> str:
        return f"{self.tile} px tiles at {self.long_side}" if self.tile is not None else f"{self.long_side} px"


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections: ...


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


# `image_size: auto` for a people model: frames up to AUTO_SD_MAX px on the long side (SD: D1, 960x540) run at the
# model's own size; HD frames (720p, 1080p, 4K) at AUTO_HD_SIDE px whatever their resolution. Measured
# (bench/replay/RESULTS.md): the people model counts people from about 65 px tall in its input; an elevated HD camera
# shows them at 4-6 % of the frame height (40-70 px at 1080p, 30-46 at 720p), so what they need is a fixed input
# size, not a factor of the frame: at 3072 px the same street counts within -8 % (720p), +1 % (1080p), +9 % (4K);
# at 640 px none of them. SD cameras' people are larger in the frame: 640 counts them best (vtest: +1 %).
AUTO_SD_MAX = 1024
AUTO_HD_SIDE = 3072


def _stride32(pixels: float) -> int:
    return max(32, -(-round(pixels) // 32) * 32)


def choose_input(setting: ModelInputConfig | None, width: int, height: int, *, counts_people: bool) -> InputSize | None:
    """The input a camera's `width` x `height` frames go into a model at (`cameras.<id>.inference.<model>`); None:
    the model's own `image_size`."""
    setting = setting or ModelInputConfig()
    if setting.image_size != "auto":
        return InputSize(_stride32(setting.image_size), setting.tile)
    if setting.tile is not None:
        return InputSize(_stride32(setting.tile), setting.tile)
    if not counts_people or max(width, height) <= AUTO_SD_MAX:
        return None
    return InputSize(AUTO_HD_SIDE)


class UltralyticsDetector:
    """One loaded YOLO model, shared by every camera that uses it (calls are serialised: the predictor is stateful).

    It runs on the configured runtime (`runtime`, `auto` = the fastest installed): .pt weights are exported once to
    ONNX or OpenVINO (analytics.model_files.exported_model) and the export is loaded through ultralytics, so pre-
    and post-processing (letterbox, NMS) are the same on every runtime. `image_size` is the default input; each
    camera may run its frames at another size or as tiles on the same loaded model (`detect(image, input_size)`,
    chosen by `choose_input` from `cameras.<id>.inference`).
    """

    def __init__(self, name: str, config: UltralyticsModelConfig, *, cache_dir: Path | None = None) -> None:
        yolo = offline_yolo()
        preload(name, config)
        self.name = name
        self.config = config
        self.weights = resolve_weights(name, config)
        runtime = choose_runtime(name, config, self.weights)
        self.runtime: str = runtime or self.weights.suffix.lstrip(".")
        self.model_path = (
            exported_model(name, config, self.weights, runtime, cache_dir=cache_dir) if runtime else self.weights
        )
        if config.precision == "int8":  # the OpenVINO export quantized with NNCF (analytics/quantize.py)
            from analytics.quantize import quantized_model

            self.model_path = quantized_model(name, config, self.weights, cache_dir=cache_dir)
            self.runtime = "openvino-int8"
        self._model = yolo(str(self.model_path), task=config.task)
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
        self._static = StaticShapes.of(self._model) if config.precision == "int8" else None

    def detect(self, image: np.ndarray, input_size: InputSize | None = None) -> sv.Detections:
        """Detections on `image` at the model's `image_size`, or at `input_size` (a camera's choice: another long
        side, or tiles). The exports have a dynamic input shape, so any stride-32 size runs on the same export."""
        size = input_size or InputSize(self.config.image_size)
        if size.tile is not None:
            return self._detect_tiled(image, size.tile, size.long_side)
        with self._lock:
            return self._to_domain(self._predict(image, size.long_side))

    def _predict(self, image: np.ndarray, long_side: int) -> sv.Detections:
        shape = None
        if self._static is not None:
            shape = letterbox_shape(image.shape[0], image.shape[1], long_side)
            self._static.before(shape)
        results = self._model.predict(
            image, imgsz=long_side, conf=self.config.confidence, iou=self.config.nms_iou, verbose=False
        )
        if self._static is not None and shape is not None:
            self._static.after(shape)
        return sv.Detections.from_ultralytics(results[0])  # type: ignore[index]

    def _detect_tiled(self, image: np.ndarray, tile: int, long_side: int) -> sv.Detections:
        """supervision's InferenceSlicer: tiles of `tile` px (overlapping by TILE_OVERLAP), each run at `long_side`
        (larger than `tile`: small figures are enlarged), boxes merged across tile borders by NMS at `nms_iou`."""
        overlap = round(tile * TILE_OVERLAP)
        slicer = sv.InferenceSlicer(
            callback=lambda part: self._predict(part, long_side),
            slice_wh=tile,
            overlap_wh=overlap,
            iou_threshold=self.config.nms_iou,
            overlap_filter=sv.OverlapFilter.NON_MAX_SUPPRESSION,
        )
        with self._lock:
            return self._to_domain(slicer(image))

    def _to_domain(self, detections: sv.Detections) -> sv.Detections:
        class_ids = detections.class_id if detections.class_id is not None else np.zeros(0, dtype=int)
        rows = [(i, label) for i, c in enumerate(class_ids) for label in self._class_labels.get(int(c), ())]
        detections = cast(sv.Detections, detections[np.array([i for i, _ in rows], dtype=int)])
        detections.data[LABEL_KEY] = np.array([label for _, label in rows], dtype=object)
        if self._merge_within_label and len(detections) > 1:
            detections = merge_within_label(detections, self.config.nms_iou)
        return detections


def letterbox_shape(height: int, width: int, long_side: int, stride: int = 32) -> tuple[int, int]:
    """The (height, width) ultralytics' rectangular letterbox gives a `height` x `width` frame at `long_side`: the
    frame scaled to fit `long_side`, each side padded up to a multiple of `stride` (vtest 768x576 at 640: 480x640)."""
    ratio = min(long_side / height, long_side / width)
    scaled_h, scaled_w = round(height * ratio), round(width * ratio)
    return scaled_h + (long_side - scaled_h) % stride, scaled_w + (long_side - scaled_w) % stride


class StaticShapes:
    """An int8 OpenVINO model that ultralytics runs at fixed shapes: on CPUs with AMX int8, OpenVINO crashes on
    int8 models with dynamic shapes (openvino issue 37577), so ultralytics marks the model static and recompiles it
    whenever the input shape changes. Left alone, ultralytics then letterboxes every frame to the export's square
    `image_size` whatever the camera asks: a 1080p camera at `image_size: auto` (3072 px) ran int8 at 640 px and
    counted nobody. Here each call sets the exact rectangular shape the dynamic model would get (`letterbox_shape`)
    and keeps one compiled model per shape, so cameras of different sizes sharing the model do not recompile it in
    turn. Calls are serialised by the detector's lock."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.compiled: dict[tuple[int, int], Any] = {}

    @classmethod
    def of(cls, model: Any) -> StaticShapes | None:
        """The helper for `model` (an ultralytics YOLO) if its backend runs at static shapes, else None."""
        model.predict(np.zeros((64, 64, 3), dtype=np.uint8), imgsz=64, verbose=False)  # builds the predictor
        backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
        if backend is None or getattr(backend, "read_model", None) is None or getattr(backend, "dynamic", True):
            return None
        return cls(backend)

    def before(self, shape: tuple[int, int]) -> None:
        self.backend.imgsz = list(shape)  # the predictor letterboxes to exactly this shape
        if shape in self.compiled:
            self.backend.ov_compiled_model = self.compiled[shape]

    def after(self, shape: tuple[int, int]) -> None:
        self.compiled.setdefault(shape, self.backend.ov_compiled_model)


def merge_within_label(detections: sv.Detections, iou: float) -> sv.Detections:
    """NMS across the model classes that share a domain label: overlapping boxes of one label become the most
    confident one. Boxes of different labels (a fire inside smoke) are never merged."""
    _, label_index = np.unique(np.asarray(detections.data[LABEL_KEY], dtype=str), return_inverse=True)
    predictions = np.column_stack([detections.xyxy, confidences(detections), label_index.astype(float)])
    return subset(detections, sv.box_non_max_suppression(predictions, iou_threshold=iou))
