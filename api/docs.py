"""The interactive docs page, served with no request leaving the server.

Swagger UI comes from the `swagger-ui-py` package (pinned in
pyproject.toml, so the UI's version is too): its built files are served
under `/api/v1/docs/assets/`, and the page loads nothing else but the
OpenAPI document beside it. Nothing is fetched from a CDN, so the docs work
offline and behind a firewall.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.response import File

from cms.errors import NotFound

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
"""The files of the UI the page uses."""
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="docs"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "{document}", dom_id: "#docs", deepLinking: true, validatorUrl: null,
                              presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"}});
</script>
</body>
</html>
"""


def swagger_ui_files() -> Path:
    """The folder of the installed Swagger UI build (found without importing the package's Python code)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall coursebase")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class DocsPage(OpenAPIRenderPlugin):
    """The docs page: Swagger UI from this server's own assets, reading `openapi.json` beside it."""

    def __init__(self, docs_path: str) -> None:
        super().__init__(path="/")
        self.assets = f"{docs_path}/assets"
        self.document = f"{docs_path}/openapi.json"
        self._page: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._page is None:
            title = openapi_schema.get("info", {}).get("title", "API")
            self._page = PAGE.format(title=title, assets=self.assets, document=self.document).encode()
        return self._page


def assets_router(docs_path: str) -> Router:
    """`/docs/assets/<name>`: the UI's files (only those the page uses)."""
    folder = swagger_ui_files()

    @get("/{name:str}", include_in_schema=False, sync_to_thread=False)
    def asset(name: FromPath[str]) -> File:
        if name not in ASSETS:
            raise NotFound(f"no docs asset {name[:80]!r}")
        return File(path=folder / name, content_disposition_type="inline")

    return Router(path=f"{docs_path}/assets", route_handlers=[asset], include_in_schema=False)
