"""The chat page at "/" (service/static/index.html, or a minimal placeholder until it exists) and the API
reference at "/docs", both served from the service itself: no CDN, no inline script (the networks this runs on
have no Internet, and the Content-Security-Policy allows scripts from the service's own origin only)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)

#: The chat page loads scripts, styles and data from its own origin only (it needs no CDN and no inline code).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

PLACEHOLDER = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Văn Kiện</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>Văn Kiện</h1>
<p>Trang hỏi đáp chưa được cài đặt cùng dịch vụ. Tài liệu API: <a href="/docs">/docs</a>.</p>
</body></html>
"""


@router.get("/", response_model=None)
def index() -> Response:
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": PAGE_CSP})
    return HTMLResponse(PLACEHOLDER, headers={"Content-Security-Policy": PAGE_CSP})


@router.get("/docs", response_model=None)
def api_docs() -> Response:
    """The API reference: a local page that renders /openapi.json (service/static/docs.html, docs.js)."""
    return FileResponse(
        STATIC_DIR / "docs.html", media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": PAGE_CSP}
    )
