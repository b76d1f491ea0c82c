"""Scoring a replay against hand-written ground truth. Pure arithmetic: no I/O, no clock, no model.

Events. A detected event (an incident, as clip seconds) *matches* a labelled event when both have the same type
(the rule name: fire_smoke, crowd, ...), their time intervals overlap (closed intervals: touching counts), and their
zones agree (a side without a zone matches any zone). Then:

- precision = detected events that match at least one label / detected events
- recall    = labels matched by at least one detected event / labels
- detection delay, per matched label = opening of the earliest matching detection - the label's start (negative
  when the incident opened before the labelled onset, which overlap allows)
- false incidents per hour = detected events matching no label / hours of footage

Several incidents on one labelled event (a fire that flickers below the rule's threshold and re-opens) all count
as true positives for precision and once for recall; `fragments` reports how many there were beyond the first.
Undefined ratios (no detections, no labels, no footage) are None, never 0 or 1.

Counts. Each labelled (time, people) is compared with the pipeline's count at the nearest analysed frame within
`tolerance_s`; labels with no frame that close are reported as unmatched, not scored. MAE is the mean absolute
error over the compared labels; MAPE the mean of |error| / label over compared labels whose label is not 0.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """Ground truth: something of `type` happened from `start` to `end` seconds of the clip."""

    type: str
    start: float
    end: float
    zone: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"labelled {self.type} event ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True, slots=True)
class DetectedEvent:
    """An incident as scoring sees it: opened at `start`, closed at `end` (the clip's end if it never closed)."""

    type: str
    start: float
    end: float
    zone: str | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"detected {self.type} event ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True, slots=True)
class CountLabel:
    """Ground truth: `people` were there at `t` seconds."""

    t: float
    people: int


@dataclass(frozen=True, slots=True)
class CountSample:
    """What the pipeline counted on the frame analysed at `t` seconds."""

    t: float
    people: int


def overlaps(a_start: float, a_end: float, b_start: float, b_end: float) -> bool:
    """Whether the closed intervals [a_start, a_end] and [b_start, b_end] share at least one instant."""
    return a_start <= b_end and b_start <= a_end


def matches(label: LabelledEvent, detected: DetectedEvent) -> bool:
    zones_agree = label.zone is None or detected.zone is None or label.zone == detected.zone
    return label.type == detected.type and zones_agree and overlaps(label.start, label.end, detected.start, detected.end)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class EventScore:
    """Event-level result for one type (or all types when `type` is None) over some footage."""

    type: str | None
    labelled: int
    detected: int
    true_positives: int  # detected events matching a label
    hits: int  # labels matched by a detected event
    fragments: int  # matching detections beyond the first, summed over hit labels
    footage_s: float
    delays: tuple[float, ...] = field(default=())  # one per hit label

    @property
    def false_positives(self) -> int:
        return self.detected - self.true_positives

    @property
    def misses(self) -> int:
        return self.labelled - self.hits

    @property
    def precision(self) -> float | None:
        return _ratio(self.true_positives, self.detected)

    @property
    def recall(self) -> float | None:
        return _ratio(self.hits, self.labelled)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    @property
    def false_per_hour(self) -> float | None:
        return self.false_positives / (self.footage_s / SECONDS_PER_HOUR) if self.footage_s > 0 else None

    @property
    def mean_delay_s(self) -> float | None:
        return statistics.fmean(self.delays) if self.delays else None

    @property
    def median_delay_s(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    @property
    def max_delay_s(self) -> float | None:
        return max(self.delays) if self.delays else None

    def as_dict(self) -> dict[str, object]:
        return {
            "type": self.type,
            "labelled": self.labelled,
            "detected": self.detected,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "hits": self.hits,
            "misses": self.misses,
            "fragments": self.fragments,
            "footage_s": round(self.footage_s, 3),
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "f1": _round(self.f1),
            "false_per_hour": _round(self.false_per_hour),
            "delays_s": [round(d, 3) for d in self.delays],
            "mean_delay_s": _round(self.mean_delay_s),
            "median_delay_s": _round(self.median_delay_s),
            "max_delay_s": _round(self.max_delay_s),
        }


def score_events(
    labels: Sequence[LabelledEvent],
    detected: Sequence[DetectedEvent],
    footage_s: float,
    *,
    type: str | None = None,
) -> EventScore:
    """Score `detected` against `labels` over `footage_s` seconds; only events of `type` when given."""
    if footage_s < 0:
        raise ValueError(f"footage_s must not be negative, got {footage_s}")
    if type is not None:
        labels = [label for label in labels if label.type == type]
        detected = [event for event in detected if event.type == type]
    true_positives = sum(1 for event in detected if any(matches(label, event) for label in labels))
    hits = 0
    fragments = 0
    delays: list[float] = []
    for label in labels:
        found = [event for event in detected if matches(label, event)]
        if found:
            hits += 1
            fragments += len(found) - 1
            delays.append(min(event.start for event in found) - label.start)
    return EventScore(type, len(labels), len(detected), true_positives, hits, fragments, footage_s, tuple(delays))


def combine_event_scores(scores: Iterable[EventScore], *, type: str | None = None) -> EventScore:
    """Several clips' scores as one (micro-average: counts, footage and delays are pooled)."""
    scores = list(scores)
    return EventScore(
        type=type,
        labelled=sum(s.labelled for s in scores),
        detected=sum(s.detected for s in scores),
        true_positives=sum(s.true_positives for s in scores),
        hits=sum(s.hits for s in scores),
        fragments=sum(s.fragments for s in scores),
        footage_s=sum(s.footage_s for s in scores),
        delays=tuple(d for s in scores for d in s.delays),
    )


@dataclass(frozen=True, slots=True)
class CountPair:
    """One labelled count and what the pipeline counted nearest to it (None: no analysed frame close enough)."""

    t: float
    labelled: int
    counted: int | None
    counted_at: float | None

    @property
    def error(self) -> int | None:
        return None if self.counted is None else self.counted - self.labelled


@dataclass(frozen=True, slots=True)
class CountScore:
    pairs: tuple[CountPair, ...]

    @property
    def compared(self) -> tuple[CountPair, ...]:
        return tuple(p for p in self.pairs if p.counted is not None)

    @property
    def unmatched(self) -> int:
        return len(self.pairs) - len(self.compared)

    @property
    def mae(self) -> float | None:
        errors = [abs(p.error) for p in self.compared if p.error is not None]
        return statistics.fmean(errors) if errors else None

    @property
    def mape(self) -> float | None:
        """Mean absolute percentage error (in %), over compared labels that are not 0."""
        ratios = [abs(p.error) / p.labelled for p in self.compared if p.error is not None and p.labelled > 0]
        return 100.0 * statistics.fmean(ratios) if ratios else None

    @property
    def bias(self) -> float | None:
        """Mean signed error: positive when the pipeline over-counts."""
        errors = [p.error for p in self.compared if p.error is not None]
        return statistics.fmean(errors) if errors else None

    def as_dict(self) -> dict[str, object]:
        return {
            "labels": len(self.pairs),
            "compared": len(self.compared),
            "unmatched": self.unmatched,
            "mae": _round(self.mae),
            "mape_pct": _round(self.mape),
            "bias": _round(self.bias),
            "pairs": [
                {"t": p.t, "labelled": p.labelled, "counted": p.counted, "counted_at": p.counted_at}
                for p in self.pairs
            ],
        }


def nearest_sample(samples: Sequence[CountSample], t: float, tolerance_s: float) -> CountSample | None:
    """The sample closest to `t` within `tolerance_s` (the earlier one on a tie), or None."""
    best: CountSample | None = None
    for sample in samples:
        distance = abs(sample.t - t)
        if distance <= tolerance_s + 1e-9 and (best is None or distance < abs(best.t - t)):
            best = sample
    return best


def score_counts(labels: Sequence[CountLabel], samples: Sequence[CountSample], tolerance_s: float) -> CountScore:
    if tolerance_s < 0:
        raise ValueError(f"tolerance_s must not be negative, got {tolerance_s}")
    ordered = sorted(samples, key=lambda s: s.t)
    pairs = []
    for label in sorted(labels, key=lambda lab: lab.t):
        sample = nearest_sample(ordered, label.t, tolerance_s)
        pairs.append(
            CountPair(label.t, label.people, sample.people if sample else None, sample.t if sample else None)
        )
    return CountScore(tuple(pairs))


def combine_count_scores(scores: Iterable[CountScore]) -> CountScore:
    return CountScore(tuple(pair for score in scores for pair in score.pairs))


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
