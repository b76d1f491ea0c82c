from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import ConfigDep, GridTreeDep, PrincipalDep, StoreDep
from api.schemas import CameraOut, CameraStatusOut, GridRefOut
from models.config import ServiceConfig
from models.grid import GridTree
from models.incident import CameraStatusRecord

router = APIRouter(prefix="/cameras", tags=["cameras"])


def camera_out(
    camera_id: str, config: ServiceConfig, tree: GridTree, status: CameraStatusRecord | None
) -> CameraOut:
    camera = config.cameras[camera_id]
    grid_code = config.camera_grid_cell(camera_id)
    return CameraOut(
        id=camera_id,
        name=camera.name,
        grid_code=grid_code,
        grid_path=[GridRefOut(code=c.code, name=c.name) for c in tree.path(grid_code)],
        lat=camera.lat,
        lon=camera.lon,
        enabled=camera.enabled,
        analysis_fps=camera.analysis_fps,
        rules=[name for name, rule in camera.rules if rule is not None and rule.enabled],
        zones={name: list(zone.polygon) for name, zone in camera.zones.items()},
        status=CameraStatusOut.model_validate(status.model_dump()) if status else CameraStatusOut(state="unknown"),
    )


@router.get("", response_model=list[CameraOut])
def list_cameras(config: ConfigDep, store: StoreDep, tree: GridTreeDep, principal: PrincipalDep) -> list[CameraOut]:
    """The cameras in the caller's grid subtree, in config order."""
    statuses = {s.camera_id: s for s in store.camera_statuses()}
    return [
        camera_out(cid, config, tree, statuses.get(cid))
        for cid in config.cameras
        if principal.sees(config.camera_grid_cell(cid))
    ]


@router.get(
    "/{camera_id}",
    response_model=CameraOut,
    responses={404: {"description": "Unknown camera, or one outside the caller's grid subtree"}},
)
def get_camera(
    camera_id: str, config: ConfigDep, store: StoreDep, tree: GridTreeDep, principal: PrincipalDep
) -> CameraOut:
    if camera_id not in config.cameras or not principal.sees(config.camera_grid_cell(camera_id)):
        raise HTTPException(404, f"unknown camera {camera_id!r}")
    statuses = {s.camera_id: s for s in store.camera_statuses()}
    return camera_out(camera_id, config, tree, statuses.get(camera_id))
