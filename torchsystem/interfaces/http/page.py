"""The page of runs at ``/``: one HTML file with its script, no build step, no library.

It lists the runs of the run database (status, epochs, latest metrics) and the jobs,
draws the curves of the run clicked as SVG, and refreshes itself every second while
anything runs (every five seconds otherwise). Everything shown is set as text, never
as markup, so names from the database cannot inject anything.
"""

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

__all__ = ["html", "router"]

router = APIRouter(tags=["page"])


@cache
def html() -> str:
    """The page's HTML."""
    return files("torchsystem.interfaces.http").joinpath("page.html").read_text("utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(html(), headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                   "style-src 'unsafe-inline'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    })
