"""Trackers for the models that track-based rules read (roboflow `trackers`: ByteTrack, SORT, OC-SORT).

The trackers count their lost-track budget in "30 fps frames" (`lost_track_buffer / 30` seconds once timestamps
are given): the pipeline passes frame timestamps, so `keep_lost_s` is converted here. Before, a budget of
`3 x analysis fps` frames was 0.1 s at 1 fps: every track was dropped before the next frame, which is why ids
"rarely confirmed" at 1-2 fps (bench/tracking/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

from trackers import ByteTrackTracker, OCSORTTracker, SORTTracker

from models.config import TrackingConfig


def make_tracker(config: TrackingConfig, analysis_fps: float) -> Any:
    """A fresh tracker (its `update(detections, timestamp=...)` returns every detection, tracker id -1 while
    unconfirmed)."""
    buffer = max(1, round(config.keep_lost_s * 30))  # the trackers' unit: frames at 30 fps (see the docstring)
    if config.tracker == "sort":
        return SORTTracker(lost_track_buffer=buffer, frame_rate=analysis_fps, minimum_iou_threshold=config.min_iou,
                           track_activation_threshold=config.activation_confidence,
                           minimum_consecutive_frames=config.min_hits)  # fmt: skip
    if config.tracker == "ocsort":
        return OCSORTTracker(lost_track_buffer=buffer, frame_rate=analysis_fps, minimum_iou_threshold=config.min_iou,
                             minimum_consecutive_frames=config.min_hits,
                             high_conf_det_threshold=config.high_confidence)  # fmt: skip
    return ByteTrackTracker(lost_track_buffer=buffer, frame_rate=analysis_fps, minimum_iou_threshold=config.min_iou,
                            track_activation_threshold=config.activation_confidence,
                            minimum_consecutive_frames=config.min_hits,
                            high_conf_det_threshold=config.high_confidence)  # fmt: skip
