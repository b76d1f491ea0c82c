"""Rules, registered by their config field name (`rules.<name>` in a camera's config).

Adding a rule: its file here (a `Rule` subclass, analytics/rules/base.py, declaring what it needs), one line in
RULE_FACTORIES, and its config model (a `RuleConfig` subclass in models/config/rules.py, a field of `RulesConfig`).
Nothing else names it: the pipeline, replays, their report and the config checks read the declarations. The shared
knobs (schedule, dwell, alarm interval, sensitivity, category and severity bands) come with `RuleConfig` and
`RuleHarness`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analytics.rules.base import LineCount, ReplaySeries, Rule, RuleState
from analytics.rules.camera_offline_rule import CameraOfflineRule
from analytics.rules.camera_tamper import CameraTamperRule
from analytics.rules.crowd_rule import CrowdRule
from analytics.rules.fall import FallRule
from analytics.rules.fire_smoke_rule import FireSmokeRule
from analytics.rules.harness import RuleHarness
from analytics.rules.intrusion import IntrusionRule
from analytics.rules.line_crossing import LineCrossingRule
from analytics.rules.loitering import LoiteringRule
from analytics.rules.site import RuleSite
from analytics.rules.vehicle_dwell import VehicleDwellRule
from models.config import CameraConfig

RULE_FACTORIES: dict[str, Callable[[Any, RuleSite], Rule]] = {
    "crowd": lambda config, site: CrowdRule(config, site.zone(config.zone)),
    "fire_smoke": lambda config, site: FireSmokeRule(config, site.zone(config.zone)),
    "camera_offline": lambda config, _site: CameraOfflineRule(config),
    "intrusion": IntrusionRule,
    "loitering": LoiteringRule,
    "line_crossing": LineCrossingRule,
    "fall": FallRule,
    "camera_tamper": CameraTamperRule,
    "vehicle_dwell": VehicleDwellRule,
}


def build_rules(camera: CameraConfig) -> list[Rule]:
    """The enabled rules of one camera, each in the harness of the shared knobs."""
    rules: list[Rule] = []
    for name, config in camera.rules.enabled():
        factory = RULE_FACTORIES[name]

        def make(factory: Callable[[Any, RuleSite], Rule] = factory, config: Any = config) -> Rule:
            return factory(config, RuleSite.of(camera))  # fresh zones and lines: a line remembers sides

        rules.append(RuleHarness(make, config, camera.zoneinfo))
    return rules


def analysis_fps(camera: CameraConfig, rules: list[Rule] | None = None) -> float:
    """The fps `camera` is analysed at: its `analysis_fps`, raised to `tracking.min_fps` while one of its rules
    needs tracks (bench/tracking/RESULTS.md: trackers lose most walkers at 1-2 fps)."""
    rules = build_rules(camera) if rules is None else rules
    if camera.tracking.min_fps is not None and any(rule.needs_tracks for rule in rules):
        return max(camera.analysis_fps, camera.tracking.min_fps)
    return camera.analysis_fps


__all__ = ["RULE_FACTORIES", "LineCount", "ReplaySeries", "Rule", "RuleSite", "RuleState", "analysis_fps", "build_rules"]
