"""Where an incident really is: a calibrated camera whose view spans two grid cells puts each event in the cell where
its objects stand; the camera's own cell stays the fallback."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.events import Event, EventPhase, Evidence
from analytics.ground_plane import GroundPlane
from analytics.incident_builder import IncidentBuilder
from ingest.frames import VideoFrame
from models.config import GroundCalibrationConfig, parse_config
from tests.analytics.helpers import detections
from tests.conftest import demo_raw_config

CAM = "34020000001320000001"  # 宝石山下步行道, lon 120.135 lat 30.265: in 宝石山第一网格 (lon 120.13-120.14)
NEAR_CELL, FAR_CELL = "330106001001001", "330106001001002"  # 宝石山第二网格: lon 120.14-120.15
# The walkway seen from the west: the frame's bottom edge is near the camera, its far side (y = 200) across the
# cell border at lon 120.14.
GROUND = {
    "image_points": [[0, 576], [768, 576], [768, 200], [0, 200]],
    "map_points": [[120.1345, 30.2640], [120.1355, 30.2640], [120.1480, 30.2680], [120.1320, 30.2680]],
}
T0 = 1_790_000_000.0


def builder(ground: dict | None = GROUND) -> IncidentBuilder:
    raw = demo_raw_config()
    if ground is not None:
        raw["cameras"][CAM]["ground"] = ground
    return IncidentBuilder(parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://h"}))


def fire_at(boxes: list[tuple[float, float, float, float]], confidences: list[float] | None = None) -> Event:
    found = detections(boxes, "fire", 0.8)
    if confidences is not None:
        found.confidence = np.array(confidences)
    image = np.zeros((576, 768, 3), dtype=np.uint8)
    evidence = Evidence(VideoFrame(camera_id=CAM, frame_id=1, timestamp=T0, pts=None, image=image), found)
    return Event(
        phase=EventPhase.OPENED, rule="crowd", category="crowd_gathering", camera_id=CAM, timestamp=T0,
        magnitude=1.0, count=len(boxes), confidence=0.8, evidence=evidence,
    )  # fmt: skip


def test_the_calibration_maps_its_own_points_back():
    plane = GroundPlane(GroundCalibrationConfig(**GROUND))
    mapped = plane.to_map(np.array(GROUND["image_points"], dtype=float))
    assert np.allclose(mapped, np.array(GROUND["map_points"]), atol=1e-7)
    assert plane.to_map(np.empty((0, 2))).shape == (0, 2)


@pytest.mark.parametrize(
    ("box", "cell"),
    [
        ((700, 150, 740, 210), FAR_CELL),  # stands on the far side, right: across the border (lon > 120.14)
        ((350, 480, 420, 570), NEAR_CELL),  # stands near the camera
        ((20, 150, 60, 210), NEAR_CELL),  # far but left: still west of the border
    ],
)
def test_an_event_lands_in_the_cell_where_its_objects_stand(box, cell):
    incident = builder().open(fire_at([box]))
    assert incident.grid_code == cell and incident.grid_path[-1].code == cell
    cx, bottom = (box[0] + box[2]) / 2, box[3]
    lon, lat = GroundPlane(GroundCalibrationConfig(**GROUND)).to_map(np.array([[cx, bottom]]))[0]
    assert (incident.lon, incident.lat) == pytest.approx((lon, lat))  # the map point of its bottom-centre


def test_the_most_confident_object_places_the_event():
    incident = builder().open(fire_at([(350, 480, 420, 570), (700, 150, 740, 210)], confidences=[0.4, 0.9]))
    assert incident.grid_code == FAR_CELL


def test_without_objects_or_calibration_the_cameras_cell_and_place_stay():
    for incident in (builder().open(fire_at([])), builder(None).open(fire_at([(700, 150, 740, 210)]))):
        assert incident.grid_code == NEAR_CELL and (incident.lon, incident.lat) == (120.135, 30.265)


def test_a_point_outside_every_cell_keeps_the_cameras_cell():
    far_away = {**GROUND, "map_points": [[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.1]]}
    assert builder(far_away).open(fire_at([(700, 150, 740, 210)])).grid_code == NEAR_CELL


@pytest.mark.parametrize(
    ("ground", "message"),
    [
        ({**GROUND, "image_points": GROUND["image_points"][:3], "map_points": GROUND["map_points"][:3]},
         "image_points"),
        ({**GROUND, "map_points": GROUND["map_points"][:3] + GROUND["map_points"][:2]}, "must pair up"),
        ({**GROUND, "image_points": [[0, 0], [10, 10], [20, 20], [30, 30]]}, "no homography"),
        ({**GROUND, "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_a_wrong_calibration_names_its_field(ground, message):
    with pytest.raises(Exception, match=message) as error:
        builder(ground)
    assert "ground" in str(error.value)
