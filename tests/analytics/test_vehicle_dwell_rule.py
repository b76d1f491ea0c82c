import pytest

from analytics.events import EventPhase
from analytics.rules.site import RuleSite
from analytics.rules.vehicle_dwell import VehicleDwellRule
from analytics.zones import Zone
from models.config import VehicleDwellRuleConfig, ZoneConfig
from tests.analytics.helpers import detections, observe
from tests.conftest import ASSETS

# The no-parking zone: x < 320 of a 640x480 frame. A vehicle is a 100x60 box placed by its bottom-centre x.
SITE = RuleSite({"kerb": Zone.from_config("kerb", ZoneConfig(polygon=[(0, 0), (320, 0), (320, 480), (0, 480)]))},
                {}, 1.0)  # fmt: skip
STEP = 10.0  # one observation every 10 s


def vehicles(xs, label="car", confidence=0.8):
    return detections([(x - 50, 340, x + 50, 400) for x in xs], label, confidence)


def run(rule, frames, label="car"):
    """Each frame lists the bottom-centre x of the vehicles seen; observations STEP s apart."""
    out = []
    for n, xs in enumerate(frames):
        event = rule.observe(observe(n * STEP, {"vehicles": vehicles(xs, label)}))
        if event is not None:
            out.append((n * STEP, event.phase, event.count))
    return out


def rule(**overrides):
    config = VehicleDwellRuleConfig(zone="kerb", min_stationary_s=60, clear_s=30, **overrides)
    return VehicleDwellRule(config, SITE)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([], []),  # empty input
        ([[]] * 10, []),  # no vehicle
        ([[100]] * 6, []),  # parked 50 s: shorter than T (60 s)
        ([[100]] * 8, [(60.0, EventPhase.OPENED, 1)]),  # parked long enough opens at T
        ([[100 + (4 if n % 2 else -4)] for n in range(8)], [(60.0, EventPhase.OPENED, 1)]),  # jitter of a few px is standing still
        ([[20 + 30 * n] for n in range(10)], []),  # a vehicle moving slowly through the zone never opens
        ([[500]] * 10, []),  # parked outside the no-parking zone
        # parked, then leaves: closes once unseen for clear_s (30 s) after its last sighting at 70 s
        ([[100]] * 8 + [[]] * 5, [(60.0, EventPhase.OPENED, 1), (110.0, EventPhase.CLOSED, 1)]),
        # hidden for 20 s (a bus in front) while parking: still one vehicle standing since 0 s
        ([[100]] * 3 + [[]] * 2 + [[100]] * 3, [(60.0, EventPhase.OPENED, 1)]),
        # a second vehicle parks later: an update with two parked
        ([[100]] * 3 + [[100, 250]] * 7, [(60.0, EventPhase.OPENED, 1), (90.0, EventPhase.UPDATED, 2)]),
    ],
)  # fmt: skip
def test_vehicle_dwell(frames, expected):
    assert run(rule(), frames) == expected


def test_creeping_restarts_the_clock():
    # 6 px per 10 s: within max_shift (10 % of 100 px) for a while, then beyond it: the 60 s start again from there
    frames = [[100 + 6 * n] for n in range(12)]
    assert run(rule(), frames) == []


def test_a_van_that_is_car_then_truck_is_one_vehicle_and_other_labels_do_not_count():
    r = rule()
    out = []
    for n in range(8):
        event = r.observe(observe(n * STEP, {"vehicles": vehicles([100], "car" if n % 2 else "truck")}))
        if event is not None:
            out.append((n * STEP, event.phase))
    assert out == [(60.0, EventPhase.OPENED)]
    assert run(rule(), [[100]] * 8, label="person") == []


def test_the_opening_carries_minutes_parked_and_the_evidence():
    r = rule()
    events = [r.observe(observe(n * STEP, {"vehicles": vehicles([100, 600])})) for n in range(13)]
    opened = [e for e in events if e is not None]
    assert len(opened) == 1 and opened[0].phase is EventPhase.OPENED
    assert opened[0].magnitude == 1.0  # minutes
    assert opened[0].evidence is not None and len(opened[0].evidence.detections) == 1  # the one in the zone


def test_a_vehicle_hidden_when_t_is_reached_opens_with_its_last_box_as_evidence():
    r = rule()
    events = [r.observe(observe(n * STEP, {"vehicles": vehicles([100] if n < 5 else [])})) for n in range(7)]
    opened = [e for e in events if e is not None]
    assert [e.phase for e in opened] == [EventPhase.OPENED]  # at 60 s, unseen since 40 s (within clear_s)
    assert opened[0].evidence is not None and opened[0].evidence.detections.xyxy.tolist() == [[50, 340, 150, 400]]


# The real model on real footage: vtest.avi's parked van (a grey van at the top right, 768x576, standing all 80 s;
# yolov8n calls it a truck) with the COCO detector configured by path and sha256, as a user would.
VEHICLES_MODEL = ASSETS / "models" / "yolov8n_int8.tflite"
VTEST = ASSETS / "clips" / "crowd_elevated_opencv_vtest.avi"
VAN_ZONE = [(630, 30), (730, 30), (730, 115), (630, 115)]  # the van's bottom-centre; the car beside it is outside


@pytest.mark.skipif(not (VEHICLES_MODEL.is_file() and VTEST.is_file()),
                    reason="needs ../shared/assets (yolov8n_int8.tflite and vtest.avi)")  # fmt: skip
def test_the_real_coco_model_finds_vtests_parked_van():
    import cv2

    from analytics.detector import UltralyticsDetector
    from models.config import UltralyticsModelConfig

    detector = UltralyticsDetector("vehicles", UltralyticsModelConfig(
        type="ultralytics", path=VEHICLES_MODEL, sha256="c8c5ea2b540cee6763aaef944109e710e9be2ee0de6549cff1fd0bae932d6ee6",
        labels={name: name for name in ("person", "car", "truck", "bus", "motorcycle")},
    ))  # fmt: skip
    zones = {"van": Zone.from_config("van", ZoneConfig(polygon=VAN_ZONE)),
             "street": Zone.from_config("street", ZoneConfig(polygon=[(0, 200), (768, 200), (768, 576), (0, 576)]))}  # fmt: skip
    site = RuleSite(zones, {}, 2.0)
    van = VehicleDwellRule(VehicleDwellRuleConfig(zone="van", min_stationary_s=20), site)
    street = VehicleDwellRule(VehicleDwellRuleConfig(zone="street", min_stationary_s=20), site)
    capture = cv2.VideoCapture(str(VTEST))
    events: dict[str, list] = {"van": [], "street": []}
    number = 0
    while number < 300:  # the first 30 s at 2 fps (every 5th of 10 fps)
        ok, image = capture.read()
        if not ok:
            break
        if number % 5 == 0:
            t = number / 10.0
            found = {"vehicles": detector.detect(image)}
            for name, rule in (("van", van), ("street", street)):
                event = rule.observe(observe(t, found))
                if event is not None:
                    events[name].append((t, event))
        number += 1
    capture.release()
    assert [(t, e.phase) for t, e in events["van"]] == [(20.0, EventPhase.OPENED)]
    box = events["van"][0][1].evidence.detections.xyxy[0]
    assert 640 < (box[0] + box[2]) / 2 < 730 and 80 < box[3] < 115  # the van, not the car at the frame's edge
    assert events["street"] == []  # no vehicle on the pedestrian street
