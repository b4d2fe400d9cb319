"""`/docs`: Swagger UI for `/openapi.json`, served from the `swagger-ui-bundle` package
so the docs work on a bank server without internet access (no CDN)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from quart import Blueprint, Response, send_from_directory
from quart_schema import hide

blueprint = Blueprint("docs", __name__)
ASSETS = Path(swagger_ui_bundle.swagger_ui_path)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>SMS Bank staff API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs-init.js"></script>
</body></html>"""

INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  persistAuthorization: true, deepLinking: true});"""


@blueprint.get("/docs")
@hide
async def get_docs() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


@blueprint.get("/docs/assets/docs-init.js")
@hide
async def get_docs_init() -> Response:
    return Response(INIT, content_type="application/javascript")


@blueprint.get("/docs/assets/<path:name>")
@hide
async def get_docs_asset(name: str) -> Response:
    return await send_from_directory(ASSETS, name)
