"""``/docs``: the API's interactive documentation (Swagger UI), served whole by the server.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it stays blank on a machine
without network. Here the page's script, stylesheet and icon come from the server itself
(``/docs/assets/...``), out of the Swagger UI files the ``fastapi-offline`` package ships
(installed with the ``http`` extra). Without that package ``/docs`` is a short page that
says what to install and links the OpenAPI document (``/openapi.json``), which is always
served.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "DOCS", "assets", "install"]

DOCS = "/docs"
ASSETS = "/docs/assets"
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def assets() -> Path | None:
    """The folder of the Swagger UI files, or ``None`` when ``fastapi-offline`` (or one
    of its files) is missing."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if all((folder / name).is_file() for name in _FILES) else None


def install(app: FastAPI) -> None:
    """Serve ``/docs`` (and its assets) on ``app``, created with ``docs_url=None``.

    Example:
        >>> app = FastAPI(title="toy", docs_url=None, redoc_url=None)
        >>> install(app)
        >>> any(getattr(route, "path", None) == DOCS for route in app.routes)
        True
    """
    folder = assets()
    openapi = app.openapi_url or "/openapi.json"
    title = html.escape(app.title)
    if folder is not None:
        app.mount(ASSETS, StaticFiles(directory=folder), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        if folder is None:
            return HTMLResponse(_MISSING.format(title=title, openapi=f"{root}{openapi}"))
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi}", title=f"{title} - API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png", oauth2_redirect_url=None,
        )


_MISSING = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title} - API</title></head>
<body>
<h1>{title} - API</h1>
<p>The interactive documentation needs the Swagger UI files of the
<code>fastapi-offline</code> package, which is not installed here:
<code>pip install 'torchsystem[http]'</code> (or <code>pip install fastapi-offline</code>)
and restart the server.</p>
<p>The API's description: <a href="{openapi}">{openapi}</a> (OpenAPI, JSON).</p>
</body></html>
"""
