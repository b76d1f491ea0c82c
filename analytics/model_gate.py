"""Rate gate for a model that only matters where fire could be (`cameras.<id>.inference.<model>.gate`).

The gated model (the fire model) runs at `idle_fps` until a cue asks for full rate (every analysed frame) for
`hold_s` seconds of frame time:

- colour: a cheap cue on a small copy of the frame (`frame_height` rows): the fraction of fire-coloured pixels
  (bright orange/yellow/red in HSV) that also changed since the model's last run is at least `min_area`. A static
  orange sunset or lamp does not count; a flame that flickers or grows does. About 0.2-0.5 ms a 720p frame.
- low confidence: the model's last run found one of the gated rules' labels at `low_confidence` or more (below a
  rule's `min_confidence` too): something fire-like is there, so it is looked at every frame.
- rule: a rule reading the model is pending or open: its persistence counts frames at full rate, so it is never
  throttled.

Between runs the model's last detections are reused (as motion gating does), so a rule sees the same hits again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from analytics.detector import with_label
from analytics.rules.base import Rule, RuleState
from models.config import ModelGateConfig


@dataclass(frozen=True, slots=True)
class GateDecision:
    run: bool  # run the model on this frame (else reuse its last detections)
    reason: str  # "first", "rule", "hold", "colour", "idle" or "throttled"
    colour: float  # fraction of the small picture fire-coloured and changed since the last run (0 when not computed)


def fire_mask(small_bgr: np.ndarray, min_value: int, min_saturation: int) -> np.ndarray:
    """Fire-coloured pixels: hue red to yellow (0-35 or 170-180 on OpenCV's 0-180 scale), bright and saturated."""
    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    return ((hue <= 35) | (hue >= 170)) & (sat >= min_saturation) & (val >= min_value)


class ModelGate:
    """One camera's gate for one model. Call `decide()` once per frame that the pipeline detects on, in order,
    and `ran()` after each run of the model."""

    def __init__(self, model: str, config: ModelGateConfig, rules: Iterable[Rule]) -> None:
        self.model = model
        self.config = config
        self.rules = [rule for rule in rules if rule.model == model]
        self.labels = sorted({label for rule in self.rules for label in rule.labels})
        self._reference: np.ndarray | None = None  # small gray copy of the frame the model last ran on
        self._last_run: float | None = None
        self._hold_until = float("-inf")
        self.runs = 0
        self.skips = 0
        self.last_decision: GateDecision | None = None

    def small(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        target_h = min(self.config.frame_height, height)
        target_w = max(1, round(width * target_h / height))
        return cv2.resize(image, (target_w, target_h), interpolation=cv2.INTER_AREA)

    def colour_cue(self, small_bgr: np.ndarray) -> float:
        """Fraction of the small picture that is fire-coloured and changed since the model's last run (1.0 when
        there is nothing to compare with)."""
        gray = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY)
        if self._reference is None or self._reference.shape != gray.shape:
            return 1.0
        changed = cv2.absdiff(gray, self._reference) >= self.config.change_threshold
        coloured = fire_mask(small_bgr, self.config.min_value, self.config.min_saturation)
        return float(np.count_nonzero(changed & coloured)) / float(gray.size)

    def decide(self, image: np.ndarray, timestamp: float) -> GateDecision:
        small = self.small(image) if image.ndim == 3 else None
        if self._last_run is None or small is None or timestamp < self._last_run:
            decision = GateDecision(True, "first", 1.0)
        elif any(rule.state is not RuleState.IDLE for rule in self.rules):
            decision = GateDecision(True, "rule", 0.0)
        elif timestamp < self._hold_until:
            decision = GateDecision(True, "hold", 0.0)
        else:
            colour = self.colour_cue(small)
            if colour >= self.config.min_area:
                self._hold_until = timestamp + self.config.hold_s
                decision = GateDecision(True, "colour", colour)
            elif timestamp - self._last_run >= 1.0 / self.config.idle_fps - 1e-6:
                decision = GateDecision(True, "idle", colour)
            else:
                decision = GateDecision(False, "throttled", colour)
        if decision.run:
            self._last_run = timestamp
            if small is not None:
                self._reference = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            self.runs += 1
        else:
            self.skips += 1
        self.last_decision = decision
        return decision

    def ran(self, found: sv.Detections, timestamp: float) -> None:
        """After a run: a fire-like detection at `low_confidence` or more holds full rate for `hold_s`."""
        labelled = with_label(found, *self.labels) if self.labels else found
        scores = labelled.confidence if len(labelled) else None
        if scores is not None and float(np.max(scores)) >= self.config.low_confidence:
            self._hold_until = max(self._hold_until, timestamp + self.config.hold_s)

    def reset(self) -> None:
        """Forget the last run: the next frame runs the model."""
        self._last_run = None
        self._reference = None
