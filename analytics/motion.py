"""Motion gating: skip detection while nothing in the picture changes (as Frigate does), reuse the last detections.

The picture is compared with the one the last detections were found on, not with the previous frame: a slow
change (smoke thickening, a flame growing a little each frame) adds up until it counts, so it is never lost
between two frames that each differ too little. Both are small blurred grayscale copies (`frame_height` rows); a
pixel changed when its gray level moved by `threshold`; motion is `min_area` of the picture changed. Detection
also runs every `max_interval_s` of frame time whatever the picture does, and whenever the frame size changes.

Keyframes only (`still_decode: keyframes`, the default): while the scene is still and no rule is pending or open,
the camera decodes keyframes only, and the gate judges each keyframe against the reference as usual. A keyframe
that shows motion switches the camera back to full decoding from the very next frame, so motion (a fire starting)
is seen at most one keyframe interval (GOP) later than with full decoding, plus the rule's usual persistence;
the `max_interval_s` detection waits for the next keyframe too. See `CameraPipeline.keyframes_suffice`.

Cost: one area resize of the BGR frame, one colour conversion and one blur of the small copy, one absdiff and one
count: about 0.2-0.5 ms a 720p frame, against 50-350 ms for a detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.config import MotionConfig


@dataclass(frozen=True, slots=True)
class MotionDecision:
    detect: bool  # run the detectors on this frame (else reuse the last detections)
    changed: float  # fraction of the small picture that changed since the last detection (1.0: nothing to compare)
    reason: str  # "motion", "still", "interval", "first" or "disabled"


class MotionGate:
    """One camera's gate. Call `decide()` once per analysed frame, in frame order."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._reference: np.ndarray | None = None  # small gray picture of the last detection
        self._reference_shape: tuple[int, ...] | None = None  # full frame shape of the last detection
        self._reference_time = 0.0
        self.frames_detected = 0
        self.frames_skipped = 0
        self.last_decision: MotionDecision | None = None
        # the changed pixels (small copy, 255 = changed) of the last "motion" decision, for analytics.motion_crop
        self.last_mask: np.ndarray | None = None
        self._previous_reference: np.ndarray | None = None

    def small_gray(self, image: np.ndarray) -> np.ndarray:
        """The blurred grayscale copy compared for motion: resize first, so the colour conversion is on few pixels."""
        height, width = image.shape[:2]
        target_h = min(self.config.frame_height, height)
        target_w = max(1, round(width * target_h / height))
        small = cv2.resize(image, (target_w, target_h), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(gray, (3, 3), 0)

    def changed_fraction(self, gray: np.ndarray) -> float:
        if self._reference is None or self._reference.shape != gray.shape:
            return 1.0
        delta = cv2.absdiff(gray, self._reference)
        _, mask = cv2.threshold(delta, self.config.threshold - 1, 255, cv2.THRESH_BINARY)
        self.last_mask = mask
        return cv2.countNonZero(mask) / float(mask.size)

    def decide(self, image: np.ndarray, timestamp: float) -> MotionDecision:
        """Whether to detect on this frame. A frame that is detected becomes the new reference."""
        if not self.config.enabled:
            self.frames_detected += 1
            return MotionDecision(True, 1.0, "disabled")
        gray = self.small_gray(image)
        self.last_mask = None
        if self._reference is None or self._reference_shape != image.shape:
            decision = MotionDecision(True, 1.0, "first")
        else:
            changed = self.changed_fraction(gray)
            if changed > self.config.min_area:
                decision = MotionDecision(True, changed, "motion")
            elif timestamp - self._reference_time >= self.config.max_interval_s or timestamp < self._reference_time:
                decision = MotionDecision(True, changed, "interval")
            else:
                decision = MotionDecision(False, changed, "still")
        if decision.detect:
            self._previous_reference = self._reference
            self._reference, self._reference_shape, self._reference_time = gray, image.shape, timestamp
            self.frames_detected += 1
        else:
            self.frames_skipped += 1
        self.last_decision = decision
        return decision

    @property
    def scene_still(self) -> bool:
        """The last frame matched the reference (skipped as still, or detected only because the interval was due)."""
        return self.last_decision is not None and self.last_decision.reason in ("still", "interval")

    def renew_reference_within(self, x0: int, y0: int, x1: int, y1: int, frame_w: int, frame_h: int) -> None:
        """After a crop detection (analytics.motion_crop): only the crop's part (full-frame pixels) of the reference
        is this frame's; outside it stays the picture the kept detections were found on."""
        if self._previous_reference is None or self._reference is None:
            return
        if self._previous_reference.shape != self._reference.shape:
            return
        height, width = self._reference.shape[:2]
        sx, sy = width / frame_w, height / frame_h
        renewed = self._previous_reference.copy()
        ys, xs = slice(int(y0 * sy), int(np.ceil(y1 * sy))), slice(int(x0 * sx), int(np.ceil(x1 * sx)))
        renewed[ys, xs] = self._reference[ys, xs]
        self._reference = renewed

    def reset(self) -> None:
        """Forget the reference: the next frame is detected."""
        self._reference = self._reference_shape = None
        self.last_decision = None
