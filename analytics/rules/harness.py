"""The knobs every rule shares, implemented once around any rule: arming schedule, dwell time, alarm interval.

`RuleHarness(factory, config, tz)` is itself a rule. Each step it:
- **schedule** (布防时间): outside the armed windows (the camera's time zone) the rule sees nothing: a fresh rule is
  made from `factory` when it is armed again, and an incident it had open is closed at the first disarmed step;
- **dwell** (`dwell_s`): an opening is held until the rule has stayed open that long; a situation that ends sooner
  opens nothing. The incident opens at the end of the dwell with the rule's latest evidence;
- **alarm interval** (`alarm_interval_s`): a closing is held that long; if the rule opens again meanwhile, the
  situation joins the previous incident (an update); otherwise the incident closes, at the time the rule said.

With the defaults (always armed, 0, 0) every event passes through unchanged. Severity bands and the category are
applied where incidents are made (analytics/incident_builder.py), also from the rule's config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from analytics.events import Event, EventPhase, Observation
from analytics.rules.base import LineCount, RecordValue, ReplaySeries, Rule, RuleState
from models.config import WEEKDAYS, ArmingWindow, RuleConfig


class ArmingSchedule:
    """Weekly windows in a time zone; no windows: always armed."""

    def __init__(self, windows: list[ArmingWindow], tz: ZoneInfo) -> None:
        self.windows = windows
        self.tz = tz

    def armed(self, timestamp: float) -> bool:
        if not self.windows:
            return True
        local = datetime.fromtimestamp(timestamp, self.tz)
        day = WEEKDAYS[local.weekday()]
        minute = local.hour * 60 + local.minute + local.second / 60.0
        return any(day in w.days and w.start_minute <= minute < w.end_minute for w in self.windows)


class RuleHarness(Rule):
    def __init__(self, factory: Callable[[], Rule], config: RuleConfig, tz: ZoneInfo) -> None:
        self._factory = factory
        self.inner = factory()
        self.config = config
        self.schedule = ArmingSchedule(config.schedule, tz)
        self.name = self.inner.name
        self.category = self.inner.category
        self.model = self.inner.model
        self.labels = self.inner.labels
        self.needs_tracks = self.inner.needs_tracks
        self.counts_people = self.inner.counts_people
        self._armed = True
        self._reported_open = False  # an OPENED went out and no CLOSED since
        self._held_open: Event | None = None  # an opening waiting for its dwell
        self._held_open_since = 0.0
        self._held_close: Event | None = None  # a closing waiting for the alarm interval

    @property
    def state(self) -> RuleState:
        if self._reported_open and self._held_close is None:
            return RuleState.OPEN
        if self._held_open is not None or self._held_close is not None or self.inner.state is not RuleState.IDLE:
            return RuleState.PENDING
        return RuleState.IDLE

    def adoption_grace_s(self, analysis_fps: float) -> float:
        return self.inner.adoption_grace_s(analysis_fps) + self.config.alarm_interval_s

    def record(self, observation: Observation) -> dict[str, RecordValue]:
        return self.inner.record(observation) if self._armed else {}

    def replay_series(self) -> ReplaySeries | None:
        return self.inner.replay_series()

    def take_line_counts(self) -> list[LineCount]:
        return self.inner.take_line_counts()

    def observe(self, observation: Observation) -> Event | None:
        now = observation.timestamp
        if not self.schedule.armed(now):
            return self._disarm(observation)
        self._armed = True
        event = self.inner.observe(observation)
        out: Event | None = None
        if event is not None:
            out = self._passed(event, now)
        if self._held_open is not None and now - self._held_open_since >= self.config.dwell_s:
            out = dataclasses.replace(self._held_open, phase=EventPhase.OPENED, timestamp=now)
            self._held_open, self._reported_open = None, True
        if self._held_close is not None and now - self._held_close.timestamp >= self.config.alarm_interval_s:
            out, self._held_close, self._reported_open = self._held_close, None, False
        return out

    def _passed(self, event: Event, now: float) -> Event | None:
        """What becomes of the inner rule's event now (None: held or dropped)."""
        if event.phase is EventPhase.OPENED:
            if self._held_close is not None:  # back within the alarm interval: the same incident goes on
                self._held_close = None
                return dataclasses.replace(event, phase=EventPhase.UPDATED)
            if self.config.dwell_s > 0:
                self._held_open, self._held_open_since = event, now
                return None
            self._reported_open = True
            return event
        if event.phase is EventPhase.UPDATED:
            if self._held_open is not None:  # still dwelling: the opening will carry the latest peak
                self._held_open = dataclasses.replace(event, phase=EventPhase.OPENED)
                return None
            return event if self._reported_open else None
        # CLOSED
        if self._held_open is not None:  # over before its dwell: nothing to report
            self._held_open = None
            return None
        if not self._reported_open:
            return None
        if self.config.alarm_interval_s > 0:
            self._held_close = event
            return None
        self._reported_open = False
        return event

    def _disarm(self, observation: Observation) -> Event | None:
        if not self._armed:
            return None
        self._armed = False
        out = None
        if self._held_close is not None:
            out = self._held_close
        elif self._reported_open:
            out = Event(
                phase=EventPhase.CLOSED, rule=self.name, category=self.category, camera_id=observation.camera_id,
                timestamp=observation.timestamp, magnitude=0.0,
            )  # fmt: skip
        self._reported_open, self._held_open, self._held_close = False, None, None
        self.inner = self._factory()  # armed again, it starts afresh
        return out
