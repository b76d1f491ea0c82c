from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.auth import Principal
from api.deps import GridTreeDep, PrincipalDep
from api.errors import errors
from api.schemas import GridNodeOut
from models.grid import GridTree

router = APIRouter(prefix="/grids", tags=["grids"])

NOT_FOUND = errors(404, described={404: "Unknown grid cell, or one outside the caller's grid subtree"})


def _visible_cell(tree: GridTree, principal: Principal, code: str | None) -> str:
    """The cell to start from: `code`, or the caller's subtree root (the tree's root for the whole tree); 404 for a
    cell that does not exist or that the caller may not see."""
    start = code if code is not None else (principal.grid or tree.root_code)
    if tree.get(start) is None or not principal.sees(start):
        raise HTTPException(404, f"unknown grid cell {code!r}")
    return start


@router.get("", response_model=GridNodeOut)
def grid_tree(tree: GridTreeDep, principal: PrincipalDep) -> dict[str, Any]:
    """The grid tree the caller may see (its subtree; the whole tree for an unrestricted caller), nested."""
    return tree.nested(_visible_cell(tree, principal, None))


@router.get("/geojson", responses={200: {"content": {"application/geo+json": {}}}, **NOT_FOUND})
def grid_geojson(tree: GridTreeDep, principal: PrincipalDep, root: str | None = None) -> dict[str, Any]:
    """The cells (of the subtree under `root`, or all the caller may see) as a GeoJSON FeatureCollection."""
    return tree.feature_collection(_visible_cell(tree, principal, root))


@router.get("/{code}", response_model=GridNodeOut, responses=NOT_FOUND)
def grid_subtree(code: str, tree: GridTreeDep, principal: PrincipalDep) -> dict[str, Any]:
    return tree.nested(_visible_cell(tree, principal, code))
