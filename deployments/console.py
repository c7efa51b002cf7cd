"""The reasoning console: static HTML, CSS and JavaScript (no build step, nothing from the
network) served by the HTTP front door at <route prefix>/console (locally
http://127.0.0.1:8765/ponder/console). The page holds no data: every
call it makes carries the bearer token the user types into it, so the files themselves
are served without one. A strict Content-Security-Policy allows only this origin's
scripts and styles, and only calls back to this origin."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

import ponder.api

# Package data of ponder.api (installed with it, so the image serves the same files).
CONSOLE_DIR = Path(ponder.api.__file__).resolve().parent / "console"
_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "console.js": ("console.js", "text/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

console_router = APIRouter(include_in_schema=False)


def _file(name: str) -> Response:
    filename, media_type = _FILES[name]
    body = (CONSOLE_DIR / filename).read_bytes()
    return Response(body, media_type=media_type, headers=_HEADERS)


@console_router.get("/console")
async def console_page() -> Response:
    return _file("")


@console_router.get("/console/console.js")
async def console_script() -> Response:
    return _file("console.js")


@console_router.get("/console/console.css")
async def console_style() -> Response:
    return _file("console.css")
