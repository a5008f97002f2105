"""The OpenAPI document and the interactive docs page, served by the app; a golden file keeps the document stable,
and `openapi-spec-validator` and the tests below keep it true: one path per resource, every error as a
problem, conditional requests, security, readable names, every parameter described.

When the API changes on purpose, regenerate the golden file and review its diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/api/test_openapi.py -p no:xdist
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

from api.app import create_app
from cms.content.corpus import ContentTree
from cms.index.build import update
from cms.index.sqlite import database_path
from cms.settings import Settings
from tests.conftest import FIXTURES

GOLDEN = FIXTURES / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
DOCS = "/api/v1/docs"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/api/test_openapi.py -p no:xdist"
READ_ROUTES = ["/api/v1/courses", "/api/v1/courses/{course}", "/api/v1/courses/{course}/sections",
               "/api/v1/courses/{course}/sections/{section}", "/api/v1/courses/{course}/lessons",
               "/api/v1/courses/{course}/lessons/{lesson}", "/api/v1/projects", "/api/v1/projects/{project}",
               "/api/v1/authors", "/api/v1/authors/{author}", "/api/v1/categories", "/api/v1/paths",
               "/api/v1/paths/{path}", "/api/v1/media/{media_id}", "/api/v1/search", "/api/v1/meta",
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
                             "sort", "page", "page_size", "If-None-Match", "ref", "preview"}


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


def test_docs_page_loads_nothing_from_elsewhere(client: TestClient[Any]) -> None:
    """Every script, style and icon the page names is served by the app itself (the UI's version is pinned)."""
    page = client.get(DOCS).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and not [source for source in sources if not source.startswith(f"{DOCS}/")], sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and asset.content, source
    assert "://" not in page, "no absolute URL: nothing is fetched from another host"
    assert client.get(f"{DOCS}/assets/swagger-editor-bundle.js").status_code == 404, "only what the page uses"


def test_openapi_document_is_valid_openapi(client: TestClient[Any]) -> None:
    validate(openapi(client))


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS]


def test_one_path_per_resource(client: TestClient[Any]) -> None:
    """No two templated paths differ only in their parameters' names (`/courses/{course}` vs `/courses/{slug}`)."""
    shapes = [re.sub(r"\{[^}]+\}", "{}", path) for path in openapi(client)["paths"]]
    assert len(shapes) == len(set(shapes)), sorted(shape for shape in shapes if shapes.count(shape) > 1)


def test_every_parameter_is_described(client: TestClient[Any]) -> None:
    undescribed = [(path, method, parameter["name"]) for path, method, operation in operations(openapi(client))
                   for parameter in operation.get("parameters", []) if not parameter.get("description")]
    assert not undescribed


def test_schema_names_are_readable(client: TestClient[Any]) -> None:
    names = list(openapi(client)["components"]["schemas"])
    assert [name for name in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)] == []
    assert {"CourseSummary", "CoursePage", "LessonDetail", "SearchPage", "Problem"} <= set(names)


def test_errors_are_documented_as_problems(client: TestClient[Any]) -> None:
    document = openapi(client)
    for path, method, operation in operations(document):
        errors = {code: answer for code, answer in operation["responses"].items() if code[0] in "45"}
        assert {"400", "401"} <= set(errors), (path, method)
        for code, answer in errors.items():
            assert list(answer["content"]) == ["application/problem+json"], (path, method, code)
            assert answer["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        if method == "get" and path.endswith("}"):
            assert "404" in errors, (path, method)
        if operation.get("security") == [{"bearer": []}]:
            assert {"403", "503"} <= set(errors), (path, method)
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}
    assert "extra" not in json.dumps(document["paths"]), "Litestar's own error shape is gone"


def test_conditional_requests_are_documented(client: TestClient[Any]) -> None:
    for path, method, operation in operations(openapi(client)):
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        success = next(answer for code, answer in operation["responses"].items() if code.startswith("2"))
        if method == "get":
            assert "If-None-Match" in names and "304" in operation["responses"], path
            assert "ETag" in success["headers"], path
        if method in ("put", "patch", "delete") and "If-Match" in names:
            assert {"412", "428"} <= set(operation["responses"]), (path, method)
        if success.get("headers", {}).get("Link"):
            assert {"page", "page_size"} <= names, path
    document = openapi(client)
    assert {name for _, _, op in operations(document) for name in
            (p["name"] for p in op.get("parameters", []))} >= {"If-Match", "If-None-Match"}
    for listing in ("/api/v1/authors", "/api/v1/categories", "/api/v1/paths", "/api/v1/courses/{course}/sections",
                    "/api/v1/courses/{course}/lessons", "/api/v1/courses", "/api/v1/search"):
        get = document["paths"][listing]["get"]
        assert "Link" in get["responses"]["200"]["headers"], listing
        page = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert set(document["components"]["schemas"][page]["properties"]) == {"items", "total", "page", "page_size"}


def test_security_is_declared_where_it_applies(client: TestClient[Any]) -> None:
    document = openapi(client)
    assert document["components"]["securitySchemes"]["bearer"] == {
        **document["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    paths = document["paths"]
    assert paths["/api/v1/courses/{course}"]["put"]["security"] == [{"bearer": []}]
    assert paths["/api/v1/users"]["get"]["security"] == [{"bearer": []}]
    assert {} in paths["/api/v1/courses"]["get"]["security"], "public reads need no token"
    assert paths["/api/v1/auth/refresh"]["post"]["security"] == [{"refreshCookie": []}]
