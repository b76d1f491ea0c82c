"""int8 models: a model's OpenVINO export quantized once, offline, with NNCF post-training quantization.

`precision: int8` with `runtime: openvino` and `calibration:` in a model's config (models/config/detectors.py). The
fp32 OpenVINO export (analytics.model_files.exported_model) is quantized with `nncf.quantize` (preset MIXED: int8
weights symmetric, activations asymmetric; the detection head's box decoding and sigmoids stay in float, as
ultralytics' own int8 export does) on frames of the cameras' own kind of footage, and cached beside the fp32 export:

    <cache>/<weights sha256>/<image_size>/openvino-int8/<calibration sha256[:16]>/

with an `export.json` sidecar recording the weights' sha256, the calibration set's sha256, the nncf version and
the sha256 of every file, written atomically (staging directory + rename) under the same per-model lock as the
exports. A second load with the same weights, frames and nncf reuses it; another calibration set makes another.
Speed and accuracy against fp32: bench/speed/RESULTS.md ("int8").
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from analytics.model_files import (
    ModelUnavailableError,
    exclusive_lock,
    exported_model,
    file_sha256,
    hash_file,
    models_cache_dir,
    verified_export,
)
from models.config import UltralyticsModelConfig
from models.config.detectors import CalibrationConfig

# Bump when the quantization settings below change: cached int8 models with another version are made again.
QUANTIZE_VERSION = 1
SIDECAR = "export.json"
STILL_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
# Clips give one calibration frame per second from their start (consecutive frames of a camera are near copies).
CLIP_FPS = 1.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CalibrationSet:
    """The files the calibration frames come from (each with how many frames it gives) and the set's sha256."""

    sources: tuple[tuple[Path, int], ...]
    sha256: str


def calibration_set(name: str, calibration: CalibrationConfig) -> CalibrationSet:
    """Which files give the calibration frames of model `name`, and the set's sha256 (of those files' contents,
    the number of frames each gives, and how frames are taken). `frames` is shared evenly across `paths`: a clip
    gives its share at CLIP_FPS from its start; a folder gives its share of stills, evenly spaced in name order."""
    share = math.ceil(calibration.frames / len(calibration.paths))
    sources: list[tuple[Path, int]] = []
    for path in (p.expanduser() for p in calibration.paths):
        if path.is_dir():
            stills = sorted(p for p in path.iterdir() if p.suffix.lower() in STILL_SUFFIXES)
            if not stills:
                raise ModelUnavailableError(
                    f"models.{name}.calibration.paths: {path} holds no stills ({', '.join(sorted(STILL_SUFFIXES))})"
                )
            picks = sorted({int(i) for i in np.linspace(0, len(stills) - 1, min(share, len(stills)))})
            sources += [(stills[i], 1) for i in picks]
        elif path.is_file():
            sources.append((path, 1 if path.suffix.lower() in STILL_SUFFIXES else share))
        else:
            raise ModelUnavailableError(f"models.{name}.calibration.paths: {path} does not exist")
    digest = hashlib.sha256(f"v{QUANTIZE_VERSION} frames={calibration.frames} clip_fps={CLIP_FPS}\n".encode())
    for path, count in sources:
        digest.update(f"{file_sha256(path.resolve())} {count}\n".encode())
    return CalibrationSet(tuple(sources), digest.hexdigest())


def calibration_frames(name: str, calibration: CalibrationConfig, found: CalibrationSet) -> list[np.ndarray]:
    """The BGR calibration frames (at most `calibration.frames`)."""
    from ingest.sampling import sampled_frames

    frames: list[np.ndarray] = []
    for path, count in found.sources:
        if path.suffix.lower() in STILL_SUFFIXES:
            image = cv2.imread(str(path))
            if image is None:
                raise ModelUnavailableError(f"models.{name}.calibration.paths: cannot read image {path}")
            frames.append(image)
        else:
            try:
                frames += [image for _, image in sampled_frames(path, fps=CLIP_FPS, limit=count)]
            except Exception as error:  # PyAV raises its own errors for files that are not video
                raise ModelUnavailableError(f"models.{name}.calibration.paths: cannot decode {path}: {error}") from error
    if not frames:
        raise ModelUnavailableError(f"models.{name}.calibration.paths: no frames could be taken")
    return frames[: calibration.frames]


def model_input(image: np.ndarray, image_size: int) -> np.ndarray:
    """A BGR frame as the exported model takes it: letterboxed to `image_size` square (grey 114 borders, as
    ultralytics does), RGB, NCHW float32 in 0..1."""
    from ultralytics.data.augment import LetterBox

    boxed: np.ndarray = LetterBox(new_shape=(image_size, image_size), auto=False, stride=32)(image=image)  # type: ignore[assignment]
    return np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def quantized_model(
    name: str, model: UltralyticsModelConfig, weights: Path, *, cache_dir: Path | None = None
) -> Path:
    """The int8 OpenVINO model directory of model `name` (what ultralytics' YOLO loads), quantized on first use."""
    import nncf

    if model.calibration is None:
        raise ModelUnavailableError(f"models.{name}.calibration: precision int8 needs calibration frames")
    fp32 = exported_model(name, model, weights, "openvino", cache_dir=cache_dir)
    calibration = calibration_set(name, model.calibration)
    source_sha256 = hash_file(weights)
    base = (cache_dir or models_cache_dir()) / source_sha256 / str(model.image_size)
    directory = base / "openvino-int8" / calibration.sha256[:16]
    expected: dict[str, object] = {
        "version": QUANTIZE_VERSION,
        "source_sha256": source_sha256,
        "runtime": "openvino",
        "precision": "int8",
        "image_size": model.image_size,
        "calibration_sha256": calibration.sha256,
        "nncf": nncf.__version__,
    }
    directory.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(base / ".openvino.lock"):
        found = verified_export(directory, expected)
        if found is not None:
            return found
        if directory.exists():
            log.warning("model %r: cached int8 model in %s fails its checks; quantizing again", name, directory)
            shutil.rmtree(directory)
        _quantize(name, model, fp32, calibration, directory, expected)
        found = verified_export(directory, expected)
        if found is None:
            raise ModelUnavailableError(f"model {name!r}: the int8 model in {directory} did not verify")
        return found


def _quantize(
    name: str, model: UltralyticsModelConfig, fp32: Path, calibration: CalibrationSet, directory: Path,
    expected: dict[str, object],
) -> None:  # fmt: skip
    import nncf
    import openvino as ov

    assert model.calibration is not None
    started = time.perf_counter()
    frames = calibration_frames(name, model.calibration, calibration)
    xml = next(fp32.glob("*.xml"))
    ov_model = ov.Core().read_model(xml)
    staging = Path(tempfile.mkdtemp(prefix=".int8-", dir=directory.parent))
    try:
        dataset = nncf.Dataset(frames, lambda image: model_input(image, model.image_size))
        try:
            quantized = nncf.quantize(
                ov_model,
                dataset,
                preset=nncf.QuantizationPreset.MIXED,
                subset_size=len(frames),
                ignored_scope=_float_head(ov_model),
            )
        except Exception as error:
            raise ModelUnavailableError(f"model {name!r}: int8 quantization failed: {error}") from error
        result = staging / "result"
        out = result / fp32.name  # ultralytics recognises an OpenVINO model by its `*_openvino_model` directory
        out.mkdir(parents=True)
        ov.save_model(quantized, out / xml.name, compress_to_fp16=False)
        for extra in fp32.iterdir():  # metadata.yaml: class names, stride, image size
            if extra.suffix not in (".xml", ".bin"):
                shutil.copyfile(extra, out / extra.name)
        files = {str(p.relative_to(result)): hash_file(p) for p in sorted(result.rglob("*")) if p.is_file()}
        sidecar = {
            **expected,
            "model": fp32.name,
            "files": files,
            "calibration": [[str(path), count] for path, count in calibration.sources],
            "calibration_frames": len(frames),
            "quantize_s": round(time.perf_counter() - started, 1),
        }
        (result / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        os.replace(result, directory)
        log.info("model %r: quantized to int8 on %d frames in %.1f s (once): %s", name, len(frames),
                 time.perf_counter() - started, directory)  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _float_head(ov_model: object) -> object:
    """An nncf.IgnoredScope keeping the detection head's box decoding (DFL, anchors, strides) and its sigmoids in
    float, as ultralytics' own int8 export does: quantizing them shifts boxes and scores."""
    import nncf

    operations = ov_model.get_ordered_ops()  # type: ignore[attr-defined]
    sigmoids = [op.get_friendly_name() for op in operations if op.get_type_name() == "Sigmoid"]
    if not sigmoids:
        return None
    head = sigmoids[-1].split("/", 1)[0]
    return nncf.IgnoredScope(
        names=[
            op.get_friendly_name()
            for op in operations
            if op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl"))
        ]
    )
