"""The hand-written labels format: what it accepts, and every mistake named with its field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.ground_truth import LabelsError, load_labels, parse_labels
from analytics.scoring import CountLabel, LabelledEvent
from models.config import load_config

BENCH = Path(__file__).resolve().parents[2] / "bench" / "replay"


def test_labels_are_found_by_file_name_from_any_folder():
    labels = parse_labels(
        {
            "clips": {
                "gate.mp4": {
                    "camera": "cam-1",
                    "events": [{"type": "fire_smoke", "start": 1.5, "end": 9, "zone": "yard", "note": "smoke"}],
                    "people": {20: 3, 5: 6},
                },
                "empty.avi": {},
            }
        }
    )
    gate = labels.for_clip("/any/folder/gate.mp4")
    assert gate is not None and gate.camera == "cam-1"
    assert gate.event_labels() == [LabelledEvent("fire_smoke", 1.5, 9.0, "yard")]
    assert gate.count_labels() == [CountLabel(5.0, 6), CountLabel(20.0, 3)]  # sorted by time
    empty = labels.for_clip(Path("empty.avi"))
    assert empty is not None and empty.event_labels() == [] and empty.count_labels() == []
    assert labels.for_clip("other.mp4") is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([], "(root): the labels file must be a mapping"),
        ({}, "clips: Field required"),
        ({"clips": {"a.mp4": {"events": [{"type": "flood", "start": 0, "end": 1}]}}}, "clips.a.mp4.events.0.type"),
        ({"clips": {"a.mp4": {"events": [{"type": "crowd", "start": 5, "end": 1}]}}}, "end (1.0) is before start"),
        ({"clips": {"a.mp4": {"events": [{"type": "crowd", "start": -1, "end": 1}]}}}, "clips.a.mp4.events.0.start"),
        ({"clips": {"a.mp4": {"events": [{"type": "crowd", "start": 0, "end": 1, "colour": "red"}]}}},
         "clips.a.mp4.events.0.colour: Extra inputs"),
        ({"clips": {"a.mp4": {"people": {5: -2}}}}, "must not be negative"),
        ({"clips": {"a.mp4": {"people": {"soon": 2}}}}, "clips.a.mp4.people.soon"),
        ({"clips": {"clips/a.mp4": {}}}, "without a folder"),
        ({"clips": {"a.mp4": {"camrea": "x"}}}, "clips.a.mp4.camrea: Extra inputs"),
    ],
)  # fmt: skip
def test_mistakes_are_errors_with_the_field_path(raw, problem):
    with pytest.raises(LabelsError) as error:
        parse_labels(raw, source="labels.yaml")
    assert problem in str(error.value)
    assert str(error.value).startswith("labels.yaml: invalid labels")


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(LabelsError, match="cannot read the file"):
        load_labels(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("clips: {a.mp4: [", encoding="utf-8")
    with pytest.raises(LabelsError, match="not valid YAML"):
        load_labels(broken)


def test_the_bench_labels_parse_and_name_cameras_of_the_bench_config():
    labels = load_labels(BENCH / "labels.yaml")
    config = load_config(BENCH / "config.yaml")
    assert len(labels.clips) == 16  # the six clips of the assets, the four of bench/replay/extra_clips.sh, six
    # camera-tamper clips made from vtest (ingest/demo/tamper.py)
    assert {"street_1080p_vtest_mosaic.mp4", "market_street_1906_sample.mp4", "tamper_cover_vtest.mp4"} <= set(labels.clips)
    for name, clip in labels.clips.items():
        assert clip.camera in config.cameras, name
        assert all(camera in config.cameras for camera in clip.also_as), name
        if clip.people:
            assert config.cameras[clip.camera].rules.crowd is not None, name
        for event in clip.events:  # every labelled type is run by one of the cameras the clip is replayed as
            runs = {rule for camera in [clip.camera, *clip.also_as] for rule, _ in config.cameras[camera].rules.enabled()}
            assert event.type in runs, (name, event.type)
    fire_clips = [name for name, clip in labels.clips.items() if any(e.type == "fire_smoke" for e in clip.events)]
    assert sorted(fire_clips) == [
        "fire_indoor_cctv_home_battery.mp4", "fire_indoor_cctv_lockers.mp4", "fire_outdoor_grass_burn.mp4",
    ]  # fmt: skip
