"""Replays end to end: real footage from the repo and Debian's opencv-doc, the real models, the real pipeline.

CI may have no ../shared/assets: the clips are the fire-stills clip built from the repo's CC BY 4.0 stills (every
still shows fire or smoke) and the first 20 s of vtest.avi (pedestrians, counted by hand for these labels).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics.ground_truth import parse_labels
from analytics.replay import REPLAY_EPOCH, ClipReplayer, ReplayInputError, ReplayPlan, parse_speed, probe_clip
from analytics.replay_report import plan_replays, run_replays, write_outputs
from api.cli import main as cli_main
from ingest.demo.footage import fire_clip, pedestrian_clip
from models.config import parse_config
from models.push import LocalBroker, PushJournal
from models.store import Store

pytestmark = pytest.mark.slow

BENCH_CONFIG = Path(__file__).resolve().parents[2] / "bench" / "replay" / "config.yaml"
FIRE_CAMERA, WALKWAY_CAMERA = "bench-indoor", "bench-walkway"


def replay_config_file(tmp_path: Path) -> Path:
    """The bench config, with a walkway camera that runs only the crowd rule (to keep the test short)."""
    raw: dict[str, Any] = yaml.safe_load(BENCH_CONFIG.read_text(encoding="utf-8"))
    raw["cameras"][WALKWAY_CAMERA]["rules"] = {"crowd": {}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    walkway = folder / "walkway_first_20s.avi"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(pedestrian_clip()), "-t", "20", "-c", "copy",
                    str(walkway)], check=True)  # fmt: skip
    fire_4s = folder / "fire_first_4s.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(fire_clip()), "-t", "4", "-c", "copy",
                    str(fire_4s)], check=True)  # fmt: skip
    return {"fire": fire_clip(), "walkway": walkway, "fire_4s": fire_4s}


def labels_file(tmp_path: Path, clips: dict[str, Path]) -> Path:
    raw = {
        "clips": {
            clips["fire"].name: {"camera": FIRE_CAMERA, "events": [{"type": "fire_smoke", "start": 0, "end": 10}]},
            clips["walkway"].name: {"camera": WALKWAY_CAMERA, "events": [], "people": {5: 6, 12: 8}},
        }
    }
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_cli_replay_scores_the_clips_and_a_second_replay_writes_identical_incidents(
    tmp_path, clips, real_detectors, capsys
):
    config_path, labels_path = replay_config_file(tmp_path), labels_file(tmp_path, clips)
    out = tmp_path / "first"
    code = cli_main(["replay", str(clips["fire"]), str(clips["walkway"]), "--config", str(config_path),
                     "--labels", str(labels_path), "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "fire_smoke" in printed and "people counts" in printed

    incidents = [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]
    assert len(incidents) == 1
    fire = incidents[0]
    assert fire["rule"] == "fire_smoke" and fire["camera_id"] == FIRE_CAMERA and fire["is_test"] is True
    assert fire["verdict"] == "match" and fire["ended_with_clip"] is True
    assert 0 < fire["opened_s"] <= 3.0  # k of n analysed frames at 2 fps after the first fire frame
    assert fire["opened_at"].startswith("2000-01-01T00:00:0")  # clip-relative, on the fixed replay epoch
    assert (out / fire["snapshot"]).is_file() and (out / "thumbs" / Path(fire["snapshot"]).name).is_file()

    scores = json.loads((out / "scores.json").read_text())
    fire_score = scores["totals"]["fire_smoke"]
    assert (fire_score["labelled"], fire_score["hits"], fire_score["false_positives"]) == (1, 1, 0)
    assert fire_score["recall"] == 1.0 and fire_score["precision"] == 1.0
    assert fire_score["delays_s"] == [fire["opened_s"]]
    assert scores["totals"]["crowd"]["detected"] == 0 and scores["totals"]["crowd"]["false_per_hour"] == 0.0
    counts = scores["counts"]
    assert counts["compared"] == 2 and counts["mae"] is not None and counts["mae"] <= 3
    assert [p["counted_at"] for p in counts["pairs"]] == [5.0, 12.0]
    frames = (out / "frames.jsonl").read_text().splitlines()
    assert len(frames) == 20 + 20  # 10 s at 2 fps, 20 s at 1 fps
    report = (out / "report.md").read_text()
    assert "xueliang replay" in report and "plots/walkway_first_20s.png" in report
    assert (out / "plots" / f"{clips['fire'].stem}.png").is_file()

    # The same clips, config and models again, through the library this time: the same incidents, byte for byte.
    again = tmp_path / "second"
    config = parse_config(yaml.safe_load(config_path.read_text()))
    labels = parse_labels(yaml.safe_load(labels_path.read_text()))
    plans = plan_replays(config, [clips["fire"], clips["walkway"]], labels)
    results = run_replays(config, plans, real_detectors, again, labels, progress=False)
    write_outputs(again, results, command="again", plots=False)
    assert (again / "incidents.jsonl").read_bytes() == (out / "incidents.jsonl").read_bytes()
    assert (again / "frames.jsonl").read_bytes() == (out / "frames.jsonl").read_bytes()


def test_speed_paces_the_wall_clock_but_analyses_the_same_frames(tmp_path, clips, real_detectors):
    config = parse_config(yaml.safe_load(replay_config_file(tmp_path).read_text()))
    store = Store(f"sqlite:///{tmp_path / 'replay.db'}")
    store.migrate()
    replayer = ClipReplayer(config, real_detectors, PushJournal(store, LocalBroker()), tmp_path / "snapshots")
    fast = replayer.run(ReplayPlan(clip=clips["fire_4s"], camera_id=FIRE_CAMERA, replay_camera_id="fire-fast"))
    paced = replayer.run(ReplayPlan(clip=clips["fire_4s"], camera_id=FIRE_CAMERA, replay_camera_id="fire-paced", speed=2.0))
    assert [f.t for f in paced.frames] == [f.t for f in fast.frames] == [0.5 * i for i in range(8)]
    assert paced.wall_s >= 3.5 / 2.0  # 4 s of clip at 2x: at least its last analysed frame's pts / 2
    assert [(i.opened_at, i.closed_at) for i in paced.incidents] == [(i.opened_at, i.closed_at) for i in fast.incidents]
    assert all(i.is_test for i in fast.incidents) and fast.incidents[0].camera_id == "fire-fast"
    assert fast.incidents[0].opened_at.timestamp() - REPLAY_EPOCH == fast.detected_events()[0].start
    store.close()


def test_rtsp_replay_reads_the_clip_as_a_live_camera_for_one_loop(tmp_path, clips):
    """Served by a local RTSP server and read as a live camera (newest frame wins): one whole loop of the clip is
    analysed, its frames stamped with their offset in the loop (wall clock, so approximate)."""
    out = tmp_path / "rtsp"
    code = cli_main(["replay", str(clips["fire_4s"]), "--config", str(replay_config_file(tmp_path)),
                     "--camera", FIRE_CAMERA, "--rtsp", "--out", str(out), "--no-progress", "--no-plots"])  # fmt: skip
    assert code == 0
    frames = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert 5 <= len(frames) <= 9  # 4 s at 2 fps, give or take the edges of the loop
    assert all(0 <= f["t"] < 4.0 for f in frames) and [f["t"] for f in frames] == sorted(f["t"] for f in frames)
    scores = json.loads((out / "scores.json").read_text())
    assert "served over RTSP" in scores["clips"][0]["notes"][0]
    incidents = [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]
    assert [i["rule"] for i in incidents] == ["fire_smoke"]  # 4 fire stills: k=4 of n=6 at 2 fps holds


@pytest.mark.parametrize(
    ("text", "expected"), [("max", None), ("realtime", 1.0), ("2x", 2.0), ("0.5x", 0.5), ("fast", ReplayInputError),
                           ("0x", ReplayInputError), ("2", ReplayInputError), ("", ReplayInputError)],
)  # fmt: skip
def test_parse_speed(text, expected):
    if expected is ReplayInputError:
        with pytest.raises(ReplayInputError):
            parse_speed(text)
    else:
        assert parse_speed(text) == expected


def test_bad_input_is_refused_before_anything_runs(tmp_path, clips):
    config = parse_config(yaml.safe_load(replay_config_file(tmp_path).read_text()))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(ReplayInputError, match="clip not found"):
        probe_clip(tmp_path / "missing.mp4", 2.0)
    with pytest.raises(ReplayInputError, match="not a readable video"):
        probe_clip(not_video, 2.0)
    assert probe_clip(clips["fire"], 2.0).analysed_frames == 20
    replayer = ClipReplayer(config, {}, PushJournal(Store("sqlite://"), LocalBroker()), tmp_path)
    with pytest.raises(ReplayInputError, match="unknown camera 'nope'"):
        replayer.prepare(ReplayPlan(clip=clips["fire"], camera_id="nope", replay_camera_id="nope"))
    with pytest.raises(ReplayInputError, match="models that are not loaded"):
        replayer.prepare(ReplayPlan(clip=clips["fire"], camera_id=FIRE_CAMERA, replay_camera_id=FIRE_CAMERA))
    assert cli_main(["replay", str(tmp_path / "missing.mp4"), "--config", str(BENCH_CONFIG), "--no-progress",
                     "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert cli_main(["replay", str(clips["fire"]), "--config", str(BENCH_CONFIG), "--camera", "nope",
                     "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert cli_main(["replay", str(clips["fire"]), "--config", str(BENCH_CONFIG), "--rtsp", "--speed", "max",
                     "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    someones = tmp_path / "someones"
    (someones / "plots").mkdir(parents=True)
    assert cli_main(["replay", str(clips["fire"]), "--config", str(BENCH_CONFIG), "--out", str(someones)]) == 2
    assert (someones / "plots").is_dir()  # a folder that holds no earlier replay is never cleaned


def test_cli_replay_against_a_baseline_shows_each_change_and_marks_what_got_worse(tmp_path, clips, capsys):
    config_path, labels_path = replay_config_file(tmp_path), labels_file(tmp_path, clips)
    args = [str(clips["walkway"]), "--config", str(config_path), "--labels", str(labels_path), "--no-progress",
            "--no-plots"]  # fmt: skip
    assert cli_main(["replay", *args, "--out", str(tmp_path / "old")]) == 0
    old = json.loads((tmp_path / "old" / "scores.json").read_text())
    mae = old["counts"]["mae"]
    # A baseline that counted perfectly and had a worse bias: this run's MAE got worse, its bias better.
    old["counts"].update(mae=0.0, mape_pct=0.0, bias=old["counts"]["bias"] + 5)
    baseline = tmp_path / "old" / "scores.json"
    baseline.write_text(json.dumps(old))
    capsys.readouterr()

    assert cli_main(["replay", *args, "--out", str(tmp_path / "new"), "--baseline", str(baseline)]) == 0
    printed = capsys.readouterr().out
    rows = {tuple(row.split()[:3]): row.split()[3:] for row in printed.splitlines()}
    assert rows["people", "counts", "mae"] == ["0.00", f"{mae:.2f}", f"{mae:+.2f}", "WORSE"]
    assert rows["people", "counts", "bias"][-1] == "better"
    report = (tmp_path / "new" / "report.md").read_text()
    assert "## Against the baseline" in report
    assert f"| people counts | mae | 0.00 | {mae:.2f} | {mae:+.2f} | **worse** |" in report
    assert "**2 scores got worse**: people counts mae, people counts mape_pct." in report

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert cli_main(["replay", *args, "--out", str(tmp_path / "x"), "--baseline", str(broken)]) == 2
    assert f"--baseline {broken}: not JSON" in capsys.readouterr().err
