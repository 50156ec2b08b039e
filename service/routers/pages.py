"""The chat page at "/" (service/static/index.html, or a minimal placeholder until it exists)."""

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
<body style="font-family: sans-serif; max-width: 50rem; margin: 2rem auto">
<h1>Văn Kiện</h1>
<p>Trang hỏi đáp tạm thời (trang chính đang được xây dựng). Tài liệu API: <a href="/docs">/docs</a>.</p>
<form id="f"><input id="q" name="q" size="60" placeholder="Nhập câu hỏi..."> <button>Hỏi</button></form>
<pre id="out" style="white-space: pre-wrap"></pre>
<script>
document.getElementById("f").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("out");
  out.textContent = "Đang tìm...";
  const r = await fetch("/api/v1/ask", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({question: document.getElementById("q").value})});
  const data = await r.json();
  if (!r.ok) { out.textContent = data.error.message; return; }
  out.textContent = data.answer + "\\n\\n" + data.citations.map(
    (c) => "[" + c.marker + "] " + c.title + " (" + c.paragraph_id + "): " + c.quote).join("\\n");
});
</script></body></html>
"""


@router.get("/", response_model=None)
def index() -> Response:
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": PAGE_CSP})
    return HTMLResponse(PLACEHOLDER)
