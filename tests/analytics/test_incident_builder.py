"""Event → Incident on the demo configuration: where it is, what it is, how grave, who answers, by when; and how
an update or the end changes it (peaks and severity only grow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.events import Event, EventPhase
from analytics.incident_builder import IncidentBuilder
from models.config import ServiceConfig, parse_config
from models.incident import Incident, Severity
from tests.conftest import demo_raw_config

WALKWAY = "34020000001320000001"  # 宝石山下步行道: located by its coordinates (no grid_cell configured)
FIRE_LANE = "34020000001320000002"  # 宝石山仓库消防通道: configured in 宝石山第二网格
T0 = 1_790_000_000.0


def config_with(**walkway_rules: dict) -> ServiceConfig:
    raw = demo_raw_config()
    raw["cameras"][WALKWAY]["rules"].update(walkway_rules)
    return parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})


@pytest.fixture(scope="module")
def config() -> ServiceConfig:
    return config_with()


def event(phase: EventPhase, rule: str, category: str, camera_id: str, t: float, magnitude: float,
          count: int | None = None, confidence: float | None = None) -> Event:  # fmt: skip
    return Event(
        phase=phase, rule=rule, category=category, camera_id=camera_id, timestamp=t, magnitude=magnitude,
        count=count, confidence=confidence,
    )  # fmt: skip


def crowd(phase: EventPhase, t: float, count: int | None, confidence: float | None = 0.8) -> Event:
    magnitude = float(count) if count is not None else 0.0
    return event(phase, "crowd", "crowd_gathering", WALKWAY, t, magnitude, count, confidence)


@pytest.mark.parametrize(
    ("camera_id", "rule", "category", "magnitude", "expected"),
    [
        # crowd bands: C from 0, B from 20, A from 50 people
        (WALKWAY, "crowd", "crowd_gathering", 8, ("C", "人员聚集", "社会治安", "西湖区公安分局", 2)),
        (WALKWAY, "crowd", "crowd_gathering", 20, ("B", "人员聚集", "社会治安", "西湖区公安分局", 2)),
        (WALKWAY, "crowd", "crowd_gathering", 60, ("A", "人员聚集", "社会治安", "西湖区公安分局", 2)),
        # fire: never below B, A from 5 % of the frame; one hour to answer, by the fire brigade
        (FIRE_LANE, "fire_smoke", "fire_hazard", 1, ("B", "火灾隐患", "安全生产", "西湖区消防救援大队", 1)),
        (FIRE_LANE, "fire_smoke", "fire_hazard", 6, ("A", "火灾隐患", "安全生产", "西湖区消防救援大队", 1)),
        (FIRE_LANE, "camera_offline", "camera_fault", 0, ("C", "设备故障", "城市管理", "雪亮工程运维中心", 24)),
    ],
)
def test_an_opened_incident_is_categorised_graded_owned_and_due(
    config: ServiceConfig, camera_id: str, rule: str, category: str, magnitude: float, expected: tuple
) -> None:
    incident = IncidentBuilder(config).open(event(EventPhase.OPENED, rule, category, camera_id, T0, magnitude))

    severity, name, group, owner, hours = expected
    opened = datetime.fromtimestamp(T0, UTC)
    assert (incident.severity, incident.category_name, incident.category_group, incident.owner_department) == (
        Severity(severity), name, group, owner
    )  # fmt: skip
    assert (incident.rule, incident.category_code, incident.camera_id) == (rule, category, camera_id)
    assert (incident.opened_at, incident.updated_at, incident.closed_at) == (opened, opened, None)
    assert incident.deadline == opened + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("camera_id", "grid_code", "names", "lat_lon"),
    [
        # by its coordinates, point in the cell's polygon
        (WALKWAY, "330106001001001", ["西湖区", "北山街道", "宝石山社区", "宝石山第一网格"], (30.265, 120.135)),
        (FIRE_LANE, "330106001001002", ["西湖区", "北山街道", "宝石山社区", "宝石山第二网格"], (30.265, 120.145)),
    ],
)
def test_an_incident_is_located_on_its_cameras_grid_cell(
    config: ServiceConfig, camera_id: str, grid_code: str, names: list[str], lat_lon: tuple
) -> None:
    incident = IncidentBuilder(config).open(
        event(EventPhase.OPENED, "camera_offline", "camera_fault", camera_id, T0, 0)
    )

    assert incident.grid_code == grid_code
    assert [ref.name for ref in incident.grid_path] == names
    assert incident.grid_path[-1].code == grid_code and grid_code.startswith(incident.grid_path[0].code)
    assert (incident.lat, incident.lon) == lat_lon
    assert incident.camera_name == config.cameras[camera_id].name


@pytest.mark.parametrize(
    ("bands", "magnitude", "severity"),
    [
        (None, 12, Severity.C),  # the category's bands: B only from 20
        ([{"severity": "C", "min_magnitude": 0}, {"severity": "A", "min_magnitude": 10}], 12, Severity.A),
        ([{"severity": "C", "min_magnitude": 0}, {"severity": "A", "min_magnitude": 10}], 9, Severity.C),
    ],
)
def test_a_rule_may_grade_with_its_own_bands_on_its_camera(bands: list | None, magnitude: int, severity: Severity) -> None:
    crowd_rule = {"zone": "walkway", "min_people": 6}
    if bands is not None:
        crowd_rule["severity_bands"] = bands
    builder = IncidentBuilder(config_with(crowd=crowd_rule))

    assert builder.open(crowd(EventPhase.OPENED, T0, magnitude)).severity is severity


@pytest.mark.parametrize("is_test", [False, True])
def test_a_test_builder_marks_its_incidents(config: ServiceConfig, is_test: bool) -> None:
    assert IncidentBuilder(config, is_test=is_test).open(crowd(EventPhase.OPENED, T0, 8)).is_test is is_test


def test_every_incident_has_its_own_id(config: ServiceConfig) -> None:
    builder = IncidentBuilder(config)

    ids = {builder.open(crowd(EventPhase.OPENED, T0, 8)).id for _ in range(20)}

    assert len(ids) == 20


def life(builder: IncidentBuilder, counts: list[int | None], closed: bool) -> Incident:
    """Open on the first count, update on the others (one second apart), close after the last if `closed`."""
    incident = builder.open(crowd(EventPhase.OPENED, T0, counts[0]))
    for i, count in enumerate(counts[1:], start=1):
        incident = builder.apply(incident, crowd(EventPhase.UPDATED, T0 + i, count))
    if closed:
        incident = builder.apply(incident, crowd(EventPhase.CLOSED, T0 + len(counts), 0, confidence=None))
    return incident


@pytest.mark.parametrize(
    ("counts", "closed", "peak", "severity", "updated_s", "closed_s"),
    [
        ([8], False, 8, Severity.C, 0, None),  # opened only
        ([8], True, 8, Severity.C, 1, 1),  # closed with 0 people: the peak stays 8
        ([8, 25, 60], False, 60, Severity.A, 2, None),  # grows C -> B -> A
        ([60, 8], True, 60, Severity.A, 2, 2),  # a smaller crowd later never lowers the peak or the grade
        ([8, None], False, 8, Severity.C, 1, None),  # an update without a count keeps the peak
    ],
)
def test_updates_and_the_end_only_raise_peaks_and_severity(
    config: ServiceConfig, counts: list[int | None], closed: bool, peak: int, severity: Severity, updated_s: int,
    closed_s: int | None,
) -> None:  # fmt: skip
    incident = life(IncidentBuilder(config), counts, closed)

    assert (incident.peak_count, incident.severity, incident.peak_confidence) == (peak, severity, 0.8)
    assert incident.updated_at == datetime.fromtimestamp(T0 + updated_s, UTC)
    assert incident.closed_at == (datetime.fromtimestamp(T0 + closed_s, UTC) if closed_s is not None else None)


def test_applying_keeps_who_where_and_by_when(config: ServiceConfig) -> None:
    builder = IncidentBuilder(config)
    opened = builder.open(crowd(EventPhase.OPENED, T0, 8))

    closed = builder.apply(opened, crowd(EventPhase.CLOSED, T0 + 600, 0))

    kept = ("id", "grid_code", "grid_path", "owner_department", "deadline", "opened_at", "category_code", "is_test")
    assert {name: getattr(closed, name) for name in kept} == {name: getattr(opened, name) for name in kept}
