import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from api.cli import DEMO_CONFIG
from models.config import ConfigError, load_config, parse_config

ENV = {"XUELIANG_DEMO_RTSP": "rtsp://admin:s3cret@127.0.0.1:8554"}
CAM = "34020000001320000001"


@pytest.fixture
def raw():
    return yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))


def with_change(raw, path, value):
    raw = copy.deepcopy(raw)
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return raw


DELETE = object()


def test_demo_config_is_valid(raw):
    config = parse_config(raw, environ=ENV)
    assert config.camera_grid_cell(CAM) == "330106001001001"  # found by point-in-polygon
    assert config.camera_grid_cell("34020000001320000002") == "330106001001002"  # given
    assert config.cameras[CAM].url.get_secret_value() == "rtsp://admin:s3cret@127.0.0.1:8554/pedestrians"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.cameras[CAM])


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (f"cameras.{CAM}.analysis_fpz", 2, f"cameras.{CAM}.analysis_fpz: Extra inputs are not permitted"),
        (f"cameras.{CAM}.rules.crowd.min_peple", 3, f"cameras.{CAM}.rules.crowd.min_peple: Extra inputs"),
        (f"cameras.{CAM}.rules.crowd.min_people", 0, f"cameras.{CAM}.rules.crowd.min_people: Input should be greater"),
        (f"cameras.{CAM}.analysis_fps", "fast", f"cameras.{CAM}.analysis_fps: Input should be a valid number"),
        (f"cameras.{CAM}.grid_cell", "330106009009009", "unknown grid cell '330106009009009'"),
        (f"cameras.{CAM}.lat", 31.5, f"cameras.{CAM}.grid_cell: no grid cell polygon contains"),
        (f"cameras.{CAM}.rules.crowd.zone", "plaza", "unknown zone 'plaza'"),
        (f"cameras.{CAM}.rules.crowd.category", "nope", f"cameras.{CAM}.rules.crowd.category: unknown category"),
        (f"cameras.{CAM}.rules.crowd.model", "fire_smoke", "model 'fire_smoke' gives no ['person'] labels"),
        (f"cameras.{CAM}.url", DELETE, f"cameras.{CAM}.url: Field required"),
        ("cameras.34020000001180000001", {"name": "x", "url": "rtsp://h/x", "grid_cell": "330106001001001"},
         "has type '118'; a camera is 131 or 132"),
        ("cameras.1234", {"name": "x", "url": "rtsp://h/x", "grid_cell": "330106001001001"}, "20-digit GB/T 28181"),
        ("cameras.bad id!", {"name": "x", "url": "rtsp://h/x", "grid_cell": "330106001001001"}, "camera id 'bad id!'"),
        ("grid.root.children.0.code", "330107001", "must start with its parent's code '330106'"),
        ("grid.root.children.0.code", "3301060010", "must have 9 digits"),
        ("grid.root.children.1.code", "330106001", "duplicate grid code"),
        ("event_categories.fire_hazard.severity_bands", [{"severity": "A", "min_magnitude": 5}], "band with min_magnitude 0"),
        ("event_categories.fire_hazard.severity_bands.0.severity", "D", "severity: Input should be 'A', 'B' or 'C'"),
        ("models.people.sha256", "abc", "models.people.sha256: String should match pattern"),
        ("models.people.path", "/tmp/x.pt", "give either `path`, or both `package` and `resource`"),
        ("models.people.type", "tensorrt", "models.people.type: unknown type 'tensorrt'; give one of: ultralytics"),
        ("models.people.type", DELETE, "models.people.type: required; give one of: ultralytics"),
        # a model class mapped to a label outside the declared set (models/labels.py), alone or in a list
        ("models.people.labels.Normal", "persn", "models.people.labels.Normal: unknown label 'persn'; the domain labels are person,"),
        ("models.people.labels.Fall", ["person", "falling"], "models.people.labels.Fall: unknown label 'falling'"),
        ("models.people.labels.Fall", [], "models.people.labels.Fall: give at least one domain label"),
        ("models.people.labels.Fall", ["person", 3], "models.people.labels.Fall: give a domain label, or a list of them"),
        ("models.fire_smoke.labels.fire", "flame", "models.fire_smoke.labels.fire: unknown label 'flame'"),
        (f"cameras.{CAM}.rules.intrusion", {"zone": "walkway", "labels": ["person", "dog"]},
         f"cameras.{CAM}.rules.intrusion.labels.1: unknown label 'dog'"),
        (f"cameras.{CAM}.rules.vehicle_dwell", {"zone": "walkway", "labels": ["van"]},
         f"cameras.{CAM}.rules.vehicle_dwell.labels.0: unknown label 'van'"),
        (f"cameras.{CAM}.rules.fire_smoke", {"min_hits": 9, "window_frames": 5}, "min_hits (9) cannot exceed window_frames (5)"),
        ("store.data_dirr", "x", "store.data_dirr: Extra inputs are not permitted"),
        # the rules of the event catalogue and their shared knobs
        (f"cameras.{CAM}.rules.intrusion", {"zone": "plaza"}, f"cameras.{CAM}: rules.intrusion.zone: unknown zone 'plaza'"),
        (f"cameras.{CAM}.rules.loitering", {"zone": "pond"}, f"cameras.{CAM}: rules.loitering.zone: unknown zone 'pond'"),
        (f"cameras.{CAM}.rules.line_crossing", {"line": "gate"},
         f"cameras.{CAM}: rules.line_crossing.line: unknown line 'gate' (lines: ['sign_post'])"),
        (f"cameras.{CAM}.lines", {"gate": {"points": [[0, 0]]}}, f"cameras.{CAM}.lines.gate.points: List should have at least 2 items"),
        (f"cameras.{CAM}.rules.crowd.schedule", [{"start": "09:00", "end": "08:00"}],
         f"cameras.{CAM}.rules.crowd.schedule.0: the window ends (08:00) before it starts (09:00)"),
        (f"cameras.{CAM}.rules.crowd.schedule", [{"days": ["monday"], "start": "09:00", "end": "10:00"}],
         f"cameras.{CAM}.rules.crowd.schedule.0.days.0: Input should be 'mon'"),
        (f"cameras.{CAM}.rules.crowd.schedule", [{"start": "9am", "end": "10:00"}], f"cameras.{CAM}.rules.crowd.schedule.0.start"),
        (f"cameras.{CAM}.rules.intrusion", {"zone": "walkway", "labels": ["car"]},
         f"cameras.{CAM}.rules.intrusion.model: model 'people' gives no ['car'] labels"),
        (f"cameras.{CAM}.rules.intrusion", {"zone": "walkway", "model": "nope"}, f"cameras.{CAM}.rules.intrusion.model: unknown model 'nope'"),
        (f"cameras.{CAM}.rules.crowd.sensitivity", "extreme", f"cameras.{CAM}.rules.crowd.sensitivity: Input should be 'low', 'medium' or 'high'"),
        (f"cameras.{CAM}.rules.crowd.severity_bands", [{"severity": "A", "min_magnitude": 3}], "band with min_magnitude 0"),
        (f"cameras.{CAM}.rules.loitering", {"zone": "walkway", "min_total_s": 60, "window_s": 30},
         "window_s (30.0) cannot be shorter than min_total_s (60.0)"),
        (f"cameras.{CAM}.rules.vehicle_dwell", {"zone": "walkway", "model": "people"},
         f"cameras.{CAM}.rules.vehicle_dwell.model: model 'people' gives no ['bus', 'car', 'motorcycle', 'truck'] labels"),
        (f"cameras.{CAM}.rules.vehicle_dwell", {"zone": "kerb"}, f"cameras.{CAM}: rules.vehicle_dwell.zone: unknown zone 'kerb'"),
        (f"cameras.{CAM}.rules.vehicle_dwell", {"zone": "walkway", "max_shift": 0}, f"cameras.{CAM}.rules.vehicle_dwell.max_shift"),
        (f"cameras.{CAM}.timezone", "Mars/Olympus", f"cameras.{CAM}.timezone: unknown time zone 'Mars/Olympus'"),
        (f"cameras.{CAM}.tracking", {"tracker": "deepsort"}, f"cameras.{CAM}.tracking.tracker: Input should be"),
    ],
)  # fmt: skip
def test_config_errors_name_the_field(raw, path, value, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(with_change(raw, path, value), environ=ENV)
    assert expected in str(error.value)


def test_the_event_catalogue_in_the_demo_config(raw):
    config = parse_config(raw, environ=ENV)
    camera = config.cameras[CAM]
    assert camera.rules.intrusion is not None and camera.rules.intrusion.zone in camera.zones
    assert camera.rules.line_crossing is not None and camera.rules.line_crossing.line in camera.lines
    for code in ("zone_intrusion", "loitering", "line_crossing"):
        assert code in config.event_categories


def test_missing_environment_variable_names_the_field(raw):
    with pytest.raises(ConfigError) as error:
        parse_config(raw, environ={})
    assert f"cameras.{CAM}.url: environment variable XUELIANG_DEMO_RTSP is not set" in str(error.value)


def test_several_problems_are_all_reported(raw):
    bad = with_change(with_change(raw, f"cameras.{CAM}.analysis_fps", -1), "server.port", 70000)
    with pytest.raises(ConfigError) as error:
        parse_config(bad, environ=ENV)
    assert f"cameras.{CAM}.analysis_fps" in str(error.value) and "server.port" in str(error.value)


@pytest.mark.parametrize(("text", "expected"), [("", "must be a mapping"), ("a: [1,", "not valid YAML"), ("- 1", "must be a mapping")])
def test_unreadable_files(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path, environ=ENV)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")


def test_severity_bands(raw):
    config = parse_config(raw, environ=ENV)
    crowd = config.event_categories["crowd_gathering"]
    assert [crowd.severity_for(m) for m in (0, 19.9, 20, 49, 50, 500)] == ["C", "C", "B", "B", "A", "A"]


def test_check_config_cli_exit_codes(tmp_path, raw):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_change(raw, f"cameras.{CAM}.rules.crowd.min_peple", 3), allow_unicode=True))
    cli = [sys.executable, "-m", "api.cli", "check-config"]
    result = subprocess.run([*cli, str(bad)], capture_output=True, text=True, env={"XUELIANG_DEMO_RTSP": "rtsp://x"})
    assert result.returncode == 2
    assert f"cameras.{CAM}.rules.crowd.min_peple: Extra inputs are not permitted" in result.stderr
    bad.write_text(yaml.safe_dump(with_change(raw, f"cameras.{CAM}.rules.line_crossing.line", "exit"), allow_unicode=True))
    result = subprocess.run([*cli, str(bad)], capture_output=True, text=True, env={"XUELIANG_DEMO_RTSP": "rtsp://x"})
    assert result.returncode == 2 and "rules.line_crossing.line: unknown line 'exit'" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text(DEMO_CONFIG.read_text(encoding="utf-8"))
    result = subprocess.run([*cli, str(good)], capture_output=True, text=True,
                            env={"XUELIANG_DEMO_RTSP": "rtsp://u:pw@h"}, cwd=Path(__file__).parents[2])  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "330106001001001" in result.stdout and "pw" not in result.stdout


VEHICLES_SHA256 = "c8c5ea2b540cee6763aaef944109e710e9be2ee0de6549cff1fd0bae932d6ee6"


@pytest.mark.parametrize(
    ("weights", "sha256", "expected"),
    [
        ("missing.tflite", VEHICLES_SHA256, "models.vehicles.path: model 'vehicles': weights file"),
        ("other.tflite", VEHICLES_SHA256, "models.vehicles.path: model 'vehicles': "),
    ],
)
def test_check_config_says_when_a_rules_model_file_is_missing_or_not_the_configured_one(tmp_path, raw, weights,
                                                                                        sha256, expected):  # fmt: skip
    (tmp_path / "other.tflite").write_bytes(b"not the configured weights")
    raw = with_change(raw, "models.vehicles", {"type": "ultralytics", "path": str(tmp_path / weights),
                                               "sha256": sha256, "labels": {"car": "car", "truck": "truck",
                                                                            "bus": "bus", "motorcycle": "motorcycle"}})  # fmt: skip
    raw = with_change(raw, f"cameras.{CAM}.rules.vehicle_dwell", {"zone": "walkway"})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    result = subprocess.run([sys.executable, "-m", "api.cli", "check-config", str(config)], capture_output=True,
                            text=True, env={"XUELIANG_DEMO_RTSP": "rtsp://x"}, cwd=Path(__file__).parents[2])  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert expected in result.stderr
    serve = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--config", str(config), "--port", "0"],
                           capture_output=True, text=True, env={"XUELIANG_DEMO_RTSP": "rtsp://x"},
                           cwd=Path(__file__).parents[2], timeout=120)  # fmt: skip
    assert serve.returncode == 3 and f"cannot start: {expected}" in serve.stderr  # the service says it at start too
    if weights == "other.tflite":
        assert f"config expects {VEHICLES_SHA256}" in result.stderr


def test_every_config_field_is_described():
    import inspect

    from pydantic import BaseModel

    import models.config

    config_models = [o for o in vars(models.config).values() if inspect.isclass(o) and issubclass(o, BaseModel)]
    assert len(config_models) > 30
    for model in config_models:
        undescribed = [name for name, field in model.model_fields.items() if not field.description]
        assert not undescribed, f"{model.__name__}: {undescribed}"


def test_the_grid_tree_imports_no_config():
    """models/grid.py is the domain's grid tree; the config builds it (GridConfig.tree()), never the other way."""
    script = "import sys, models.grid; assert 'models.config' not in sys.modules, sorted(sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1000:]


def test_the_grid_tree_is_built_from_the_config(raw):
    tree = parse_config(raw, environ=ENV).grid.tree()
    root = tree.get(tree.root_code)
    assert root is not None and root.parent_code is None and root.level == "district"
    leaf = tree.get("330106001001001")
    assert leaf is not None and [cell.code for cell in tree.path(leaf.code)][0] == tree.root_code
    assert leaf.level == "grid" and leaf.geometry is not None
