"""Benchmark 13, fire-model rate gate (analytics/model_gate.py): incident onsets and fire-model calls, gate off vs on.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.speed.fire_gate [--idle-fps 0.5 1.0]

Replays every fire clip (the three in ../shared/assets/clips, the fire stills clip the tests use) and the no-fire
clips (night floodlight, sunset on water, vtest) through the replay code the CLI runs (analytics.replay_report,
speed max: nothing dropped) as bench/replay/config.yaml's `bench-indoor` camera (fire_smoke rule, 2 fps), once
with the gate off and once per `--idle-fps` with `inference.fire_smoke.gate` on, in the same process with the same
loaded model. Per clip and setting: the fire incidents' onsets (clip seconds), the first onset's delay against gate
off, and fire-model calls per analysed frame. The bar (issue 13): no onset delayed by more than 1 s, no incident
added on a no-fire clip. Writes bench/speed/results/fire_gate.json.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

from analytics.replay_report import plan_replays, run_replays
from bench.speed.common import CLIPS, REPO, machine, table, write_results
from bench.speed.harness import FIRE_CLIPS, load_timed_detectors
from ingest.demo.footage import fire_clip, pedestrian_clip
from models.config import ServiceConfig, load_config

BENCH_CONFIG = REPO / "bench" / "replay" / "config.yaml"
CAMERA = "bench-indoor"
NO_FIRE_CLIPS = ("nofire_night_cctv_floodlight.mp4", "nofire_sunset_water_reflection.mp4")
MAX_DELAY_S = 1.0


def clips(folder: Path) -> list[tuple[Path, bool]]:
    found = [(folder / name, True) for name in FIRE_CLIPS if (folder / name).is_file()] + [(fire_clip(), True)]
    found += [(folder / name, False) for name in NO_FIRE_CLIPS if (folder / name).is_file()]
    return found + [(pedestrian_clip(), False)]


def with_gate(config: ServiceConfig, idle_fps: float | None) -> ServiceConfig:
    camera = copy.deepcopy(config.cameras[CAMERA])
    inference = dict(camera.inference)
    if idle_fps is not None:
        from models.config import ModelGateConfig, ModelInputConfig

        base = inference.get("fire_smoke", ModelInputConfig())
        inference["fire_smoke"] = base.model_copy(update={"gate": ModelGateConfig(idle_fps=idle_fps)})
    else:
        inference.pop("fire_smoke", None)
    cameras = dict(config.cameras)
    cameras[CAMERA] = camera.model_copy(update={"inference": inference})
    return config.model_copy(update={"cameras": cameras})


def cue_ms(rounds: int = 200) -> float:
    """Median ms of the colour cue (small copy + HSV mask + change count) on vtest frames at 768x576."""
    import statistics

    from analytics.model_gate import ModelGate
    from ingest.sampling import sampled_frames
    from models.config import ModelGateConfig

    frames = [image for _, image in sampled_frames(pedestrian_clip(), fps=2, limit=20)]
    gate = ModelGate("fire_smoke", ModelGateConfig(), [])
    gate.decide(frames[0], 0.0)
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        gate.colour_cue(gate.small(frames[1 + i % (len(frames) - 1)]))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-fps", type=float, nargs="+", default=[0.5, 1.0], help="gate settings to try")
    parser.add_argument("--clips", type=Path, default=CLIPS, help="folder of the shared clips (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/speed/results)")
    args = parser.parse_args(argv)
    missing = [n for n in (*FIRE_CLIPS, *NO_FIRE_CLIPS) if not (args.clips / n).is_file()]
    if missing:
        parser.error(f"--clips {args.clips}: missing {missing}")
    info = machine()
    base = load_config(BENCH_CONFIG)
    detectors = load_timed_detectors()
    settings: list[float | None] = [None, *args.idle_fps]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip, has_fire in clips(args.clips):
            off_onsets: list[float] | None = None
            for setting in settings:
                config = with_gate(base, setting)
                plans = plan_replays(config, [clip], None, camera=CAMERA, speed=None)
                before = sum(detectors["fire_smoke"].calls.values())
                started = time.perf_counter()
                out = Path(tmp) / f"{clip.stem}-{setting}"
                (result,) = run_replays(config, plans, detectors, out, None, progress=False)  # type: ignore[arg-type]
                wall = time.perf_counter() - started
                calls = sum(detectors["fire_smoke"].calls.values()) - before
                replay = result.replay
                onsets = [e.start for e in replay.detected_events() if e.type == "fire_smoke"]
                if setting is None:
                    off_onsets = onsets
                assert off_onsets is not None
                delay = (onsets[0] - off_onsets[0]) if onsets and off_onsets else None
                frames = len(replay.frames)
                rows.append({
                    "clip": clip.name, "fire": has_fire, "gate": "off" if setting is None else f"idle_fps {setting}",
                    "analysed_frames": frames, "fire_calls": calls, "calls_per_frame": calls / frames if frames else 0,
                    "onsets_s": onsets, "first_onset_delay_s": delay, "wall_s": wall,
                    "missed": has_fire and bool(off_onsets) and not onsets,
                    "added_false": (not has_fire) and len(onsets) > len(off_onsets),
                })  # fmt: skip
                print(rows[-1], flush=True)
    print(table(["clip", "gate", "frames", "fire calls", "calls/frame", "onsets s", "delay s", "wall s"],
                [[r["clip"], r["gate"], r["analysed_frames"], r["fire_calls"], r["calls_per_frame"],
                  " ".join(f"{o:.1f}" for o in r["onsets_s"]) or "-",
                  "-" if r["first_onset_delay_s"] is None else r["first_onset_delay_s"], r["wall_s"]]
                 for r in rows]))  # fmt: skip
    verdict: dict[str, Any] = {}
    for setting in args.idle_fps:
        mine = [r for r in rows if r["gate"] == f"idle_fps {setting}"]
        delays = [r["first_onset_delay_s"] for r in mine if r["first_onset_delay_s"] is not None]
        off_calls = sum(r["fire_calls"] for r in rows if r["gate"] == "off")
        verdict[f"idle_fps {setting}"] = {
            "max_delay_s": max(delays) if delays else None,
            "missed": [r["clip"] for r in mine if r["missed"]],
            "added_false": [r["clip"] for r in mine if r["added_false"]],
            "fire_calls_ratio_to_off": sum(r["fire_calls"] for r in mine) / off_calls if off_calls else None,
            "passes": (not delays or max(delays) <= MAX_DELAY_S) and not any(r["missed"] or r["added_false"]
                                                                             for r in mine),
        }  # fmt: skip
    cue = cue_ms()
    print(verdict, f"colour cue {cue:.2f} ms median a 768x576 frame")
    path = write_results("fire_gate", {"machine": info, "command": "python -m bench.speed.fire_gate "
                                       + " ".join(argv or []), "camera": CAMERA, "clips": rows,
                                       "verdict": verdict, "colour_cue_ms_768x576": cue}, args.out)  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
