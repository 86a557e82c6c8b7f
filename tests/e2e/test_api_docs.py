"""The API documentation works on a machine with no internet access."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_the_docs_page_loads_only_files_the_platform_serves_itself(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources, "the page should load the Swagger UI script and styles"
    for source in sources:
        assert source.startswith("/"), f"{source} would need the internet"
        assert client.get(source).status_code == 200, source
    assert "url: '/openapi.json'" in page.text or '"url": "/openapi.json"' in page.text


# Open to everyone without signing in: signing in, and what outside verifiers of the log read.
PUBLIC = ("/api/v1/auth/token", "/api/v1/evidence/")


def test_the_log_s_public_routes_answer_without_sign_in(client: TestClient) -> None:
    assert client.get("/api/v1/evidence/witnesses").status_code == 200
    assert client.get("/api/v1/evidence/public-key").status_code == 200


def test_every_api_route_but_the_public_ones_documents_that_it_needs_sign_in(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path.startswith(PUBLIC):
                continue
            assert "401" in operation["responses"], f"{method.upper()} {path} does not say it needs sign-in"
