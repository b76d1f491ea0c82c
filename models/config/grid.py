"""`grid:` in the service config: the grid tree (网格) as configured, and the GridTree built from it."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from models.config.base import Strict
from models.grid import GridCell, GridTree


class StaffMember(Strict):
    name: str = Field(description="Grid staff member's name (网格员).")
    role: str = Field(default="grid_staff", description="Role in the grid, e.g. grid_staff, grid_leader.")
    phone: str | None = Field(default=None, description="Contact phone; shown to operators only.")


class GeoJSONPolygon(Strict):
    type: Literal["Polygon", "MultiPolygon"] = Field(description="GeoJSON geometry type.")
    coordinates: list[Any] = Field(
        description="GeoJSON coordinates, [longitude, latitude] order (RFC 7946): a Polygon is a list of closed "
        "rings (the outer boundary, then holes), each at least 4 positions with the last equal to the first; a "
        "MultiPolygon is a list of Polygons. The shape must be valid (no self-intersection), as shapely checks it."
    )

    @model_validator(mode="after")
    def verify_geometry(self) -> GeoJSONPolygon:
        """The coordinates are checked by hand for shape (so the message says which ring or position is wrong),
        then the geometry by shapely (self-intersections, holes outside the shell, ...)."""
        from shapely.geometry import shape
        from shapely.validation import explain_validity

        polygons = [self.coordinates] if self.type == "Polygon" else self.coordinates
        prefix = "coordinates" if self.type == "Polygon" else None
        if not polygons:
            raise ValueError("coordinates: a MultiPolygon needs at least one polygon")
        for p, polygon in enumerate(polygons):
            where = prefix or f"coordinates.{p}"
            if not isinstance(polygon, list) or not polygon:
                raise ValueError(f"{where}: a polygon is a non-empty list of rings")
            for r, ring in enumerate(polygon):
                verify_ring(ring, f"{where}.{r}")
        geometry = shape(self.model_dump())
        if not geometry.is_valid:
            raise ValueError(f"not a valid polygon: {explain_validity(geometry)}")
        return self


def verify_ring(ring: Any, where: str) -> None:
    """A GeoJSON linear ring: at least 4 [longitude, latitude] positions, closed (the last equals the first)."""
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError(f"{where}: a ring needs at least 4 positions (the last repeating the first)")
    for i, position in enumerate(ring):
        if not (
            isinstance(position, list)
            and len(position) in (2, 3)
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in position)
        ):
            raise ValueError(f"{where}.{i}: a position is [longitude, latitude] in numbers")
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"{where}.{i}: longitude must be within ±180 and latitude within ±90 (lon, lat order)")
    if ring[0][:2] != ring[-1][:2]:
        raise ValueError(f"{where}: the ring is not closed (its last position must equal its first)")


class GridCellConfig(Strict):
    code: str = Field(
        description="Hierarchical code: the parent's code followed by this level's digits "
        "(admin 6 + street 3 + community 3 + grid 3)."
    )
    name: str = Field(description="Display name, e.g. 北山街道.")
    level: str | None = Field(default=None, description="Level name; derived from the code length when omitted.")
    polygon: GeoJSONPolygon | None = Field(default=None, description="Boundary as a GeoJSON Polygon/MultiPolygon.")
    staff: list[StaffMember] = Field(default_factory=list, description="Staff responsible for this cell.")
    children: list[GridCellConfig] = Field(default_factory=list, description="Child cells one level down.")

    @field_validator("code")
    @classmethod
    def verify_code_digits(cls, code: str) -> str:
        if not code.isdigit():
            raise ValueError(f"grid code must be digits only, got {code!r}")
        return code


class GridConfig(Strict):
    level_digits: list[int] = Field(
        default=[6, 3, 3, 3],
        description="Digits each level adds to the code, root first (default admin 6 + street 3 + community 3 + grid 3).",
    )
    level_names: list[str] = Field(
        default=["district", "street", "community", "grid"],
        description="Names of the levels, root first; same length as level_digits.",
    )
    root: GridCellConfig = Field(description="The root cell (usually a district) with its subtree.")

    @model_validator(mode="after")
    def verify_levels(self) -> GridConfig:
        if len(self.level_digits) != len(self.level_names):
            raise ValueError("level_digits and level_names must have the same length")
        problems: list[str] = []
        seen: set[str] = set()

        def walk(cell: GridCellConfig, depth: int, parent_code: str, path: str) -> None:
            if depth >= len(self.level_digits):
                problems.append(f"{path}: deeper than the {len(self.level_digits)} configured levels")
                return
            want = sum(self.level_digits[: depth + 1])
            if len(cell.code) != want:
                problems.append(f"{path}.code: {cell.code!r} must have {want} digits at level {depth}")
            if not cell.code.startswith(parent_code):
                problems.append(f"{path}.code: {cell.code!r} must start with its parent's code {parent_code!r}")
            if cell.code in seen:
                problems.append(f"{path}.code: duplicate grid code {cell.code!r}")
            seen.add(cell.code)
            for i, child in enumerate(cell.children):
                walk(child, depth + 1, cell.code, f"{path}.children.{i}")

        walk(self.root, 0, "", "root")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def tree(self) -> GridTree:
        """The grid tree for lookups: each cell with its level name, parent, children and polygon geometry."""
        from shapely.geometry import shape

        cells: dict[str, GridCell] = {}

        def add(cell: GridCellConfig, depth: int, parent: str | None) -> None:
            polygon = cell.polygon.model_dump() if cell.polygon else None
            cells[cell.code] = GridCell(
                code=cell.code,
                name=cell.name,
                level=cell.level or self.level_names[min(depth, len(self.level_names) - 1)],
                parent_code=parent,
                polygon=polygon,
                staff=tuple(s.model_dump() for s in cell.staff),
                children=tuple(c.code for c in cell.children),
                geometry=shape(polygon) if polygon else None,
            )
            for child in cell.children:
                add(child, depth + 1, cell.code)

        add(self.root, 0, None)
        return GridTree(cells, self.root.code)
