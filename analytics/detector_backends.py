"""Detector backends, a registry keyed by the model config's `type` (as Frigate's detector_types).

Each backend is what loads a model of its type (`load`: the Detector, analytics/detector.py) and what checks, without
loading it, that it could be loaded (`check`: the weights are there and are the ones configured; `xueliang
check-config`). Its config model is registered under the same key in models/config/detectors.py (MODEL_TYPES).

Adding a backend (a density counter, a classifier): its detector file (a class with `detect(image, input_size)`
returning sv.Detections with `data["label"]`), one entry in DETECTOR_BACKENDS, and its config model with its entry
in MODEL_TYPES. Nothing else names it: the service, replays and check-config ask this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analytics.detector import Detector, UltralyticsDetector
from analytics.model_files import resolve_weights
from analytics.quantize import calibration_set
from models.config.detectors import DetectorModelConfig


@dataclass(frozen=True, kw_only=True)
class DetectorBackend:
    """How models of one `type` are loaded and checked. Both take the model's name (for messages) and its config
    (the backend's own config model) and raise ModelUnavailableError saying what to fix."""

    load: Callable[[str, Any], Detector]
    check: Callable[[str, Any], object]


def check_ultralytics(name: str, model: Any) -> object:
    """The weights are there and the configured ones; for `precision: int8`, the calibration frames are there."""
    weights = resolve_weights(name, model)
    if model.precision == "int8" and model.calibration is not None:
        calibration_set(name, model.calibration)
    return weights


DETECTOR_BACKENDS: dict[str, DetectorBackend] = {
    "ultralytics": DetectorBackend(load=UltralyticsDetector, check=check_ultralytics),
}


def backend_of(model: DetectorModelConfig) -> DetectorBackend:
    return DETECTOR_BACKENDS[model.type]  # every config type has a backend (tests/analytics/test_detector.py)


def load_detectors(models: Mapping[str, DetectorModelConfig], names: set[str]) -> dict[str, Detector]:
    """Load each named model once, by its backend. Raises ModelUnavailableError (with how to fix it) for a missing
    model."""
    return {name: backend_of(models[name]).load(name, models[name]) for name in sorted(names)}


def check_model(name: str, model: DetectorModelConfig) -> None:
    """Raise ModelUnavailableError when model `name` could not be loaded (without loading it)."""
    backend_of(model).check(name, model)
