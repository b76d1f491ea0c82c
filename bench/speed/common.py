"""Shared by the speed benchmarks: the machine's description, real frames, tables, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ASSETS = REPO.parent / "shared" / "assets"
CLIPS = ASSETS / "clips"
DEMO_CONFIG = REPO / "models" / "demo_config.yaml"
os.environ.setdefault("YOLO_OFFLINE", "true")


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, load, and the versions that matter."""
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    flags = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in ("numpy", "cv2", "av", "torch", "ultralytics", "onnxruntime", "openvino", "supervision"):
        try:
            versions[module] = str(__import__(module).__version__)
        except Exception:
            versions[module] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "avx512_bf16": "avx512_bf16" in flags.split(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
        "command": " ".join([Path(sys.executable).name, "-m", *sys.argv]) if sys.argv else "",
        "git_commit": _git_commit(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=5).stdout.strip()  # fmt: skip
    except OSError:
        return "unknown"


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, results: dict[str, Any], out_dir: Path | None = None) -> Path:
    results = {**results, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]}
    path = (out_dir or HERE / "results") / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
