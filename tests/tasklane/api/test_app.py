"""The API app's own pages: /docs and /redoc work without the internet (no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.tasklane.api.conftest import make_api


@pytest.fixture
def client(tmp_path: Path, project: str):
    app, _ = make_api(tmp_path, project)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "css", "favicon.png": "png"}),
        ("/redoc", {"redoc.standalone.js": "javascript", "favicon.png": "png"}),
    ],
)
def test_docs_pages_load_their_assets_from_the_api_itself(client: TestClient, page: str, assets) -> None:
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html.text)
    urls += re.findall(r"url: '([^']+)'", html.text)  # Swagger UI's spec
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert not re.search(r"https?://|//cdn", html.text), "a page that fetches from outside"
    for name, kind in assets.items():
        (url,) = [u for u in urls if u.endswith("/" + name)]
        asset = client.get(url)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], (url, asset.headers)
        assert len(asset.content) > 1000
    assert client.get("/openapi.json").status_code == 200
