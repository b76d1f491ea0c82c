"""A replay's recorded frames: what frames.jsonl holds of each analysed frame, and a frame rebuilt from it for
re-running a rule on recorded detections (bench/replay/tune_fire.py, crowd_thresholds.py). Pure: no clip, no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.detector import LABEL_KEY
from analytics.replay import FrameRecord, RecordedDetection, observation_of

BENCH_FRAMES = Path(__file__).resolve().parents[2] / "bench" / "replay" / "frames.jsonl"
SMOKE = RecordedDetection(x1=419.6, y1=336.6, x2=442.4, y2=396.8, confidence=0.2539, label="smoke")
PERSON = RecordedDetection(x1=57.6, y1=491.2, x2=169.9, y2=557.4, confidence=0.5134, label="person")


def record(**detections: list[RecordedDetection]) -> FrameRecord:
    return FrameRecord(t=1.5, frame_id=3, width=768, height=576, detections=detections, values={"people": 1})


@pytest.mark.parametrize(
    ("detections", "written"),
    [
        ({}, {}),  # a camera whose rules read no model
        ({"people": []}, {"people": []}),  # the model ran and found nothing
        ({"people": [PERSON]}, {"people": [[57.6, 491.2, 169.9, 557.4, 0.5134, "person"]]}),
        (
            {"fire_smoke": [SMOKE], "people": [PERSON, PERSON]},
            {"fire_smoke": [[419.6, 336.6, 442.4, 396.8, 0.2539, "smoke"]],
             "people": [[57.6, 491.2, 169.9, 557.4, 0.5134, "person"]] * 2},
        ),  # fmt: skip
    ],
)
def test_a_frame_is_written_as_before_each_detection_a_list(detections: dict, written: dict) -> None:
    line = json.dumps(record(**detections).as_dict())

    assert json.loads(line) == {"t": 1.5, "frame_id": 3, "width": 768, "height": 576, "people": 1, "detections": written}


@pytest.mark.parametrize("detection", [SMOKE, PERSON])
def test_a_written_detection_reads_back_the_same(detection: RecordedDetection) -> None:
    assert RecordedDetection.from_list(json.loads(json.dumps(detection.as_list()))) == detection


@pytest.mark.parametrize(
    "row",
    [[], [1, 2, 3, 4, 0.5], [1, 2, 3, 4, 0.5, "person", "extra"], [1, 2, 3, "four", 0.5, "person"], [None] * 6],
)
def test_a_malformed_recorded_detection_is_refused_saying_what_a_row_is(row: list) -> None:
    with pytest.raises(ValueError, match=r"a recorded detection is \[x1, y1, x2, y2, confidence, label\], got"):
        RecordedDetection.from_list(row)


def test_the_benchs_recorded_frames_still_read() -> None:
    """bench/replay/frames.jsonl, written before detections were typed values, reads into them unchanged."""
    rows = [json.loads(line) for line in BENCH_FRAMES.read_text(encoding="utf-8").splitlines()[:50]]

    read = [[RecordedDetection.from_list(d) for d in row["detections"]["people"]] for row in rows]

    assert [[d.as_list() for d in found] for found in read] == [row["detections"]["people"] for row in rows]
    assert read[0][0] == PERSON


@pytest.mark.parametrize(
    ("found", "boxes", "labels"),
    [
        ([], [], []),  # nothing recorded: empty detections, still labelled
        ([SMOKE], [[419.6, 336.6, 442.4, 396.8]], ["smoke"]),
        ([SMOKE, PERSON], [[419.6, 336.6, 442.4, 396.8], [57.6, 491.2, 169.9, 557.4]], ["smoke", "person"]),
    ],
)
def test_an_observation_rebuilt_from_a_record_has_its_detections(
    found: list[RecordedDetection], boxes: list, labels: list[str]
) -> None:
    observation = observation_of(record(fire_smoke=found), "tune", "fire_smoke")

    detections = observation.detections["fire_smoke"]
    assert detections.xyxy.tolist() == boxes
    assert detections.data[LABEL_KEY].tolist() == labels
    assert (detections.confidence.tolist() if len(found) else []) == [d.confidence for d in found]
    assert (observation.camera_id, observation.timestamp) == ("tune", 1.5)
    assert observation.frame is not None and observation.frame.image.shape == (576, 768, 3)


def test_a_model_not_recorded_rebuilds_as_nothing_found() -> None:
    observation = observation_of(record(people=[PERSON]), "tune", "fire_smoke")

    assert len(observation.detections["fire_smoke"]) == 0
