"""A replay's scores beside a baseline's (`xueliang replay ... --baseline OLD/scores.json`): each score, the
baseline's, the change, and whether it got better or worse, so a tester sees at once what a config or model change
did. Pure: reads two scores.json dicts, never the clips."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class BaselineError(ValueError):
    """The baseline file cannot be read as a replay's scores.json (the message names the file)."""


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"
    NEARER_ZERO = "nearer zero"  # a bias


class Verdict(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    NEW = "new"  # no baseline value (a clip or type the baseline did not have, or undefined there)
    GONE = "gone"  # the baseline had a value, this run has none


# What each compared score is and which way is better. Event scores are per type over all labelled clips.
EVENT_METRICS: dict[str, Better] = {
    "precision": Better.HIGHER,
    "recall": Better.HIGHER,
    "false_positives": Better.LOWER,
    "misses": Better.LOWER,
    "false_per_hour": Better.LOWER,
    "mean_delay_s": Better.LOWER,
}
COUNT_METRICS: dict[str, Better] = {"mae": Better.LOWER, "mape_pct": Better.LOWER, "bias": Better.NEARER_ZERO}
# Changes smaller than this are float noise, not a change.
EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class ScoreChange:
    scope: str  # "fire_smoke", "people counts", or a clip's name
    metric: str
    baseline: float | None
    current: float | None
    better: Better

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def verdict(self) -> Verdict:
        if self.baseline is None:
            return Verdict.NEW
        if self.current is None:
            return Verdict.GONE
        change = self.current - self.baseline
        if self.better is Better.NEARER_ZERO:
            change = abs(self.current) - abs(self.baseline)
        elif self.better is Better.HIGHER:
            change = -change
        if abs(change) <= EPSILON:
            return Verdict.SAME
        return Verdict.WORSE if change > 0 else Verdict.BETTER


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineError(f"--baseline {path}: cannot read the file: {error.strerror}") from None
    except ValueError as error:
        raise BaselineError(f"--baseline {path}: not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("totals"), dict) or "clips" not in data:
        raise BaselineError(f"--baseline {path}: not a replay's scores.json (no `totals` and `clips`)")
    return data


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _metrics(scope: str, now: Mapping[str, Any] | None, old: Mapping[str, Any] | None,
             metrics: Mapping[str, Better]) -> list[ScoreChange]:  # fmt: skip
    now, old = now or {}, old or {}
    return [ScoreChange(scope, name, _number(old.get(name)), _number(now.get(name)), better)
            for name, better in metrics.items()
            if _number(old.get(name)) is not None or _number(now.get(name)) is not None]  # fmt: skip


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[ScoreChange]:
    """Every score of `current` beside `baseline`'s: event scores per type, people counts over all clips and per
    clip. Types or clips only one side has are listed too (new / gone)."""
    changes: list[ScoreChange] = []
    types = list(current.get("totals", {})) + [t for t in baseline.get("totals", {}) if t not in current["totals"]]
    for kind in types:
        changes += _metrics(kind, current["totals"].get(kind), baseline["totals"].get(kind), EVENT_METRICS)
    changes += _metrics("people counts", current.get("counts"), baseline.get("counts"), COUNT_METRICS)
    # A clip may be replayed as several cameras (labels `also_as`): one row per clip and camera.
    old_clips = {(clip["clip"], clip.get("camera")): clip for clip in baseline.get("clips", [])}
    names = Counter(clip["clip"] for clip in current.get("clips", []))
    for clip in current.get("clips", []):
        old = old_clips.get((clip["clip"], clip.get("camera")))
        scope = clip["clip"] if names[clip["clip"]] == 1 else f"{clip['clip']} ({clip.get('camera')})"
        changes += _metrics(scope, clip.get("counts"), old.get("counts") if old else None, COUNT_METRICS)
    return changes


def worse(changes: list[ScoreChange]) -> list[ScoreChange]:
    return [change for change in changes if change.verdict in (Verdict.WORSE, Verdict.GONE)]


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


HEADER = ["scope", "score", "baseline", "now", "change", ""]


def rows(changes: list[ScoreChange], mark: Callable[[Verdict], str]) -> list[list[str]]:
    return [
        [c.scope, c.metric, _fmt(c.baseline), _fmt(c.current), _fmt(c.change, signed=True), mark(c.verdict)]
        for c in changes
    ]


def text_mark(verdict: Verdict) -> str:
    return {Verdict.WORSE: "WORSE", Verdict.GONE: "WORSE (gone)", Verdict.BETTER: "better", Verdict.NEW: "new",
            Verdict.SAME: ""}[verdict]  # fmt: skip


def markdown_mark(verdict: Verdict) -> str:
    return {Verdict.WORSE: "**worse**", Verdict.GONE: "**worse** (gone)", Verdict.BETTER: "better",
            Verdict.NEW: "new", Verdict.SAME: ""}[verdict]  # fmt: skip
