"""Inference runtimes: the export cache (offline, by sha256, checked on load) and the same detections everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics import model_files
from analytics.detector import UltralyticsDetector, with_label
from analytics.model_files import (
    SIDECAR,
    ModelUnavailableError,
    choose_runtime,
    exported_model,
    resolve_weights,
    runtime_installed,
)
from ingest.demo.footage import FIRE_STILLS, pedestrian_clip
from models.config import UltralyticsModelConfig
from tests.conftest import demo_raw_config

pytestmark = pytest.mark.slow
RUNTIMES = [r for r in ("torch", "onnx", "openvino") if runtime_installed(r)]


def model_config(name: str, **changes) -> UltralyticsModelConfig:
    return UltralyticsModelConfig.model_validate(demo_raw_config()["models"][name] | changes)


@pytest.fixture
def count_exports(monkeypatch):
    calls: list[str] = []
    real = model_files._export

    def counting(name, model, weights, runtime, directory, expected):
        calls.append(runtime)
        real(name, model, weights, runtime, directory, expected)

    monkeypatch.setattr(model_files, "_export", counting)
    return calls


@pytest.mark.skipif(not runtime_installed("onnx"), reason="onnx, onnxslim and onnxruntime are needed to export")
def test_export_once_then_reuse_and_reexport_when_tampered(tmp_path, count_exports):
    config = model_config("people", image_size=160)  # a small export: this is about the cache, not the model
    weights = resolve_weights("people", config)
    first = exported_model("people", config, weights, "onnx", cache_dir=tmp_path)
    assert first.name == "model.onnx" and first.is_file() and count_exports == ["onnx"]
    assert tmp_path in first.parents and weights.parent not in first.parents  # never beside the package's weights
    sidecar = json.loads((first.parent / SIDECAR).read_text())
    assert sidecar["source_sha256"] == config.sha256 and sidecar["image_size"] == 160
    assert sidecar["files"] == {"model.onnx": model_files.hash_file(first)}

    again = exported_model("people", config, weights, "onnx", cache_dir=tmp_path)
    assert again == first and count_exports == ["onnx"]  # reused, not exported again

    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    first.write_bytes(bytes(data))
    repaired = exported_model("people", config, weights, "onnx", cache_dir=tmp_path)
    assert count_exports == ["onnx", "onnx"]  # exported again, not loaded
    resealed = json.loads((repaired.parent / SIDECAR).read_text())
    assert resealed["files"] == {"model.onnx": model_files.hash_file(repaired)}
    assert model_files.hash_file(repaired) != model_files.hashlib.sha256(data).hexdigest()


def test_a_sidecar_for_other_settings_or_files_does_not_verify(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"weights")
    expected = model_files._expected_sidecar("a" * 64, "onnx", 640)
    sidecar = {**expected, "model": "model.onnx", "files": {"model.onnx": model_files.hash_file(tmp_path / "model.onnx")}}
    (tmp_path / SIDECAR).write_text(json.dumps(sidecar))
    assert model_files.verified_export(tmp_path, expected) == tmp_path / "model.onnx"
    assert model_files.verified_export(tmp_path, {**expected, "image_size": 416}) is None
    assert model_files.verified_export(tmp_path, {**expected, "version": -1}) is None
    (tmp_path / "extra.bin").write_bytes(b"x")  # a file the export did not make
    assert model_files.verified_export(tmp_path, expected) is None
    (tmp_path / "extra.bin").unlink()
    (tmp_path / SIDECAR).write_text("{not json")
    assert model_files.verified_export(tmp_path, expected) is None
    assert model_files.verified_export(tmp_path / "missing", expected) is None


def test_torch_runtime_loads_the_weights_themselves(tmp_path, count_exports):
    config = model_config("people", runtime="torch")
    weights = resolve_weights("people", config)
    assert exported_model("people", config, weights, "torch", cache_dir=tmp_path) == weights
    assert count_exports == [] and not any(tmp_path.iterdir())


def test_auto_takes_the_fastest_installed_runtime(monkeypatch):
    weights = Path("/weights/best.pt")
    installed = {"torch"}
    monkeypatch.setattr(model_files, "runtime_installed", lambda runtime: runtime in installed)
    assert choose_runtime("people", model_config("people"), weights) == "torch"
    installed.add("onnx")
    assert choose_runtime("people", model_config("people"), weights) == "onnx"
    installed.add("openvino")
    assert choose_runtime("people", model_config("people"), weights) == "openvino"
    assert choose_runtime("people", model_config("people", runtime="onnx"), weights) == "onnx"


def test_a_runtime_that_is_not_installed_says_what_to_install(monkeypatch):
    monkeypatch.setattr(model_files, "runtime_installed", lambda runtime: runtime == "torch")
    monkeypatch.setattr(model_files.importlib.util, "find_spec", lambda module: None)
    with pytest.raises(ModelUnavailableError, match=r"runtime 'openvino' needs \['openvino'\] \(pip install openvino"):
        choose_runtime("people", model_config("people", runtime="openvino"), Path("best.pt"))


@pytest.mark.parametrize(
    ("suffix", "runtime", "expected", "error"),
    [(".onnx", "auto", None, None), (".tflite", "torch", None, None), (".onnx", "openvino", None, "needs .pt weights")],
)
def test_weights_that_are_not_pt_run_as_given(suffix, runtime, expected, error):
    config = model_config("people", runtime=runtime)
    if error:
        with pytest.raises(ModelUnavailableError, match=error):
            choose_runtime("people", config, Path(f"model{suffix}"))
    else:
        assert choose_runtime("people", config, Path(f"model{suffix}")) == expected


@pytest.fixture(scope="module")
def detectors_by_runtime():
    return {
        runtime: {
            name: UltralyticsDetector(name, model_config(name, runtime=runtime)) for name in ("people", "fire_smoke")
        }
        for runtime in RUNTIMES
    }


def first_frame(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def test_runtimes_count_the_same_people(detectors_by_runtime):
    frame = first_frame(pedestrian_clip())
    counts = {runtime: len(d["people"].detect(frame)) for runtime, d in detectors_by_runtime.items()}
    assert all(d["people"].runtime == runtime for runtime, d in detectors_by_runtime.items())
    assert 4 <= counts["torch"] <= 9
    assert all(abs(count - counts["torch"]) <= 1 for count in counts.values()), counts


def test_runtimes_find_the_fire(detectors_by_runtime):
    still = cv2.imread(str(sorted(FIRE_STILLS.glob("*.jpg"))[2]))
    for runtime, detectors in detectors_by_runtime.items():
        fire = with_label(detectors["fire_smoke"].detect(still), "fire")
        assert len(fire) >= 1 and float(fire.confidence.max()) > 0.5, runtime
