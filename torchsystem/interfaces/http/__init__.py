"""The HTTP API of an application: ``create_app`` (FastAPI), its routers and the page.

Needs the ``http`` extra: ``pip install 'torchsystem[http]'`` (FastAPI, uvicorn,
SQLAlchemy).
"""

try:
    import fastapi  # noqa: F401
except ImportError as missing:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "torchsystem.interfaces.http needs FastAPI: pip install 'torchsystem[http]'"
    ) from missing

from torchsystem.interfaces.http.app import create_app

__all__ = ["create_app"]
