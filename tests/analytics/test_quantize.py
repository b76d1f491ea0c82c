"""int8 models: config errors, and a real model quantized with NNCF on real frames, cached, reused, detecting."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from analytics import quantize
from analytics.detector import InputSize, UltralyticsDetector, letterbox_shape, with_label
from analytics.model_files import ModelUnavailableError, runtime_installed
from analytics.quantize import SIDECAR, calibration_set
from ingest.demo.footage import FIRE_STILLS, pedestrian_clip
from ingest.sampling import sampled_frames
from models.config import UltralyticsModelConfig
from models.config.detectors import CalibrationConfig
from tests.conftest import demo_raw_config


def model_config(name: str, **changes) -> UltralyticsModelConfig:
    return UltralyticsModelConfig.model_validate(demo_raw_config()["models"][name] | changes)


def test_fp32_is_the_default():
    config = model_config("people")
    assert config.precision == "fp32" and config.calibration is None


@pytest.mark.parametrize("runtime", ["auto", "onnx", "torch"])
def test_int8_needs_openvino(runtime):
    with pytest.raises(ValidationError, match=r"precision: int8 needs `runtime: openvino`"):
        model_config("people", precision="int8", runtime=runtime, calibration={"paths": [str(FIRE_STILLS)]})


def test_int8_needs_calibration_frames():
    with pytest.raises(ValidationError, match=r"precision: int8 needs `calibration`"):
        model_config("people", precision="int8", runtime="openvino")
    with pytest.raises(ValidationError, match=r"calibration\.paths"):
        model_config("people", precision="int8", runtime="openvino", calibration={"paths": []})
    with pytest.raises(ValidationError, match=r"calibration\.frames"):
        model_config("people", precision="int8", runtime="openvino", calibration={"paths": ["x"], "frames": 0})


def test_missing_or_empty_calibration_path_is_named(tmp_path):
    with pytest.raises(ModelUnavailableError, match=r"models\.people\.calibration\.paths: .*nope.* does not exist"):
        calibration_set("people", CalibrationConfig(paths=[tmp_path / "nope"]))
    with pytest.raises(ModelUnavailableError, match=r"models\.people\.calibration\.paths: .* holds no stills"):
        calibration_set("people", CalibrationConfig(paths=[tmp_path]))


def test_calibration_set_hash_follows_the_frames():
    stills = CalibrationConfig(paths=[FIRE_STILLS], frames=4)
    first = calibration_set("fire_smoke", stills)
    assert len(first.sources) == 4 and first == calibration_set("fire_smoke", stills)
    assert calibration_set("fire_smoke", CalibrationConfig(paths=[FIRE_STILLS], frames=5)).sha256 != first.sha256


@pytest.fixture
def count_quantize(monkeypatch):
    calls: list[str] = []
    real = quantize._quantize

    def counting(name, *args):
        calls.append(name)
        real(name, *args)

    monkeypatch.setattr(quantize, "_quantize", counting)
    return calls


@pytest.mark.slow
@pytest.mark.skipif(not runtime_installed("openvino"), reason="openvino is needed")
def test_int8_people_model_quantized_once_cached_and_counts_like_fp32(tmp_path, count_quantize):
    clip = pedestrian_clip()
    int8 = model_config(
        "people", runtime="openvino", precision="int8", calibration={"paths": [str(clip)], "frames": 8}
    )
    detector = UltralyticsDetector("people", int8, cache_dir=tmp_path)
    assert count_quantize == ["people"] and detector.runtime == "openvino-int8"
    sidecar = json.loads((detector.model_path.parent / SIDECAR).read_text())
    assert sidecar["precision"] == "int8" and sidecar["source_sha256"] == int8.sha256
    assert sidecar["calibration_frames"] == 8 and sidecar["nncf"]
    xml = next(detector.model_path.glob("*.xml"))
    assert b'element_type="i8"' in xml.read_bytes() or b'element_type="u8"' in xml.read_bytes()  # really int8

    fp32 = UltralyticsDetector("people", int8.model_copy(update={"precision": "fp32"}), cache_dir=tmp_path)
    assert fp32.model_path != detector.model_path
    # vtest: 10 frames spread over the clip, not the 8 calibration frames (its first 8 s at 1 fps)
    frames = [image for _, image in sampled_frames(clip, fps=0.125, limit=11)][1:]
    int8_counts = [len(with_label(detector.detect(image), "person")) for image in frames]
    fp32_counts = [len(with_label(fp32.detect(image), "person")) for image in frames]
    # tolerance: within 0.5 people per frame on average, and int8 finds at least 85 % of fp32's people
    assert sum(fp32_counts) >= 20  # the scene is busy: the comparison means something
    assert sum(abs(a - b) for a, b in zip(int8_counts, fp32_counts, strict=True)) / len(frames) <= 0.5
    assert sum(int8_counts) >= 0.85 * sum(fp32_counts), (int8_counts, fp32_counts)

    # A camera's own input size reaches the int8 model too (on AMX CPUs ultralytics runs int8 at static shapes and
    # letterboxed every frame to the export's 640 square: a 1080p camera at 3072 px counted nobody), at the
    # rectangular shape a dynamic model gets, and alternating sizes do not recompile the model each time.
    large = InputSize(1280)
    int8_large = [len(with_label(detector.detect(image, large), "person")) for image in frames[:4]]
    fp32_large = [len(with_label(fp32.detect(image, large), "person")) for image in frames[:4]]
    assert sum(int8_large) >= 0.85 * sum(fp32_large) and sum(fp32_large) > sum(fp32_counts[:4]), (
        int8_large, fp32_large, fp32_counts[:4])
    if detector._static is not None:  # this CPU runs int8 at static shapes
        assert set(detector._static.compiled) == {(480, 640), (960, 1280)}  # vtest 768x576: rectangular, one each
        compiled = detector._static.compiled[(480, 640)]
        detector.detect(frames[0])
        assert detector._static.backend.ov_compiled_model is compiled  # reused, not compiled again

    again = UltralyticsDetector("people", int8, cache_dir=tmp_path)
    assert again.model_path == detector.model_path and count_quantize == ["people"]  # reused, not quantized again

    other = int8.model_copy(update={"calibration": CalibrationConfig(paths=[clip], frames=6)})
    changed = UltralyticsDetector("people", other, cache_dir=tmp_path)
    assert count_quantize == ["people", "people"] and changed.model_path != detector.model_path
    assert detector.model_path.is_dir()  # the first calibration's model is still there


def test_check_config_names_missing_calibration_frames(tmp_path):
    from analytics.detector_backends import check_model

    config = model_config(
        "people", runtime="openvino", precision="int8", calibration={"paths": [str(tmp_path / "gone.mp4")]}
    )
    with pytest.raises(ModelUnavailableError, match=r"models\.people\.calibration\.paths: .*gone\.mp4 does not exist"):
        check_model("people", config)
    check_model("people", model_config("people"))  # fp32: the weights alone


def test_letterbox_shape_is_ultralytics_rectangular_letterbox():
    assert letterbox_shape(576, 768, 640) == (480, 640)  # vtest
    assert letterbox_shape(360, 640, 640) == (384, 640)  # the fire clips: 360 padded to a multiple of 32
    assert letterbox_shape(1080, 1920, 3072) == (1728, 3072)
    assert letterbox_shape(1920, 1080, 640) == (640, 384)  # portrait
