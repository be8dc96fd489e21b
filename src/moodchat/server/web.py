"""The web page: ``GET /`` and its two assets under ``/static/``, from ``moodchat/web``.

Contract: serves ``index.html`` at ``/`` and ``app.js`` / ``style.css`` at
``/static/<name>`` (only the files shipped in the package; anything else is 404), with
``Cache-Control: no-cache`` and a Content-Security-Policy that allows nothing but this
origin (no CDN, no inline script). ``install(app)`` makes those paths public: the page
holds no data, and asks for the API key itself when the API answers 401.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse

from moodchat.server.errors import ApiError
from moodchat.server.state import server_state

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The chat page."""
    return FileResponse(
        WEB_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS
    )


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    """One of the page's own files."""
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no asset {name!r}")
    return FileResponse(WEB_DIR / name, media_type=ASSETS[name], headers=HEADERS)


def install(app: FastAPI) -> None:
    """Serve the page and its assets without the API key."""
    server_state(app).public_paths |= {"/", *(f"/static/{name}" for name in ASSETS)}
