"""`/docs`: Swagger UI 5 for `/openapi.json` (OpenAPI 3.1), served from the files the
`flask-swagger-ui` package ships (only its `dist` folder is used; Flask itself comes with
Quart), so the docs work on a bank server without internet access: no CDN.

The page runs under the pages' Content-Security-Policy (`smsbank.http`): no inline
script, so Swagger UI starts from a script file of ours. A staff key typed into
"Authorize" lives in the page's memory only (no `persistAuthorization`): this origin also
serves customers' capture pages, and a key left in localStorage would outlive the tab.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from quart import Blueprint, Response, send_from_directory
from quart_schema import hide

from smsbank.core.errors import NotFound

blueprint = Blueprint("docs", __name__)


def _assets() -> Path:
    # Found without importing the package: its module would import Flask for nothing.
    spec = find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-swagger-ui is not installed (pip install -e .)")
    return Path(spec.submodule_search_locations[0]) / "dist"


ASSETS = _assets()
ASSET_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SMS Bank staff API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs-init.js"></script>
</body></html>"""

# validatorUrl null: Swagger UI would otherwise show a badge fetched from swagger.io.
INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, persistAuthorization: false, validatorUrl: null});"""


@blueprint.get("/docs")
@hide
async def get_docs() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


@blueprint.get("/docs/assets/docs-init.js")
@hide
async def get_docs_init() -> Response:
    return Response(INIT, content_type="text/javascript; charset=utf-8")


@blueprint.get("/docs/assets/<name>")
@hide
async def get_docs_asset(name: str) -> Response:
    if name not in ASSET_FILES:
        raise NotFound("no such file")
    return await send_from_directory(ASSETS, name)
