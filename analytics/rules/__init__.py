"""Rules, registered by their config field name. Adding a rule: one new file, one line in RULE_FACTORIES."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analytics.rules.base import Rule, RuleState
from analytics.rules.camera_offline_rule import CameraOfflineRule
from analytics.rules.crowd_rule import CrowdRule
from analytics.rules.fire_smoke_rule import FireSmokeRule
from analytics.zones import Zone
from models.config import CameraConfig

RULE_FACTORIES: dict[str, Callable[[Any, Zone | None], Rule]] = {
    "crowd": CrowdRule,
    "fire_smoke": FireSmokeRule,
    "camera_offline": lambda config, _zone: CameraOfflineRule(config),
}


def build_rules(camera: CameraConfig) -> list[Rule]:
    """The enabled rules of one camera, each with its zone."""
    zones = {name: Zone.from_config(name, zone) for name, zone in camera.zones.items()}
    rules: list[Rule] = []
    for field_name, rule_config in camera.rules:
        if rule_config is None or not rule_config.enabled:
            continue
        zone_name = getattr(rule_config, "zone", None)
        rules.append(RULE_FACTORIES[field_name](rule_config, zones[zone_name] if zone_name else None))
    return rules


__all__ = ["RULE_FACTORIES", "Rule", "RuleState", "build_rules"]
