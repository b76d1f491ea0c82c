"""The root of the service configuration: `ServiceConfig`, and the checks that span its parts (a camera's grid
cell, a rule's model and category, a user's grid subtree)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from models.config.auth import AuditConfig, AuthConfig
from models.config.base import Strict
from models.config.cameras import CameraConfig, verify_camera_id
from models.config.categories import ClosedLoopConfig, EventCategoryConfig
from models.config.clips import ClipsConfig
from models.config.cluster import ClusterConfig
from models.config.delivery import DeliveryConfig
from models.config.detectors import ModelConfig
from models.config.grid import GridConfig
from models.config.scheduling import SchedulingConfig
from models.config.server import ServerConfig
from models.config.store import ExportsConfig, ReplaysConfig, StoreConfig
from models.grid import GridTree


class ServiceConfig(Strict):
    grid: GridConfig = Field(description="The grid tree (网格).")
    event_categories: dict[str, EventCategoryConfig] = Field(
        min_length=1, description="Event categories by code (事件责任清单)."
    )
    models: dict[str, ModelConfig] = Field(default_factory=dict, description="Detector models by name.")
    cameras: dict[str, CameraConfig] = Field(default_factory=dict, description="Cameras by id.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Persistence.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP/websocket server.")
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig,
        description="Delivery of incident changes to the incident system (signed CloudEvents, retried, in order).",
    )
    closed_loop: ClosedLoopConfig = Field(default_factory=ClosedLoopConfig, description="The closed loop's timers.")
    replays: ReplaysConfig = Field(
        default_factory=ReplaysConfig, description="Replays through the API (POST /replays): where clips may come from."
    )
    exports: ExportsConfig = Field(default_factory=ExportsConfig, description="CAP, GeoJSON and Open311 exports.")
    auth: AuthConfig = Field(
        default_factory=AuthConfig,
        description="Users and API keys; without any, nobody can use the API (only /healthz is open).",
    )
    audit: AuditConfig = Field(default_factory=AuditConfig, description="The audit log (who did what).")
    clips: ClipsConfig = Field(
        default_factory=ClipsConfig, description="Event clips: the video around each incident (models/config/clips.py)."
    )
    scheduling: SchedulingConfig = Field(
        default_factory=SchedulingConfig,
        description="How cameras sharing a model take turns on it (models/config/scheduling.py).",
    )
    cluster: ClusterConfig | None = Field(
        default=None,
        description="Several processes sharing one store: the network broker, the Ray address (models/config/"
        "cluster.py). Absent: one process.",
    )

    @field_validator("cameras")
    @classmethod
    def verify_camera_ids(cls, cameras: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        for camera_id in cameras:
            verify_camera_id(camera_id)
        return cameras

    @model_validator(mode="after")
    def verify_references(self) -> ServiceConfig:
        tree = self.grid.tree()
        problems: list[str] = []
        for camera_id, camera in self.cameras.items():
            where = f"cameras.{camera_id}"
            if camera.grid_cell is not None:
                if tree.get(camera.grid_cell) is None:
                    problems.append(f"{where}.grid_cell: unknown grid cell {camera.grid_cell!r}")
            elif camera.lat is None or camera.lon is None:
                problems.append(f"{where}.grid_cell: give grid_cell, or lat and lon to find the cell")
            elif tree.locate(camera.lon, camera.lat) is None:
                problems.append(
                    f"{where}.grid_cell: no grid cell polygon contains lat={camera.lat}, lon={camera.lon}"
                )
            for input_model in camera.inference:
                if input_model not in self.models:
                    problems.append(f"{where}.inference.{input_model}: unknown model {input_model!r}")
            for rule_name, rule in camera.rules.enabled():
                if rule.category not in self.event_categories:
                    problems.append(f"{where}.rules.{rule_name}.category: unknown category {rule.category!r}")
                model_name = rule.model_name
                if model_name is not None and model_name not in self.models:
                    problems.append(f"{where}.rules.{rule_name}.model: unknown model {model_name!r}")
                labels = rule.needed_labels()
                if model_name in self.models and not labels <= self.models[model_name].label_set():
                    missing = sorted(labels - self.models[model_name].label_set())
                    problems.append(f"{where}.rules.{rule_name}.model: model {model_name!r} gives no {missing} labels")
        for kind, entries in (("users", self.auth.users), ("api_keys", self.auth.api_keys)):
            for name, entry in entries.items():
                if entry.grid is not None and tree.get(entry.grid) is None:
                    problems.append(f"auth.{kind}.{name}.grid: unknown grid cell {entry.grid!r}")
                if entry.role == "operator" and entry.grid is None:
                    problems.append(f"auth.{kind}.{name}.grid: an operator is bound to a grid subtree; give one")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def verify_cluster_store(self) -> ServiceConfig:
        """A cluster's processes share one store: it must be PostgreSQL (SQLite cannot be shared by nodes)."""
        if self.cluster is not None:
            scheme = urlsplit(self.store.url.get_secret_value()).scheme.lower()
            if not scheme.startswith("postgresql"):
                raise ValueError(
                    f"store.url: a cluster needs PostgreSQL (postgresql+psycopg://...), not {scheme or '(none)'}: "
                    "SQLite cannot be shared by nodes"
                )
        return self

    def grid_tree(self) -> GridTree:
        return self._grid_tree

    def replay_folders(self) -> list[Path]:
        """Where POST /replays may read clips: `replays.folders`, or `<data_dir>/replays`; absolute, resolved."""
        folders = self.replays.folders or [self.store.data_dir / "replays"]
        return [folder.resolve() for folder in folders]

    @cached_property
    def _grid_tree(self) -> GridTree:
        return self.grid.tree()

    @cached_property
    def _camera_cells(self) -> dict[str, str]:
        cells = {}
        for camera_id, camera in self.cameras.items():
            if camera.grid_cell is not None:
                cells[camera_id] = camera.grid_cell
            else:
                assert camera.lat is not None and camera.lon is not None
                cell = self._grid_tree.locate(camera.lon, camera.lat)
                assert cell is not None  # verify_references guarantees it
                cells[camera_id] = cell.code
        return cells

    def camera_grid_cell(self, camera_id: str) -> str:
        """The camera's grid cell: configured, or the deepest cell whose polygon contains it."""
        return self._camera_cells[camera_id]

    def enabled_cameras(self) -> Iterator[tuple[str, CameraConfig]]:
        return ((cid, cam) for cid, cam in self.cameras.items() if cam.enabled)
