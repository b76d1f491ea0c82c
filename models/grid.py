"""The grid tree (网格): lookups by code, ancestors, subtrees, and point-in-polygon location.

Built from the configured tree by `GridConfig.tree()` (models/config/grid.py); this module knows no config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class GridCell:
    code: str
    name: str
    level: str
    parent_code: str | None
    polygon: dict[str, Any] | None  # GeoJSON geometry
    staff: tuple[dict[str, Any], ...]
    children: tuple[str, ...]
    geometry: BaseGeometry | None = field(default=None, compare=False, repr=False)


def is_in_subtree(code: str, ancestor_code: str) -> bool:
    """Grid codes are hierarchical: a descendant's code starts with each ancestor's code."""
    return code.startswith(ancestor_code)


class GridTree:
    def __init__(self, cells: dict[str, GridCell], root_code: str) -> None:
        self._cells = cells
        self.root_code = root_code

    def __iter__(self) -> Iterator[GridCell]:
        return iter(self._cells.values())

    def get(self, code: str) -> GridCell | None:
        return self._cells.get(code)

    def path(self, code: str) -> list[GridCell]:
        """Root first, the cell itself last."""
        out: list[GridCell] = []
        cell = self._cells.get(code)
        while cell is not None:
            out.append(cell)
            cell = self._cells.get(cell.parent_code) if cell.parent_code else None
        return out[::-1]

    def locate(self, lon: float, lat: float) -> GridCell | None:
        """The deepest cell whose polygon contains the point (boundary included)."""
        point = Point(lon, lat)
        best: GridCell | None = None
        for cell in self._cells.values():
            inside = cell.geometry is not None and cell.geometry.covers(point)
            if inside and (best is None or len(cell.code) > len(best.code)):
                best = cell
        return best

    def subtree(self, code: str) -> list[GridCell]:
        return [c for c in self._cells.values() if is_in_subtree(c.code, code)]

    def nested(self, code: str | None = None) -> dict[str, Any]:
        """The tree as nested dicts (for the API), starting at `code` (the root by default)."""
        cell = self._cells[code or self.root_code]
        return {
            "code": cell.code,
            "name": cell.name,
            "level": cell.level,
            "staff": list(cell.staff),
            "children": [self.nested(child) for child in cell.children],
        }

    def feature_collection(self, code: str | None = None) -> dict[str, Any]:
        """The cells of a subtree as a GeoJSON FeatureCollection."""
        features = [
            {
                "type": "Feature",
                "id": cell.code,
                "geometry": cell.polygon,
                "properties": {
                    "code": cell.code,
                    "name": cell.name,
                    "level": cell.level,
                    "parent_code": cell.parent_code,
                },
            }
            for cell in self.subtree(code or self.root_code)
        ]
        return {"type": "FeatureCollection", "features": features}
