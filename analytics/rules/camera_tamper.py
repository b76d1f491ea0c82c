"""Camera tamper (视频遮挡 / 画面异常): the picture covered, defocused, turned away from its view, frozen, or far too
dark or bright, for T s (`dwell_s`, held by the shared harness), judged from image statistics against a reference
the rule learns from the camera's own normal picture. No detector: it reads only the frame.

Per analysed frame (a gray copy `analysis_width` px wide; a few ms a frame at 320 px):
- brightness: the mean gray level; `dark` when it falls below `dark_ratio` of the reference's (and under
  `dark_level`), `bright` when the headroom left to white falls below `bright_ratio` of the reference's;
- texture: the fraction of an 8x8 grid of cells that are flat (gray std < `flat_std`); `covered` when at least
  `covered_fraction` of the picture is flat and at least `covered_gain` more of it than in the reference (a hand, a
  cloth, a bag, paint: the cover has no texture at lens distance);
- sharpness: the variance of the Laplacian over the variance of the picture (so that contrast, which dusk and fog
  lower, cancels out); `blurred` when it falls below `blur_ratio` of the reference's (defocus, a smeared lens);
- view: the reference's background edges (Canny on the slowly averaged picture, so passers-by fade out of it)
  found again, within 2 px, in this frame's edges; `moved` when fewer than `min_view_match` of them are (turned,
  shifted, zoomed). Phase correlation against the reference gives the shift in pixels for the record;
- change: the mean absolute gray difference from the previous analysed frame; `frozen` when below
  `freeze_diff` (an encoder repeating one picture: 0.000-0.01 between its frames; a live sensor's noise alone
  moves it by 0.29 on the night clip, 0.86 on vtest). A camera decoding keyframes only while its scene is still
  (`motion.still_decode`) is probed: while the picture is still the rule turns PENDING for `probe_s` every
  `freeze_probe_s`, which makes the camera decode every frame (see `state`).

Why ratios against a learned reference rather than absolutes: night, rain and a cloud change every absolute level,
and slowly. The reference follows the normal picture with a time constant of `adapt_s` (an exponential average
updated only on frames judged normal), so dusk is learned and a sudden cover is not. A rule that has just started
learns for `learn_s` first and judges only the reference-free cases meanwhile (a uniform picture, total darkness).

Magnitude: minutes the picture has been abnormal (as for camera_offline). Evidence: the reference view and the
current frame side by side, the kind written on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from analytics.detector import empty_detections
from analytics.events import Event, EventPhase, Evidence, Observation
from analytics.rules.base import RecordValue, ReplaySeries, Rule, RuleState
from analytics.rules.site import RuleSite
from ingest.frames import VideoFrame
from models.config import CameraTamperRuleConfig

KINDS = ("dark", "bright", "covered", "blurred", "moved", "frozen")
KIND_CODE = {kind: i + 1 for i, kind in enumerate(KINDS)}  # record(): 0 normal, 1 dark, ... (one plotted series)
GRID = 8  # flat-cell grid per side
MIN_EDGE_FRACTION = 0.004  # a reference with fewer edge pixels than this cannot judge `moved`


@dataclass(frozen=True, slots=True)
class PictureStats:
    """One frame's image statistics (see the module docstring)."""

    brightness: float
    sharpness: float
    flat_fraction: float
    change: float | None  # mean |gray - previous analysed gray|; None for the first frame
    view_match: float | None  # reference edges found in this frame; None without a reference with edges
    shift_px: float | None  # phase-correlation shift against the reference, in analysis pixels


def small_gray(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small


def flat_fraction(gray: np.ndarray, flat_std: float) -> float:
    h, w = gray.shape
    cells = gray[: h - h % GRID, : w - w % GRID].reshape(GRID, h // GRID, GRID, w // GRID).astype(np.float32)
    return float((cells.std(axis=(1, 3)) < flat_std).mean())


def edges(gray: np.ndarray) -> np.ndarray:
    """Canny edges of the picture at a fixed contrast (std 48 around mid gray): dusk keeps its edges."""
    mean, std = cv2.meanStdDev(gray)
    normalised = cv2.convertScaleAbs(gray, alpha=48.0 / (float(std[0][0]) + 1.0),
                                     beta=128.0 - 48.0 * float(mean[0][0]) / (float(std[0][0]) + 1.0))  # fmt: skip
    return cv2.Canny(cv2.GaussianBlur(normalised, (3, 3), 0), 50, 150)


class CameraTamperRule(Rule):
    name = "camera_tamper"

    def __init__(self, config: CameraTamperRuleConfig, site: RuleSite | None = None) -> None:
        self.config = config
        self.category = config.category
        self._reference: np.ndarray | None = None  # float32 averaged gray picture
        self._ref_edges: np.ndarray | None = None
        self._ref_brightness = self._ref_sharpness = self._ref_flat = 0.0
        self._learned_s = 0.0
        self._frames_learned = 0
        self._previous: np.ndarray | None = None
        self._previous_at: float | None = None
        self._window: np.ndarray | None = None  # Hanning window for phase correlation
        self._last: tuple[float, PictureStats, str | None] | None = None  # (timestamp, stats, kind) of the last frame
        self._open = False
        self._still_since: float | None = None  # the picture has changed little since then (a freeze candidate)
        self._probe_until = float("-inf")  # asking for full-rate frames until then (see `state`)
        self._kind: str | None = None
        self._abnormal_since: float | None = None
        self._normal_since: float | None = None
        self._evidence: Evidence | None = None

    @property
    def state(self) -> RuleState:
        """OPEN while tampered; PENDING while probing a still picture for a freeze, which makes the camera decode in
        full (CameraPipeline.keyframes_suffice): keyframes alone cannot show a freeze, because an encoder re-codes
        a frozen picture at every keyframe a little differently (measured: 0.45-0.6 gray levels, as much as a still
        night scene's noise), while the frames between repeat it exactly (0.000)."""
        if self._open:
            return RuleState.OPEN
        if self._last is not None and self._last[0] < self._probe_until:
            return RuleState.PENDING
        return RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.config.learn_s + self.config.clear_s

    @property
    def learning(self) -> bool:
        return self._learned_s < self.config.learn_s or self._frames_learned < 2

    # -- statistics ----------------------------------------------------------------------------------------------

    def stats(self, gray: np.ndarray) -> PictureStats:
        config = self.config
        change = None
        if self._previous is not None and self._previous.shape == gray.shape:
            change = float(cv2.absdiff(gray, self._previous).mean())
        view_match = shift = None
        if self._ref_edges is not None and self._reference is not None and self._reference.shape == gray.shape:
            reference_edges = self._ref_edges > 0
            if reference_edges.mean() >= MIN_EDGE_FRACTION:
                # reference edges found again within 1 px, above what chance gives with this many edges around
                found = cv2.dilate(edges(gray), np.ones((3, 3), np.uint8)) > 0
                hit, chance = float((found & reference_edges).sum() / reference_edges.sum()), float(found.mean())
                view_match = max(0.0, (hit - chance) / (1.0 - chance)) if chance < 1.0 else 0.0
            if self._window is None or self._window.shape != gray.shape:
                self._window = cv2.createHanningWindow((gray.shape[1], gray.shape[0]), cv2.CV_32F)
            # copies: OpenCV 5's phaseCorrelate applies the window to its inputs in place
            (dx, dy), _ = cv2.phaseCorrelate(self._reference.copy(), gray.astype(np.float32), self._window)
            shift = float(np.hypot(dx, dy))
        return PictureStats(
            brightness=float(gray.mean()),
            # contrast-free: dusk scales the Laplacian's variance with the square of the contrast, a blur does not
            # touch the picture's own variance nearly as much
            sharpness=float(cv2.Laplacian(gray, cv2.CV_64F).var() / (gray.var() + 1.0)),
            flat_fraction=flat_fraction(gray, config.flat_std),
            change=change,
            view_match=view_match,
            shift_px=shift,
        )

    def judge(self, stats: PictureStats) -> str | None:
        """The kind of tamper these statistics show, or None for a normal picture."""
        c = self.config
        if stats.flat_fraction >= c.uniform_fraction:
            # (nearly) uniform: black, white or a cover; judged even before a reference is learned
            if stats.brightness < c.dark_level:
                return "dark"
            return "bright" if stats.brightness > 255 - c.dark_level else "covered"
        if self.learning:
            return None
        if stats.brightness < c.dark_level and stats.brightness < c.dark_ratio * self._ref_brightness:
            return "dark"
        headroom, ref_headroom = 255.0 - stats.brightness, 255.0 - self._ref_brightness
        if ref_headroom > 0 and headroom < c.bright_ratio * ref_headroom and stats.brightness > 255 - c.dark_level:
            return "bright"
        if stats.flat_fraction >= c.covered_fraction and stats.flat_fraction - self._ref_flat >= c.covered_gain:
            return "covered"
        if stats.sharpness < c.blur_ratio * self._ref_sharpness:
            return "blurred"
        if stats.view_match is not None and stats.view_match < c.min_view_match:
            return "moved"
        if stats.change is not None and stats.change < c.freeze_diff:
            return "frozen"
        return None

    def _learn(self, gray: np.ndarray, stats: PictureStats, dt: float) -> None:
        """Fold a normal frame into the reference: a running mean while learning, then an exponential average with
        the time constant `adapt_s`."""
        picture = gray.astype(np.float32)
        if self._reference is None or self._reference.shape != picture.shape:
            self._reference, self._learned_s, self._frames_learned = picture, 0.0, 0
            alpha = 1.0
        elif self.learning:
            alpha = 1.0 / (self._frames_learned + 1)
        else:
            alpha = min(1.0, dt / self.config.adapt_s)
        cv2.accumulateWeighted(picture, self._reference, alpha)
        self._ref_brightness += alpha * (stats.brightness - self._ref_brightness)
        self._ref_sharpness += alpha * (stats.sharpness - self._ref_sharpness)
        self._ref_flat += alpha * (stats.flat_fraction - self._ref_flat)
        self._ref_edges = edges(self._reference.astype(np.uint8))
        self._frames_learned += 1
        self._learned_s += dt

    def _analyse(self, frame: VideoFrame) -> tuple[PictureStats, str | None]:
        if self._last is not None and self._last[0] == frame.timestamp:
            return self._last[1], self._last[2]  # record() and observe() of one frame: computed once
        gray = small_gray(frame.image, self.config.analysis_width)
        stats = self.stats(gray)
        kind = self.judge(stats)
        dt = frame.timestamp - self._previous_at if self._previous_at is not None else 0.0
        if kind is None:
            self._learn(gray, stats, max(0.0, dt))
        self._previous, self._previous_at = gray, frame.timestamp
        self._plan_probe(frame.timestamp, stats)
        self._last = (frame.timestamp, stats, kind)
        return stats, kind

    def _plan_probe(self, now: float, stats: PictureStats) -> None:
        """While the picture stays still (change below `still_change`), ask every `freeze_probe_s` for
        `probe_s` of full-rate frames, in which a frozen stream shows its exact repeats."""
        c = self.config
        if c.freeze_diff <= 0 or stats.change is None or stats.change >= c.still_change:
            self._still_since = None
            return
        if self._still_since is None:
            self._still_since = now
        if now >= self._probe_until + c.freeze_probe_s and now - self._still_since >= c.freeze_probe_s:
            self._probe_until = now + c.probe_s

    # -- the rule ------------------------------------------------------------------------------------------------

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        if observation.frame is None:
            return {}
        stats, kind = self._analyse(observation.frame)
        return {
            "tamper": KIND_CODE[kind] if kind else 0,
            "brightness": round(stats.brightness, 1),
            "sharpness": round(stats.sharpness, 1),
            "flat_fraction": round(stats.flat_fraction, 3),
            "change": None if stats.change is None else round(stats.change, 3),
            "view_match": None if stats.view_match is None else round(stats.view_match, 3),
            "shift_px": None if stats.shift_px is None else round(stats.shift_px, 1),
        }

    def replay_series(self) -> ReplaySeries:
        kinds = ", ".join(f"{v} {k}" for k, v in KIND_CODE.items())
        return ReplaySeries(
            key="tamper", label=f"tamper kind (0 normal, {kinds})", threshold=0.5, threshold_label="abnormal",
            top=len(KINDS) + 0.5,
        )  # fmt: skip

    def observe(self, observation: Observation) -> Event | None:
        frame = observation.frame
        if frame is None:
            return None  # no picture at all: the camera-offline rule speaks for this
        now = observation.timestamp
        _, kind = self._analyse(frame)
        if kind is not None:
            self._normal_since = None
            if self._abnormal_since is None:
                self._abnormal_since = now
            if not self._open or kind != self._kind:
                phase = EventPhase.UPDATED if self._open else EventPhase.OPENED
                self._open, self._kind = True, kind
                self._evidence = Evidence(self._side_by_side(frame, kind), empty_detections())
                return self._event(phase, now, observation.camera_id)
            return None
        if not self._open:
            self._abnormal_since = None
            return None
        if self._normal_since is None:
            self._normal_since = now
        if now - self._normal_since < self.config.clear_s:
            return None
        event = self._event(EventPhase.CLOSED, now, observation.camera_id)
        self._open, self._kind, self._abnormal_since, self._normal_since = False, None, None, None
        return event

    @property
    def kind(self) -> str | None:
        """What the open incident is about (dark, bright, covered, blurred, moved, frozen); None when none is."""
        return self._kind if self._open else None

    def _side_by_side(self, frame: VideoFrame, kind: str) -> VideoFrame:
        """The evidence picture: the learned reference (left) beside this frame (right), the kind written on it."""
        current = frame.image
        if self._reference is None:
            reference = np.zeros_like(current)
        else:
            gray = cv2.resize(self._reference.astype(np.uint8), (current.shape[1], current.shape[0]))
            reference = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        image = np.hstack([reference, current])
        scale = max(0.6, current.shape[1] / 800)
        for text, x in (("reference", 10), (kind, current.shape[1] + 10)):
            cv2.putText(image, text, (x, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), 2)
        return dataclasses.replace(frame, image=image)

    def _event(self, phase: EventPhase, now: float, camera_id: str) -> Event:
        since = self._abnormal_since if self._abnormal_since is not None else now
        return Event(
            phase=phase, rule=self.name, category=self.category, camera_id=camera_id, timestamp=now,
            magnitude=round((now - since) / 60.0, 3), evidence=self._evidence,
        )  # fmt: skip


__all__ = ["KINDS", "CameraTamperRule", "PictureStats"]
