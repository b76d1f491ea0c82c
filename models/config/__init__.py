"""The service configuration: one pydantic model tree loaded from YAML, one module per concern.

Every field has a description; unknown keys are rejected; cross-checks are named `verify_*`. A mistake is reported
with the field's path (e.g. `cameras.cam-1.rules.crowd.min_people`), never replaced by a silent default.
Secrets (RTSP URLs carry credentials) may come from the environment: `${NAME}` inside any string is replaced by the
environment variable NAME, and a missing variable is an error naming the field.

The modules, leaves first: `base` (ConfigError, Strict), `grid`, `categories` (and the closed loop's timers, and `case_merge`),
`detectors` (`models:`), `rules`, `ground`, `cameras`, `store` (store, replays, exports), `server`, `delivery`,
`auth` (and audit), `clips`, `video_check`, `service` (the `ServiceConfig` root and its cross-checks) and `loading` (YAML, `${NAME}`,
`parse_config`/`load_config`). Every public name is re-exported here: `from models.config import CameraConfig`.
"""

from models.config.auth import (
    ApiKeyConfig,
    AuditConfig,
    AuthConfig,
    LoginThrottleConfig,
    RoleName,
    UserConfig,
)
from models.config.base import SLUG_ID, ConfigError, Strict
from models.config.cameras import (
    GB28181_CAMERA_TYPES,
    GB28181_ID,
    CameraConfig,
    LineConfig,
    ModelGateConfig,
    ModelInputConfig,
    MotionConfig,
    StreamConfig,
    TrackingConfig,
    ZoneConfig,
    verify_camera_id,
)
from models.config.case_merge import CaseMergeConfig
from models.config.categories import ClosedLoopConfig, EventCategoryConfig, SeverityBand, verify_bands
from models.config.clips import ClipsConfig
from models.config.cluster import ClusterConfig
from models.config.delivery import ENDPOINT_NAME, MIN_SECRET_LENGTH, DeliveryConfig, DeliveryEndpointConfig
from models.config.detectors import ModelConfig, UltralyticsModelConfig
from models.config.grid import GeoJSONPolygon, GridCellConfig, GridConfig, StaffMember, verify_ring
from models.config.ground import GroundCalibrationConfig
from models.config.loading import ENV_REF, expand_env, format_validation_error, load_config, parse_config
from models.config.rules import (
    WEEKDAYS,
    ArmingWindow,
    CameraOfflineRuleConfig,
    CameraTamperRuleConfig,
    CrowdRuleConfig,
    FallRuleConfig,
    FireSmokeRuleConfig,
    IntrusionRuleConfig,
    LineCrossingRuleConfig,
    LoiteringRuleConfig,
    RuleConfig,
    RulesConfig,
    Sensitivity,
    VehicleDwellRuleConfig,
    Weekday,
)
from models.config.scheduling import SchedulingConfig
from models.config.server import ServerConfig
from models.config.service import ServiceConfig
from models.config.store import ExportsConfig, ReplaysConfig, StoreConfig
from models.config.video_check import VideoCheckConfig

__all__ = [
    "ENDPOINT_NAME",
    "ENV_REF",
    "GB28181_CAMERA_TYPES",
    "GB28181_ID",
    "MIN_SECRET_LENGTH",
    "SLUG_ID",
    "WEEKDAYS",
    "ApiKeyConfig",
    "ArmingWindow",
    "AuditConfig",
    "AuthConfig",
    "CameraConfig",
    "CameraOfflineRuleConfig",
    "CameraTamperRuleConfig",
    "CaseMergeConfig",
    "ClipsConfig",
    "ClusterConfig",
    "ClosedLoopConfig",
    "ConfigError",
    "CrowdRuleConfig",
    "DeliveryConfig",
    "DeliveryEndpointConfig",
    "EventCategoryConfig",
    "ExportsConfig",
    "FallRuleConfig",
    "FireSmokeRuleConfig",
    "GeoJSONPolygon",
    "GridCellConfig",
    "GridConfig",
    "GroundCalibrationConfig",
    "IntrusionRuleConfig",
    "LineConfig",
    "LineCrossingRuleConfig",
    "LoginThrottleConfig",
    "LoiteringRuleConfig",
    "ModelConfig",
    "ModelGateConfig",
    "ModelInputConfig",
    "MotionConfig",
    "ReplaysConfig",
    "RoleName",
    "RuleConfig",
    "RulesConfig",
    "Sensitivity",
    "ServerConfig",
    "SchedulingConfig",
    "ServiceConfig",
    "SeverityBand",
    "StaffMember",
    "StoreConfig",
    "Strict",
    "StreamConfig",
    "TrackingConfig",
    "UltralyticsModelConfig",
    "UserConfig",
    "VehicleDwellRuleConfig",
    "VideoCheckConfig",
    "Weekday",
    "ZoneConfig",
    "expand_env",
    "format_validation_error",
    "load_config",
    "parse_config",
    "verify_bands",
    "verify_camera_id",
    "verify_ring",
]
