"""The OpenAPI document and the interactive docs page, served by the app; a golden file keeps the document stable.

When the API changes on purpose, regenerate the golden file and review its diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/api/test_openapi.py -p no:xdist
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from cms.content.corpus import ContentTree
from cms.index.build import database_path, update
from cms.settings import Settings
from tests.conftest import FIXTURES

GOLDEN = FIXTURES / "openapi.json"
DOCS = "/api/v1/docs"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/api/test_openapi.py -p no:xdist"
READ_ROUTES = ["/api/v1/courses", "/api/v1/courses/{course}", "/api/v1/courses/{course}/sections",
               "/api/v1/courses/{course}/sections/{section}", "/api/v1/courses/{course}/lessons",
               "/api/v1/courses/{course}/lessons/{lesson}", "/api/v1/projects", "/api/v1/projects/{project}",
               "/api/v1/authors", "/api/v1/authors/{author}", "/api/v1/categories", "/api/v1/paths",
               "/api/v1/paths/{path_slug}", "/api/v1/media/{media_id}", "/api/v1/search", "/api/v1/meta",
               "/api/v1/health"]


@pytest.fixture
def client(site: Path) -> Iterator[TestClient[Any]]:
    """The app over the indexed test site, configured by nothing but its content directory."""
    tree = ContentTree.locate(site / "content")
    db_path = database_path(tree, None)
    update(tree, db_path)
    app = create_app(Settings.from_env({"CMS_CONTENT_DIR": str(tree.content_dir)}), index_path=db_path)
    with TestClient(app) as test_client:
        yield test_client


def pretty(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get(f"{DOCS}/openapi.json")
    assert response.status_code == 200, response.text
    assert "json" in response.headers["content-type"]
    return response.json()


def test_openapi_document_matches_the_golden_file(client: TestClient[Any]) -> None:
    document = openapi(client)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(pretty(document))
        pytest.skip(f"rewrote {GOLDEN}: review `git diff` before committing it")
    assert GOLDEN.is_file(), f"{GOLDEN} is missing; create it with:\n    {REGENERATE}"
    expected = json.loads(GOLDEN.read_text())
    if document != expected:
        diff = difflib.unified_diff(pretty(expected).splitlines(), pretty(document).splitlines(),
                                    "golden openapi.json", "served openapi.json", lineterm="", n=2)
        shown = "\n".join(list(diff)[:80])
        pytest.fail(f"The served OpenAPI document differs from {GOLDEN}.\nIf the API change is intended, "
                    f"regenerate the golden file and review its diff:\n    {REGENERATE}\n\n{shown}")


def test_openapi_document_describes_every_read_route(client: TestClient[Any]) -> None:
    document = openapi(client)
    assert document["info"]["title"] == "Coursebase API"
    assert document["openapi"].startswith("3.")
    for route in READ_ROUTES:
        operation = document["paths"][route]["get"]
        assert "200" in operation["responses"], route
        assert operation.get("summary") or operation.get("description"), route
    course_params = {p["name"] for p in document["paths"]["/api/v1/courses"]["get"]["parameters"]}
    assert course_params == {"difficulty_level", "category", "tag", "instructor", "q", "min_price", "max_price",
                             "sort", "page", "page_size"}


def test_openapi_document_is_stable_between_requests(client: TestClient[Any]) -> None:
    assert pretty(openapi(client)) == pretty(openapi(client))


def test_docs_page_is_interactive_html(client: TestClient[Any]) -> None:
    response = client.get(DOCS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<title>Coursebase API</title>" in page
    assert "<script" in page
    assert "openapi.json" in page
