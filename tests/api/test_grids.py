from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.camera_feed import (
    CELL_FIRE_LANE,
    CELL_WALKWAY,
    CELL_YUQUAN,
    COMMUNITY_BAOSHISHAN,
    DISTRICT,
    STREET_BEISHAN,
    STREET_LINGYIN,
)

ALL_CELLS = {DISTRICT, STREET_BEISHAN, COMMUNITY_BAOSHISHAN, CELL_WALKWAY, CELL_FIRE_LANE, STREET_LINGYIN}
ALL_CELLS |= {"330106002001", CELL_YUQUAN}


def shape_of(node: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """(code, level, children's shapes): the tree without names and staff."""
    return node["code"], node["level"], [shape_of(child) for child in node["children"]]


def test_grid_tree_is_nested_root_first(client: TestClient) -> None:
    response = client.get("/grids")

    assert response.status_code == 200
    tree = response.json()
    assert shape_of(tree) == (
        DISTRICT,
        "district",
        [
            (
                STREET_BEISHAN,
                "street",
                [
                    (
                        COMMUNITY_BAOSHISHAN,
                        "community",
                        [(CELL_WALKWAY, "grid", []), (CELL_FIRE_LANE, "grid", [])],
                    )
                ],
            ),
            (STREET_LINGYIN, "street", [("330106002001", "community", [(CELL_YUQUAN, "grid", [])])]),
        ],
    )
    assert tree["name"] == "西湖区"
    assert tree["children"][0]["children"][0]["children"][0]["staff"] == [
        {"name": "王芳", "role": "grid_staff", "phone": "0571-00000001"}
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (DISTRICT, (DISTRICT, "district", 2)),
        (STREET_BEISHAN, (STREET_BEISHAN, "street", 1)),
        (STREET_LINGYIN, (STREET_LINGYIN, "street", 1)),
        (COMMUNITY_BAOSHISHAN, (COMMUNITY_BAOSHISHAN, "community", 2)),
        (CELL_FIRE_LANE, (CELL_FIRE_LANE, "grid", 0)),  # a leaf: no children
    ],
)
def test_grid_subtree(client: TestClient, code: str, expected: tuple[str, str, int]) -> None:
    response = client.get(f"/grids/{code}")

    assert response.status_code == 200
    node = response.json()
    assert (node["code"], node["level"], len(node["children"])) == expected
    assert node == _find(client.get("/grids").json(), code)


def _find(node: dict[str, Any], code: str) -> dict[str, Any] | None:
    if node["code"] == code:
        return node
    for child in node["children"]:
        if (found := _find(child, code)) is not None:
            return found
    return None


@pytest.mark.parametrize("code", ["abc", "999999", "3301060", f"{CELL_WALKWAY}9", "%20", "-1"])
def test_unknown_grid_is_404(client: TestClient, code: str) -> None:
    response = client.get(f"/grids/{code}")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("unknown grid cell")


@pytest.mark.parametrize(
    ("root", "codes"),
    [
        (None, ALL_CELLS),
        (DISTRICT, ALL_CELLS),
        (STREET_LINGYIN, {STREET_LINGYIN, "330106002001", CELL_YUQUAN}),
        (COMMUNITY_BAOSHISHAN, {COMMUNITY_BAOSHISHAN, CELL_WALKWAY, CELL_FIRE_LANE}),
        (CELL_WALKWAY, {CELL_WALKWAY}),
    ],
)
def test_grid_geojson_is_a_feature_collection(client: TestClient, root: str | None, codes: set[str]) -> None:
    response = client.get("/grids/geojson", params={"root": root} if root else {})

    assert response.status_code == 200
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert {feature["id"] for feature in collection["features"]} == codes
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert feature["properties"]["code"] == feature["id"]
        # cells without a boundary in the config (玉泉社区, 玉泉第一网格) have a null geometry, as RFC 7946 allows
        assert feature["geometry"] is None or feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_grid_geojson_geometry_is_the_configured_polygon(client: TestClient) -> None:
    [feature] = client.get("/grids/geojson", params={"root": CELL_WALKWAY}).json()["features"]

    assert feature["geometry"] == {
        "type": "Polygon",
        "coordinates": [
            [[120.13, 30.26], [120.14, 30.26], [120.14, 30.27], [120.13, 30.27], [120.13, 30.26]]
        ],
    }
    assert feature["properties"] == {
        "code": CELL_WALKWAY,
        "name": "宝石山第一网格",
        "level": "grid",
        "parent_code": COMMUNITY_BAOSHISHAN,
    }


@pytest.mark.parametrize("root", ["abc", "999999", ""])
def test_grid_geojson_unknown_root_is_404(client: TestClient, root: str) -> None:
    response = client.get("/grids/geojson", params={"root": root})

    assert (response.status_code, response.json()["detail"]) == (404, f"unknown grid cell {root!r}")
