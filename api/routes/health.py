from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from api.deps import ConfigDep, StoreDep
from api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz(store: StoreDep, config: ConfigDep) -> HealthOut:
    states = {s.camera_id: s.state for s in store.cameras.statuses()}
    counts = Counter(states.get(camera_id, "unknown") for camera_id, _ in config.enabled_cameras())
    return HealthOut(status="ok", cameras=dict(counts), last_seq=store.push_log.last_seq())
