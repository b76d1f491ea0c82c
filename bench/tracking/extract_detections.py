"""Run the people model on every frame of a clip once and write the detections (JSON lines), so that trackers,
frame rates and line positions can be compared offline without running the model again.

    flock /tmp/xl-heavy.lock .venv/bin/python -m bench.tracking.extract_detections \
        /usr/share/doc/opencv-doc/examples/data/vtest.avi bench/replay/config.yaml people /tmp/vtest_people.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from analytics.detector import LABEL_KEY, confidences
from analytics.detector_backends import load_detectors
from ingest.sampling import sampled_frames
from models.config import parse_config


def main(clip: str, config_path: str, model: str, out: str) -> None:
    config = parse_config(yaml.safe_load(Path(config_path).read_text(encoding="utf-8")))
    detector = load_detectors(config.models, {model})[model]
    with open(out, "w", encoding="utf-8") as handle:
        for t, image in sampled_frames(Path(clip), None):
            found = detector.detect(image)
            rows = [
                [*(round(float(v), 1) for v in box), round(float(c), 4), str(label)]
                for box, c, label in zip(found.xyxy, confidences(found), found.data[LABEL_KEY], strict=True)
            ]
            handle.write(json.dumps({"t": round(t, 3), "detections": rows}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
