"""Config files an attacker or a slip of the hand could write: they fail fast with a clear message naming the
field, never hang, never lose a camera silently, never end in a traceback (models/yaml_file.py)."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from api.cli import DEMO_CONFIG, config_secrets
from models.config import ConfigError, load_config, parse_config
from models.yaml_file import MAX_FILE_BYTES

ENV = {"XUELIANG_DEMO_RTSP": "rtsp://admin:s3cret@127.0.0.1:8554"}
CAM = "34020000001320000001"
DEMO_TEXT = DEMO_CONFIG.read_text(encoding="utf-8")


def billion_laughs(levels: int = 9) -> str:
    """9 levels of 9 aliases each: a few hundred bytes that expand to 9**9 (387 million) strings."""
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "district.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_config(path, environ=ENV)
    assert str(error.value).startswith(f"{path}: invalid configuration")
    return error.value.problems


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(billion_laughs(), id="top-level"),
        # inside an unknown key: the loader must not expand it before validation reports the key
        pytest.param(DEMO_TEXT + "extras:\n" + "".join(f"  {line}\n" for line in billion_laughs().splitlines()),
                     id="inside-unknown-key"),
    ],
)  # fmt: skip
def test_billion_laughs_fails_fast(tmp_path, text):
    started = time.monotonic()
    problems = problems_of(write(tmp_path, text))
    assert time.monotonic() - started < 5  # before: minutes and 2.5 GB
    assert problems == ["anchors and aliases expand the document by more than 100,000 values"]


def test_billion_laughs_fails_check_config_cli(tmp_path):
    path = write(tmp_path, billion_laughs())
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "anchors and aliases expand the document" in result.stderr and "Traceback" not in result.stderr


def test_reasonable_aliases_still_work(tmp_path):
    # one stream section shared by both demo cameras: what anchors are for
    text = DEMO_TEXT.replace("    analysis_fps: 1\n", "    analysis_fps: 1\n    stream: &stream {stall_timeout_s: 7.5}\n", 1)
    text = text.replace("    analysis_fps: 2\n", "    analysis_fps: 2\n    stream: *stream\n", 1)
    config = load_config(write(tmp_path, text), environ=ENV)
    assert config.cameras["34020000001320000002"].stream.stall_timeout_s == 7.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [*a]\n", "line 1: an anchor is used inside itself (recursive alias)"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "line 1: nested deeper than 64 levels"),
        ("a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n",
         "nested deeper than 64 levels (aliases expanded)"),
        ("a: " + "1" * 5000 + "\n", "not valid YAML: Exceeds the limit (4300 digits)"),
        ("a: 2026-13-45\n", "not valid YAML: month must be in 1..12"),
        ("a: !!python/object:os.system {}\n", "not valid YAML: could not determine a constructor"),
    ],
)  # fmt: skip
def test_hostile_yaml_is_a_config_error(tmp_path, text, expected):
    assert expected in problems_of(write(tmp_path, text))[0]


def test_non_utf8_file_is_a_clear_error(tmp_path):
    path = write(tmp_path, DEMO_TEXT.encode("gb18030"))  # a Chinese config saved in the local code page
    problems = problems_of(path)
    assert len(problems) == 1 and problems[0].startswith("not UTF-8 text: byte 0x")
    assert "save the file as UTF-8" in problems[0]


def test_oversized_file_is_refused_without_parsing(tmp_path):
    path = write(tmp_path, DEMO_TEXT + "#" * MAX_FILE_BYTES + "\n")
    started = time.monotonic()
    assert problems_of(path) == ["the file is larger than 8 MiB"]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the same camera id twice: YAML keeps the second one, the first camera vanishes
        (DEMO_TEXT.replace('  "34020000001320000002":', f'  "{CAM}":'), f"cameras.{CAM}: duplicate key (line "),
        (DEMO_TEXT.replace("    analysis_fps: 1", "    analysis_fps: 1\n    analysis_fps: 3", 1),
         f"cameras.{CAM}.analysis_fps: duplicate key"),
        (DEMO_TEXT + "store:\n  data_dir: x\n", "store: duplicate key"),
        ("a:\n  - {x: 1, x: 2}\n", "a.0.x: duplicate key (line 2)"),
    ],
)  # fmt: skip
def test_duplicate_keys_name_their_path(tmp_path, text, expected):
    assert text != DEMO_TEXT
    assert any(expected in p for p in problems_of(write(tmp_path, text)))


def test_merge_keys_may_override(tmp_path):
    from models.yaml_file import parse_yaml

    assert parse_yaml("base: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n")["c"] == {"x": 3, "y": 2}


def with_polygon(coordinates: object, kind: str = "Polygon") -> dict:
    raw = yaml.safe_load(DEMO_TEXT)
    raw = copy.deepcopy(raw)
    raw["grid"]["root"]["children"][0]["polygon"] = {"type": kind, "coordinates": coordinates}
    return raw


WHERE = "grid.root.children.0.polygon"


@pytest.mark.parametrize(
    ("coordinates", "kind", "expected"),
    [
        ([[[120.1, 30.2], [120.2, 30.2]]], "Polygon", f"{WHERE}: coordinates.0: a ring needs at least 4 positions"),
        ([[[120.1, 30.2], [120.2, 30.2], [120.2, 30.3], [120.1, 30.3]]], "Polygon",
         f"{WHERE}: coordinates.0: the ring is not closed"),
        ([[[120.1, 30.2], [120.2, 30.3], [120.2, 30.2], [120.1, 30.3], [120.1, 30.2]]], "Polygon",
         f"{WHERE}: not a valid polygon: Self-intersection"),
        ([[["120.1", 30.2], [120.2, 30.2], [120.2, 30.3], [120.1, 30.2]]], "Polygon",
         f"{WHERE}: coordinates.0.0: a position is [longitude, latitude] in numbers"),
        ([[[30.2, 120.1], [30.3, 120.1], [30.3, 120.2], [30.2, 120.1]]], "Polygon",
         f"{WHERE}: coordinates.0.0: longitude must be within ±180 and latitude within ±90"),
        ([1, 2], "Polygon", f"{WHERE}: coordinates.0: a ring needs at least 4 positions"),
        ([], "Polygon", f"{WHERE}: coordinates: a polygon is a non-empty list of rings"),
        ([], "MultiPolygon", f"{WHERE}: coordinates: a MultiPolygon needs at least one polygon"),
        ([[[[120.1, 30.2], [120.2, 30.2]]]], "MultiPolygon", f"{WHERE}: coordinates.0.0: a ring needs"),
    ],
)  # fmt: skip
def test_bad_grid_polygons_name_the_field(coordinates, kind, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(with_polygon(coordinates, kind), environ=ENV)
    assert any(p.startswith(expected) for p in error.value.problems), error.value.problems
    assert "(root)" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.7:99999/live", "the port must be a number from 1 to 65535"),
        ("rtsp://admin:s3cret@10.0.0.7:0/live", "the port must be a number from 1 to 65535"),
        ("rtsp://admin:s3cret@10.0.0.7:ab/live", "the port must be a number from 1 to 65535"),
        ("rtsp://admin:s3cret@/live", "a rtsp:// URL needs a host"),
        ("rtsp://admin:s3cret@[::1/live", "Invalid IPv6 URL"),
        ("", "must not be empty"),
    ],
)
def test_malformed_camera_url_names_the_field_not_the_secret(url, expected):
    raw = yaml.safe_load(DEMO_TEXT)
    raw["cameras"][CAM]["url"] = url
    with pytest.raises(ConfigError) as error:
        parse_config(raw, environ=ENV)
    assert f"cameras.{CAM}.url: " in str(error.value) and expected in str(error.value)
    assert "s3cret" not in str(error.value)


def test_malformed_record_url_names_the_field_not_the_secret():
    raw = yaml.safe_load(DEMO_TEXT)
    raw["cameras"][CAM]["record_url"] = "rtsp://admin:s3cret@10.0.0.7:0/main"
    with pytest.raises(ConfigError) as error:
        parse_config(raw, environ=ENV)
    assert f"cameras.{CAM}.record_url: " in str(error.value) and "the port must be" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_record_url_is_optional_and_kept_secret():
    raw = yaml.safe_load(DEMO_TEXT)
    assert parse_config(raw, environ=ENV).cameras[CAM].record_url is None  # one stream, as before
    raw["cameras"][CAM]["record_url"] = "rtsp://admin:s3cret@10.0.0.7:554/main"
    camera = parse_config(raw, environ=ENV).cameras[CAM]
    assert camera.record_url is not None and camera.record_url.get_secret_value().endswith("/main")
    assert "s3cret" not in repr(camera) and "s3cret" not in camera.model_dump_json()
    raw["cameras"][CAM]["record_url"] = "rtsp://rec:only-in-record-url@10.0.0.7:554/main"
    assert "only-in-record-url" in config_secrets(parse_config(raw, environ=ENV))  # scrubbed from the logs


@pytest.mark.parametrize("url", ["rtsp://admin:s3cret@10.0.0.7:554/live", "rtsp://10.0.0.7/live", "clip.mp4",
                                 "file:///srv/clips/a.mp4", "rtsps://[::1]:322/x"])  # fmt: skip
def test_good_camera_urls_pass(url):
    raw = yaml.safe_load(DEMO_TEXT)
    raw["cameras"][CAM]["url"] = url
    assert parse_config(raw, environ=ENV).cameras[CAM].url.get_secret_value() == url
