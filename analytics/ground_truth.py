"""Ground-truth labels for replays: a small YAML file a person writes by hand (see bench/replay/LABELS.md).

    clips:
      fire_indoor_cctv_lockers.mp4:          # the clip's file name (any folder)
        camera: bench-fire-indoor            # optional: the configured camera to replay it as
        events:
          - {type: fire_smoke, start: 0.0, end: 9.9}
        people: {5: 6, 20: 7}                # optional: seconds -> people the crowd rule should count
        also_as: [bench-tracks]              # optional: replay it as these cameras too (other rules)
        crossings: {gate: {in: 3, out: 5}}   # optional: crossings of a camera line over the whole clip

Event types are rule names (RULE_FACTORIES: fire_smoke, crowd, intrusion, loitering, line_crossing, ...). Unknown
keys are errors with the field's path.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from analytics.rules import RULE_FACTORIES
from analytics.scoring import CountLabel, LabelledEvent
from models.config import ConfigError, Strict, format_validation_error
from models.yaml_file import YamlFileError, read_yaml_file


class LabelsError(ConfigError):
    """A labels file that cannot be used. `str()` lists every problem with its field path."""

    what = "labels"


class EventLabel(Strict):
    type: str = Field(
        description="The rule that should raise an incident: fire_smoke, crowd, intrusion, loitering, line_crossing..."
    )
    start: float = Field(ge=0, description="Seconds from the clip's start when it becomes visible.")
    end: float = Field(ge=0, description="Seconds from the clip's start when it is over (the clip's end if ongoing).")
    zone: str | None = Field(default=None, description="Only incidents of rules watching this zone match.")
    note: str | None = Field(default=None, description="What the labeller saw; free text.")

    @field_validator("type")
    @classmethod
    def verify_type(cls, value: str) -> str:
        if value not in RULE_FACTORIES:
            raise ValueError(f"unknown event type {value!r}; one of {sorted(RULE_FACTORIES)}")
        return value

    @model_validator(mode="after")
    def verify_interval(self) -> EventLabel:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self

    def as_scoring(self) -> LabelledEvent:
        return LabelledEvent(self.type, self.start, self.end, self.zone)


class CrossingCount(Strict):
    crossed_in: int = Field(ge=0, alias="in", description="Crossings `in` over the clip (see the camera's `lines`).")
    crossed_out: int = Field(ge=0, alias="out", description="Crossings `out` over the clip.")


class ClipLabels(Strict):
    camera: str | None = Field(default=None, description="Configured camera id to replay this clip as.")
    also_as: list[str] = Field(
        default_factory=list,
        description="Other configured cameras to replay the clip as too (other rules, another analysis fps). Each "
        "replay is scored on the types its camera runs; a labelled type none of them runs counts as missed on the "
        "first.",
    )
    crossings: dict[str, CrossingCount] = Field(
        default_factory=dict,
        description="Camera line -> crossings in and out over the whole clip, compared with the line-crossing "
        "rule's counts on that line.",
    )
    events: list[EventLabel] = Field(
        default_factory=list, description="Everything that should raise an incident; empty: nothing should."
    )
    people: dict[float, int] = Field(
        default_factory=dict,
        description="Seconds -> number of people the crowd rule should count then (in its zone; whole frame "
        "when it has none). Count a person when at least half of the body is in view.",
    )
    note: str | None = Field(default=None, description="What the clip shows; free text.")

    @field_validator("people")
    @classmethod
    def verify_people(cls, people: dict[float, int]) -> dict[float, int]:
        for t, count in people.items():
            if t < 0 or count < 0:
                raise ValueError(f"{t}: {count}: times and counts must not be negative")
        return people

    def event_labels(self) -> list[LabelledEvent]:
        return [event.as_scoring() for event in self.events]

    def count_labels(self) -> list[CountLabel]:
        return [CountLabel(t, count) for t, count in sorted(self.people.items())]


class LabelSet(Strict):
    clips: dict[str, ClipLabels] = Field(description="Labels by clip file name (no folder).")

    @field_validator("clips")
    @classmethod
    def verify_file_names(cls, clips: dict[str, ClipLabels]) -> dict[str, ClipLabels]:
        for name in clips:
            if Path(name).name != name:
                raise ValueError(f"{name!r}: name clips by file name only, without a folder")
        return clips

    def for_clip(self, clip: str | Path) -> ClipLabels | None:
        """The labels of `clip`, found by its file name; None when it has none."""
        return self.clips.get(Path(clip).name)


def parse_labels(raw: object, *, source: str | None = None) -> LabelSet:
    if not isinstance(raw, dict):
        raise LabelsError(["(root): the labels file must be a mapping with a `clips` key"], source)
    try:
        return LabelSet.model_validate(raw)
    except ValidationError as error:
        raise LabelsError(format_validation_error(error), source) from None


def load_labels(path: str | Path) -> LabelSet:
    """Read and check a labels file; LabelsError (every problem with its field path) when it is wrong."""
    path = Path(path)
    try:
        raw = read_yaml_file(path)
    except YamlFileError as error:
        raise LabelsError(error.problems, str(path)) from None
    return parse_labels(raw, source=str(path))
