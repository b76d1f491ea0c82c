"""The shared knobs (analytics/rules/harness.py) around real rules: arming schedule, dwell, alarm interval,
sensitivity presets, severity bands, all with an explicit clock."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from analytics.events import EventPhase
from analytics.rules import build_rules
from analytics.rules.harness import RuleHarness
from analytics.rules.intrusion import IntrusionRule
from analytics.rules.site import RuleSite
from analytics.zones import Zone
from models.config import (
    CameraConfig,
    CrowdRuleConfig,
    IntrusionRuleConfig,
    LineCrossingRuleConfig,
    ZoneConfig,
)
from tests.analytics.helpers import observe, people, tracked

SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = RuleSite({"gate": Zone.from_config("gate", ZoneConfig(polygon=[(0, 0), (200, 0), (200, 480), (0, 480)]))},
                {}, 1.0)  # fmt: skip


def harness(**knobs):
    config = IntrusionRuleConfig(zone="gate", clear_s=0, **knobs)
    return RuleHarness(lambda: IntrusionRule(config, SITE), config, SHANGHAI)


def run(rule, present, start=0.0):
    """One observation per second from `start`; `present[i]`: someone in the zone at second i."""
    out = []
    for i, here in enumerate(present):
        t = start + i
        event = rule.observe(observe(t, {"people": tracked([(-1, 50)] if here else [])}))
        if event is not None:
            out.append((event.timestamp - start, event.phase))
    return out


@pytest.mark.parametrize(
    ("knobs", "present", "expected"),
    [
        ({"dwell_s": 0}, [], []),
        ({"dwell_s": 0}, [1, 1, 0], [(0, EventPhase.OPENED), (2, EventPhase.CLOSED)]),
        ({"dwell_s": 3}, [1, 1, 1, 1, 0], [(3, EventPhase.OPENED), (4, EventPhase.CLOSED)]),  # opens at the dwell
        ({"dwell_s": 3}, [1, 1, 0, 1, 1, 0], []),  # never 3 s without a break: nothing at all
        # back within the alarm interval: the same incident (updated); it closes, at the time the rule said, once
        # the situation stayed away for the interval
        ({"dwell_s": 0, "alarm_interval_s": 5}, [1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
         [(0, EventPhase.OPENED), (3, EventPhase.UPDATED), (4, EventPhase.CLOSED)]),
        ({"dwell_s": 0, "alarm_interval_s": 2}, [1, 0, 0, 0, 1, 0], [(0, EventPhase.OPENED), (1, EventPhase.CLOSED),
                                                                     (4, EventPhase.OPENED)]),  # back too late: new
    ],
)  # fmt: skip
def test_dwell_and_alarm_interval(knobs, present, expected):
    assert run(harness(**knobs), present) == expected


def test_outside_its_schedule_the_rule_is_disarmed_and_an_open_incident_closes():
    # Armed Mondays 08:00-08:00:05 local time; 2026-11-30 is a Monday.
    monday_8 = datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI).timestamp()
    rule = harness(dwell_s=0, schedule=[{"days": ["mon"], "start": "08:00", "end": "08:01"}])
    assert run(rule, [1, 1], start=monday_8 - 2) == []  # 07:59:58-59: disarmed, someone there or not
    assert run(rule, [1, 1], start=monday_8) == [(0, EventPhase.OPENED)]
    assert run(rule, [1, 1], start=monday_8 + 60) == [(0, EventPhase.CLOSED)]  # 08:01 disarms: closed
    assert run(rule, [1], start=monday_8 + 7 * 86400 - 60) == []  # next Monday 07:59: disarmed
    tuesday = harness(dwell_s=0, schedule=[{"days": ["mon"], "start": "08:00", "end": "09:00"}])
    assert run(tuesday, [1], start=monday_8 + 86400) == []


def test_sensitivity_presets_set_thresholds_unless_written_out():
    assert IntrusionRuleConfig(zone="z").min_confidence == 0.4 and IntrusionRuleConfig(zone="z").dwell_s == 5
    low = IntrusionRuleConfig(zone="z", sensitivity="low")
    assert (low.min_confidence, low.dwell_s) == (0.5, 10)
    high = IntrusionRuleConfig.model_validate({"zone": "z", "sensitivity": "high", "dwell_s": 7})
    assert (high.min_confidence, high.dwell_s) == (0.3, 7)  # the written-out dwell wins over the preset
    assert CrowdRuleConfig().min_confidence == CrowdRuleConfig(sensitivity="medium").min_confidence == 0.35
    assert LineCrossingRuleConfig(line="l", sensitivity="low").min_confidence == 0.5


def test_default_knobs_leave_the_crowd_rule_as_it_was():
    camera = CameraConfig(name="c", url="rtsp://h/x", rules={"crowd": {"min_people": 2, "open_after_s": 1}})
    [rule] = [r for r in build_rules(camera) if r.name == "crowd"]
    phases = [e.phase for t, n in enumerate([2, 2, 0, 0]) if (e := rule.observe(observe(t, {"people": people(n)})))]
    assert phases == [EventPhase.OPENED]  # at 1 s, as the bare rule; closing waits close_after_s (15 s)
    assert rule.adoption_grace_s(1.0) == 15.0


def test_every_rule_in_the_config_has_one_registration_and_the_other_way_round():
    from analytics.rules import RULE_FACTORIES
    from models.config import RuleConfig, RulesConfig

    assert set(RulesConfig.model_fields) == set(RULE_FACTORIES)
    for name, field in RulesConfig.model_fields.items():
        config_model = next(a for a in getattr(field.annotation, "__args__", (field.annotation,)) if a is not type(None))
        assert issubclass(config_model, RuleConfig), name


@pytest.mark.parametrize(("magnitude", "severity"), [(0, "C"), (2, "C"), (3, "A"), (9, "A")])
def test_a_rule_may_bring_its_own_severity_bands(magnitude, severity):
    from analytics.events import Event
    from analytics.incident_builder import IncidentBuilder
    from api.cli import DEMO_CONFIG
    from models.config import parse_config
    from tests.conftest import demo_raw_config

    assert DEMO_CONFIG.is_file()
    raw = demo_raw_config()
    camera_id = "34020000001320000001"
    raw["cameras"][camera_id]["rules"]["intrusion"]["severity_bands"] = [
        {"severity": "C", "min_magnitude": 0}, {"severity": "A", "min_magnitude": 3}]  # fmt: skip
    config = parse_config(raw, environ={"XUELIANG_DEMO_RTSP": "rtsp://127.0.0.1:9"})
    builder = IncidentBuilder(config)
    event = Event(
        phase=EventPhase.OPENED, rule="intrusion", category="zone_intrusion", camera_id=camera_id, timestamp=0.0,
        magnitude=float(magnitude), count=magnitude,
    )  # fmt: skip
    assert builder.open(event).severity == severity  # the category's own bands would say B, then A from 5
    line = Event(
        phase=EventPhase.OPENED, rule="line_crossing", category="line_crossing", camera_id=camera_id, timestamp=0.0,
        magnitude=float(magnitude),
    )  # fmt: skip
    assert builder.open(line).severity == ("C" if magnitude < 5 else "B")  # no bands of its own: the category's
