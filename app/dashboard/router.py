"""The manager dashboard: one page and its static files, served by the app itself.

Everything it loads ships in this package (the charting library is vendored), so the
dashboard works offline; it reads the data through the public API with the key the
manager signs in with, kept in the tab's sessionStorage.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

# Scripts and styles from this origin only; ECharts sets inline styles on the elements it
# draws, hence 'unsafe-inline' for styles (never for scripts).
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard")


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)


static_files = StaticFiles(directory=STATIC)
