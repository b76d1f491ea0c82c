"""What every rule is: a small object with one method over an observation (detections and time), and the
declarations the pipeline, the replay and its report read instead of knowing rule classes by name:

- `model` and `labels`: which model's detections it reads, and which of their labels (the config checks that the
  model gives them; the tracker keeps every label a tracked rule asks for);
- `needs_tracks`: whether it needs tracker ids (the pipeline tracks that model's detections);
- `counts_people`: whether it counts people, so that its model gets an input large enough for small figures on HD
  frames (`image_size: auto`, analytics/detector.py `choose_input`);
- `adoption_grace_s()`: how long an incident adopted from a previous run waits for the rule after a restart;
- `record()` and `replay_series()`: what a replay records per analysed frame, and what its report plots;
- `take_line_counts()`: crossings counted since the last call (people-flow counts, GET /cameras/{id}/lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analytics.events import Event, Observation

RecordValue = int | float | bool | None


class RuleState(StrEnum):
    IDLE = "idle"  # nothing seen
    PENDING = "pending"  # the condition holds but not yet long enough
    OPEN = "open"  # an event is open


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaySeries:
    """One panel of a replay's timeline plot: the per-frame value `key` of the rule's `record()`."""

    key: str  # the record value plotted (e.g. "people")
    label: str  # the y axis
    threshold: float | None = None  # a dashed line (e.g. min_people)
    threshold_label: str = ""
    hit_key: str | None = None  # a boolean record value marking the frames that counted as hits
    top: float | None = None  # fixed top of the y axis (confidences: 1.3); None: from the values
    step: bool = True  # a step plot (counts) or points and lines (confidences)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineCount:
    """Crossings of a camera line counted by a rule since the last `take_line_counts()`."""

    line: str
    crossed_in: int
    crossed_out: int


class Rule:
    """Base of every rule: the declarations with their defaults; a rule overrides what applies to it."""

    name: str  # the rule's name: its field under `rules` in the config and its key in RULE_FACTORIES
    category: str
    model: str | None = None  # the model whose detections the rule reads; None for health-only rules
    labels: frozenset[str] = frozenset()  # the labels it reads from `model`
    needs_tracks: bool = False  # whether it reads tracker ids
    counts_people: bool = False  # whether it counts people (HD frames then go into its model enlarged)

    @property
    def state(self) -> RuleState:
        raise NotImplementedError

    def observe(self, observation: Observation) -> Event | None:
        """Advance by one observation; return the event this step decides, if any."""
        raise NotImplementedError

    def adoption_grace_s(self, analysis_fps: float) -> float:
        """How long the rule must stay idle after a restart before an incident adopted from the previous run is
        closed (the time the rule itself would take to close a situation that is over)."""
        return 0.0

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        """What a replay records of this observation (counts, best confidence, ...), by a key of its own."""
        return {}

    def replay_series(self) -> ReplaySeries | None:
        """The replay report's timeline panel for this rule (None: no panel)."""
        return None

    def take_line_counts(self) -> list[LineCount]:
        """Line crossings counted since the last call (empty for rules that count none)."""
        return []
