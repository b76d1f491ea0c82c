from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response

from analytics.rules import analysis_fps
from api.auth import Principal
from api.deps import ConfigDep, GridTreeDep, LineCountsDep, PrincipalDep, StoreDep, ThumbnailsDep
from api.errors import errors
from api.schemas import CameraLinesOut, CameraOut, CameraStatusOut, GridRefOut, LineCountOut
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
        analysis_fps=analysis_fps(camera),
        rules=[name for name, _ in camera.rules.enabled()],
        zones={name: list(zone.polygon) for name, zone in camera.zones.items()},
        lines={name: list(line.points) for name, line in camera.lines.items()},
        status=CameraStatusOut.model_validate(status.model_dump()) if status else CameraStatusOut(state="unknown"),
    )


def visible_camera(config: ServiceConfig, principal: Principal, camera_id: str) -> None:
    """404 for a camera that does not exist or that the caller may not see (the two cannot be told apart)."""
    if camera_id not in config.cameras or not principal.sees(config.camera_grid_cell(camera_id)):
        raise HTTPException(404, f"unknown camera {camera_id!r}")


@router.get("", response_model=list[CameraOut])
def list_cameras(config: ConfigDep, store: StoreDep, tree: GridTreeDep, principal: PrincipalDep) -> list[CameraOut]:
    """The cameras in the caller's grid subtree, in config order."""
    statuses = {s.camera_id: s for s in store.cameras.statuses()}
    return [
        camera_out(cid, config, tree, statuses.get(cid))
        for cid in config.cameras
        if principal.sees(config.camera_grid_cell(cid))
    ]


@router.get(
    "/{camera_id}",
    response_model=CameraOut,
    responses=errors(404, described={404: "Unknown camera, or one outside the caller's grid subtree"}),
)
def get_camera(
    camera_id: str, config: ConfigDep, store: StoreDep, tree: GridTreeDep, principal: PrincipalDep
) -> CameraOut:
    visible_camera(config, principal, camera_id)
    statuses = {s.camera_id: s for s in store.cameras.statuses()}
    return camera_out(camera_id, config, tree, statuses.get(camera_id))


@router.get(
    "/{camera_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The camera's latest analysed frame, downscaled"},
        **errors(404, described={404: "Unknown camera, one outside the caller's grid subtree, or no frame yet"}),
    },
)
def get_thumbnail(camera_id: str, config: ConfigDep, principal: PrincipalDep, thumbnails: ThumbnailsDep) -> Response:
    """A recent look at the camera for the camera wall: its newest analysed frame as a small JPEG (320 px wide),
    written by the camera's pipeline (every 2 s) to the store's data directory. `X-Frame-Time` is the frame's time
    (ISO 8601), `X-Frame-Size` the analysed frame's size before downscaling (`768x576`: the image pixels zones and
    lines are given in). 404 until the camera's first analysed frame."""
    visible_camera(config, principal, camera_id)
    thumbnail = thumbnails.latest(camera_id)
    if thumbnail is None:
        raise HTTPException(404, f"camera {camera_id!r} has no frame yet")
    at = datetime.fromtimestamp(thumbnail.timestamp, UTC).isoformat().replace("+00:00", "Z")
    headers = {"Cache-Control": "no-store", "X-Frame-Time": at}
    if thumbnail.frame_size is not None:
        headers["X-Frame-Size"] = "{}x{}".format(*thumbnail.frame_size)
    return Response(thumbnail.jpeg, media_type="image/jpeg", headers=headers)


@router.get(
    "/{camera_id}/lines",
    response_model=CameraLinesOut,
    responses=errors(404, described={404: "Unknown camera, or one outside the caller's grid subtree"}),
)
def get_line_counts(camera_id: str, config: ConfigDep, principal: PrincipalDep, counts: LineCountsDep) -> CameraLinesOut:
    """People flow: each camera line with the crossings in and out that the camera's line-crossing rule counted
    (totals since counting began; they survive restarts). Written by the camera's pipeline to the store's data
    directory, so any API replica sharing it answers."""
    visible_camera(config, principal, camera_id)
    camera = config.cameras[camera_id]
    totals = counts.read(camera_id)
    counted = {line for _, rule in camera.rules.enabled() for line in rule.line_refs().values()}
    lines = []
    for name, line in camera.lines.items():
        total = totals.get(name)
        lines.append(
            LineCountOut(
                line=name,
                points=list(line.points),
                counted=name in counted,
                crossed_in=total.crossed_in if total else 0,
                crossed_out=total.crossed_out if total else 0,
                since=total.since if total else None,
                updated_at=total.updated_at if total else None,
            )
        )
    return CameraLinesOut(camera_id=camera_id, lines=lines)
