from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.camera_feed import RTSP_PASSWORD


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/healthz", "get"),
        ("/cameras", "get"),
        ("/cameras/{camera_id}", "get"),
        ("/cameras/{camera_id}/thumbnail", "get"),
        ("/grids", "get"),
        ("/grids/geojson", "get"),
        ("/grids/{code}", "get"),
        ("/incidents", "get"),
        ("/incidents/{incident_id}", "get"),
        ("/incidents/{incident_id}/snapshot", "get"),
        ("/incidents/{incident_id}/cap", "get"),
        ("/incidents/{incident_id}/transitions", "get"),
        ("/incidents/{incident_id}/transitions", "post"),
        ("/incidents/geojson", "get"),
        ("/incidents/lifecycle", "get"),
        ("/stats", "get"),
        ("/open311/v2/services.json", "get"),
        ("/open311/v2/requests.json", "get"),
        ("/open311/v2/requests/{service_request_id}.json", "get"),
        ("/auth/token", "post"),
        ("/auth/me", "get"),
    ],
)
def test_openapi_documents_every_route(client: TestClient, path: str, method: str) -> None:
    document = client.get("/openapi.json").json()

    assert method in document["paths"][path]


def test_openapi_document(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Xueliang"
    assert set(document["components"]["schemas"]) >= {
        "IncidentOut",
        "IncidentPage",
        "CameraOut",
        "GridNodeOut",
    }
    assert RTSP_PASSWORD not in response.text
    # both ways in are documented, and every route but health and login asks for one of them
    assert set(document["components"]["securitySchemes"]) == {"OAuth2PasswordBearer", "APIKeyHeader"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path not in ("/healthz", "/auth/token"):
                assert operation.get("security"), f"{method.upper()} {path} has no security requirement"


@pytest.mark.parametrize(("path", "marker"), [("/docs", "swagger-ui"), ("/redoc", "redoc")])
def test_interactive_docs_load(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text
    assert "/openapi.json" in response.text
