"""Browser tests of the chat page: Playwright for Python driving Debian's chromium against the real app.

Each server is the real FastAPI app (`service.app.create_app`) run by uvicorn in a thread on 127.0.0.1, over an
index built for the module: the sample corpus (the acceptance path and the screenshots) or tiny documents
written here (one classified "mat" with a canary string, one whose text and title carry HTML that must stay
inert). Every page is served under a strict Content-Security-Policy (no inline script or style), so these tests
also prove the page needs neither.

    .venv/bin/pytest -m browser tests/browser
    VANKIEN_SCREENSHOTS=1 .venv/bin/pytest -m browser tests/browser   # also writes docs/screenshots/*.png
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is missing: apt-get install -y chromium chromium-driver"
    ),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is missing: pip install playwright")
uvicorn = pytest.importorskip("uvicorn", reason="the service extras are missing: pip install -e '.[service]'")

from rag.pipeline import Library  # noqa: E402
from service.app import create_app  # noqa: E402
from service.keys import KeyStore  # noqa: E402
from service.server import uvicorn_config  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.ports import bound_socket, port_of  # noqa: E402
from tests.samples import REPO_ROOT, SAMPLE_CORPUS  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, Response, Route

expect = sync_api.expect

SHOTS = REPO_ROOT / "docs" / "screenshots"

#: What a strict deployment would send: scripts, styles and connections from the page's own origin only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

CANARY = "CANARY-MAT-7Q2X"
SCRIPT_TEXT = "<script>window.__pwned=1</script>"
IMG_TEXT = '<img src=x onerror="window.__pwned=2">'
TITLE_IMG_TEXT = '<img src=x onerror="window.__pwned=3">'

# -- tiny documents, written for these tests (not official texts) ----------------------------------------------

NQ_101 = """**BAN CHẤP HÀNH TRUNG ƯƠNG**
**ĐẢNG CỘNG SẢN VIỆT NAM**

Số 101-NQ/TW
*Hà Nội, ngày 10 tháng 3 năm 2025*

**NGHỊ QUYẾT**
CỦA BỘ CHÍNH TRỊ
**về phát triển kho lưu trữ văn kiện số**

Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.

**I- QUAN ĐIỂM**

**1\\.** Kho lưu trữ văn kiện số là hạ tầng tri thức dùng chung của cán bộ, đảng viên.

**2\\.** Phát triển kho lưu trữ văn kiện số gắn với chuyển đổi số trong các cơ quan Đảng.

**II- MỤC TIÊU**

**1\\. Đến năm 2030**

\\- 100% cấp uỷ cấp tỉnh có kho lưu trữ văn kiện số, tra cứu được trên mạng nội bộ.

\\- Ít nhất 80% văn kiện lưu trữ từ năm 1945 được số hoá và gắn siêu dữ liệu chuẩn.

**2\\. Tầm nhìn đến năm 2045**

Việt Nam có hệ thống lưu trữ văn kiện số hiện đại hàng đầu khu vực.

**III- TỔ CHỨC THỰC HIỆN**

Văn phòng Trung ương Đảng chủ trì, theo dõi và báo cáo Bộ Chính trị hằng năm.
"""

CT_15 = """**BAN CHẤP HÀNH TRUNG ƯƠNG**
**ĐẢNG CỘNG SẢN VIỆT NAM**

Số 15-CT/TW
*Hà Nội, ngày 20 tháng 6 năm 2023*

**CHỈ THỊ**
CỦA BAN BÍ THƯ
**về tăng cường bảo đảm an toàn thông tin trong cơ quan Đảng**

Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.

**1\\.** Cấp uỷ các cấp quán triệt yêu cầu bảo đảm an toàn thông tin, coi đây là nhiệm vụ thường xuyên.

**2\\.** Máy tính soạn thảo tài liệu mật không kết nối Internet; dữ liệu được sao lưu hằng tuần.

**3\\.** Văn phòng cấp uỷ kiểm tra việc thực hiện Chỉ thị này và báo cáo Ban Bí thư vào tháng 12 hằng năm.
"""

# A news report quoting hostile markup, in its title and its text: it must be shown, never run.
NEWS_HOSTILE = f"""Tập huấn nhận diện mã độc {TITLE_IMG_TEXT} cho cán bộ văn phòng cấp uỷ
Minh An
15/05/2024 08:00
Sáng 15/5, Văn phòng Tỉnh uỷ tổ chức tập huấn nhận diện thư điện tử giả mạo cho cán bộ văn phòng cấp uỷ.
Mẫu thư giả mạo được trình chiếu có chứa đoạn mã {SCRIPT_TEXT} và thẻ {IMG_TEXT} để học viên nhận biết.
Học viên được hướng dẫn báo ngay cho bộ phận công nghệ thông tin khi gặp thư đáng ngờ.
"""

# Classified "mat": an anonymous reader must never see a word of it. It shares words with NQ_101 on purpose.
KH_88_MAT = f"""**BAN CHẤP HÀNH TRUNG ƯƠNG**
**ĐẢNG CỘNG SẢN VIỆT NAM**

Số 88-KH/TW
*Hà Nội, ngày 02 tháng 4 năm 2025*

**KẾ HOẠCH**
CỦA BỘ CHÍNH TRỊ
**về bảo vệ kho lưu trữ văn kiện số**

Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.

**1\\.** Kho lưu trữ văn kiện số được bảo vệ theo phương án mang mật danh {CANARY}.

**2\\.** Đến năm 2030, kho lưu trữ văn kiện số của cấp uỷ cấp tỉnh đặt tại trung tâm dữ liệu {CANARY}.
"""

NQ_ID = "nq-101-2025"
CT_ID = "ct-15-2023"
MAT_ID = "kh-88-2025.mat"  # restricted documents have their level in the id (docs/security.md)
Q_NQ_2030 = "Nghị quyết 101 đặt mục tiêu gì đến năm 2030?"
Q_FOLLOW_UP = "Còn tầm nhìn đến năm 2045 thì sao?"
Q_HOSTILE = "Mẫu thư giả mạo được trình chiếu trong buổi tập huấn có chứa gì?"
Q_MAT = "Kho lưu trữ văn kiện số được bảo vệ theo phương án mang mật danh gì?"
Q_CT = "Máy tính soạn thảo tài liệu mật có được kết nối Internet không?"
Q_SAMPLE = "Nghị quyết 57-NQ/TW đặt mục tiêu gì đến năm 2030?"


def build_tiny_index(root: Path) -> Path:
    """The tiny corpus: three public documents and one classified "mat"."""
    docs = root / "docs"
    secret = root / "secret"
    docs.mkdir(parents=True)
    secret.mkdir()
    (docs / "nq-101.md").write_text(NQ_101, encoding="utf-8")
    (docs / "ct-15.md").write_text(CT_15, encoding="utf-8")
    (docs / "tin-ma-doc.txt").write_text(NEWS_HOSTILE, encoding="utf-8")
    (secret / "kh-88.md").write_text(KH_88_MAT, encoding="utf-8")
    index = root / "index"
    with Library(index) as library:
        public = library.ingest([docs])
        assert public.counts["ok"] == 3, public.results
        classified = library.ingest([secret], classification="mat")
        assert classified.counts["ok"] == 1, classified.results
        ids = {d.doc_id: d.classification for d in library.documents()}
    assert len(ids) == 4 and ids[NQ_ID] == ids[CT_ID] == "cong-khai" and ids[MAT_ID] == "mat", ids
    return index


# -- the server --------------------------------------------------------------------------------------------------


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run the real app with uvicorn in a thread on a free port of 127.0.0.1; yields its base URL."""
    sock = bound_socket()
    port = port_of(sock)
    config = uvicorn_config(create_app(settings), settings, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def settings_for(index: Path, **extra: Any) -> Settings:
    # No rate limit: a test run makes many requests from one address within a minute.
    return Settings(index_dir=index, host="127.0.0.1", port=8000, rate_limit_per_minute=0, **extra)


@dataclass(frozen=True)
class Server:
    url: str
    index: Path


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    index = build_tiny_index(tmp_path_factory.mktemp("tiny"))
    with serve(settings_for(index)) as url:
        yield Server(url, index)


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    index = tmp_path_factory.mktemp("sample") / "index"
    with Library(index) as library:
        report = library.ingest([SAMPLE_CORPUS])
    assert report.counts["ok"] >= 10, report.counts
    with serve(settings_for(index)) as url:
        yield Server(url, index)


@dataclass(frozen=True)
class KeyedServer:
    url: str
    public_key: str
    mat_key: str


@contextmanager
def keyed_tiny_server(root: Path, *keys: tuple[str, str, str], **settings: Any) -> Iterator[tuple[str, list[str]]]:
    """The tiny corpus behind API keys (role, clearance, name): the server's URL and the keys' secrets."""
    index = build_tiny_index(root)
    store = KeyStore(root / "keys.json")
    secrets = [store.create(role, clearance, name=name)[1] for role, clearance, name in keys]
    with serve(settings_for(index, keys_file=root / "keys.json", **settings)) as url:
        yield url, secrets


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    """The tiny corpus behind API keys: anonymous callers are refused, keys carry a clearance."""
    keys = (("reader", "cong-khai", "doc-gia"), ("reader", "mat", "can-bo-mat"))
    with keyed_tiny_server(tmp_path_factory.mktemp("keyed"), *keys) as (url, (public_key, mat_key)):
        yield KeyedServer(url, public_key, mat_key)


@dataclass(frozen=True)
class EditorServer:
    url: str
    editor_key: str
    reader_key: str
    admin_key: str


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EditorServer]:
    """The tiny corpus behind keys, with an editor who may upload (its own server: uploads change the list)."""
    keys = (("editor", "noi-bo", "bien-tap"), ("reader", "cong-khai", "doc-gia"), ("admin", "noi-bo", "quan-tri"))
    with keyed_tiny_server(tmp_path_factory.mktemp("editor"), *keys, offload_indexing=False) as (url, secrets):
        yield EditorServer(url, *secrets)


# -- the browser -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watch:
    """What a page did that a test must not let pass: requests leaving 127.0.0.1, script errors, CSP reports."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.foreign, f"requests outside 127.0.0.1: {self.foreign}"
        assert not self.errors, f"script errors or CSP violations: {self.errors}"


def _with_csp(route: Route) -> None:
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})


#: Streamed answers are sent with `Cache-Control: no-store`, so Chromium keeps no copy of their body for the test
#: to read afterwards (`Response.text()` fails). The page's own fetches are teed instead: a clone of each answer
#: stream is read beside the page's reader into `window.__streamBodies` (the page still reads the stream as it
#: arrives; only the test sees the copy).
_KEEP_STREAM_BODIES = """(() => {
  const original = window.fetch;
  window.__streamBodies = [];
  window.fetch = async (...args) => {
    const response = await original(...args);
    const url = String((args[0] && args[0].url) || args[0]);
    if (url.includes("/ask/stream")) {
      const entry = { url, text: null };
      window.__streamBodies.push(entry);
      response.clone().text().then((text) => { entry.text = text; }, () => { entry.text = ""; });
    }
    return response;
  };
})();"""


def stream_body(page: Page) -> str:
    """The body of the page's last answer stream (see `_KEEP_STREAM_BODIES`), once complete."""
    page.wait_for_function("() => window.__streamBodies.length && window.__streamBodies.at(-1).text !== null")
    return str(page.evaluate("window.__streamBodies.at(-1).text"))


def open_context(browser: Browser, base_url: str, watch: Watch, **options: Any) -> BrowserContext:
    context = browser.new_context(base_url=base_url, locale="vi-VN", **options)
    context.route(lambda url: urlparse(url).path == "/", _with_csp)
    context.add_init_script(_KEEP_STREAM_BODIES)

    def on_request(request: Request) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
            watch.foreign.append(request.url)

    def on_page(page: Page) -> None:
        page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: watch.errors.append(f"console: {msg.text}") if "Content Security Policy" in msg.text else None,
        )

    context.on("request", on_request)
    context.on("page", on_page)
    return context


@pytest.fixture()
def watch() -> Iterator[Watch]:
    seen = Watch()
    yield seen
    seen.check()


def new_page(browser: Browser, server_url: str, watch: Watch, **options: Any) -> Iterator[Page]:
    context = open_context(browser, server_url, watch, **{"viewport": {"width": 1280, "height": 860}, **options})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture()
def page(browser: Browser, tiny_server: Server, watch: Watch) -> Iterator[Page]:
    yield from new_page(browser, tiny_server.url, watch)


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot for docs/ when VANKIEN_SCREENSHOTS=1."""
    if os.environ.get("VANKIEN_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


# -- helpers -----------------------------------------------------------------------------------------------------


def sse_events(body: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        kind, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((kind, json.loads("\n".join(data))))
    return events


@dataclass(frozen=True)
class Asked:
    request: dict[str, Any]
    answer: dict[str, Any]
    events: list[tuple[str, Any]]
    body: str


def is_stream(response: Response) -> bool:
    return urlparse(response.url).path == "/api/v1/ask/stream"


def ask(page: Page, question: str, submit: Callable[[], None] | None = None, *, new_turn: bool = True) -> Asked:
    """Type a question, press Enter (or `submit`), and wait until the page has rendered the final answer.

    `new_turn`: whether the conversation grows by one turn (a retry replaces the failed one instead).
    """
    turns = page.locator("#conversation > li.turn")
    before = turns.count()
    with page.expect_response(is_stream) as info:
        if submit is None:
            box = page.get_by_label("Đặt câu hỏi")
            box.fill(question)
            box.press("Enter")
        else:
            submit()
    response = info.value
    assert response.status == 200, response.status
    body = stream_body(page)
    events = sse_events(body)
    answers = [data for kind, data in events if kind == "answer"]
    assert len(answers) == 1, events
    expect(turns).to_have_count(before + 1 if new_turn else before)
    expect(turns.last.locator(".answer")).to_have_attribute("aria-busy", "false")
    request = response.request.post_data_json
    assert isinstance(request, dict)
    return Asked(request, answers[0], events, body)


def watch_streaming(page: Page) -> None:
    """Count DOM changes made inside the answer while it is still streaming (read back by `streamed_changes`)."""
    page.evaluate(
        """() => {
            window.__streamChanges = 0;
            new MutationObserver((records) => {
                for (const r of records) {
                    const el = r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target;
                    if (el && el.closest(".answer-body.streaming")) window.__streamChanges += 1;
                }
            }).observe(document.getElementById("conversation"), {subtree: true, childList: true, characterData: true});
        }"""
    )


def streamed_changes(page: Page) -> int:
    return int(page.evaluate("window.__streamChanges"))


def no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is wider than the screen: {widths}"


def cited_doc_ids(answer: dict[str, Any]) -> set[str]:
    return {c["doc_id"] for c in answer["citations"]}


# -- the sample corpus: acceptance path and screenshots ----------------------------------------------------------


def test_sample_question_streams_a_cited_answer_and_opens_the_source(
    browser: Browser, sample_server: Server, watch: Watch
) -> None:
    for page in new_page(browser, sample_server.url, watch):
        page.goto("/")
        expect(page).to_have_title("Văn Kiện — Hỏi đáp văn kiện của Đảng")
        expect(page.get_by_role("heading", name="Hỏi về nghị quyết, kết luận, chỉ thị của Đảng")).to_be_visible()
        expect(page.get_by_role("button", name="Gửi")).to_be_visible()
        shot(page, "01-empty")

        watch_streaming(page)
        asked = ask(page, Q_SAMPLE, submit=page.get_by_role("button", name=Q_SAMPLE).click)
        deltas = [data["text"] for kind, data in asked.events if kind == "delta"]
        assert len(deltas) > 3, "the answer did not stream"
        assert streamed_changes(page) > 3, "the page did not show the answer while it streamed"
        answer = asked.answer
        assert not answer["abstained"] and answer["citations"], answer
        assert "nq-57-2024" in cited_doc_ids(answer)

        turn = page.locator("#conversation > li.turn").last
        cite = turn.get_by_role("button", name="Trích dẫn 1", exact=True)
        expect(cite).to_be_visible()
        expect(turn.get_by_role("heading", name="Nguồn trích dẫn")).to_be_visible()
        expect(turn.locator(".sources li")).to_have_count(len(answer["citations"]))
        expect(turn.get_by_role("button", name="Sao chép")).to_be_visible()
        # A taller window, so the screenshot shows the whole answer down to its buttons.
        page.set_viewport_size({"width": 1280, "height": 1100})
        turn.scroll_into_view_if_needed()
        shot(page, "02-answer")
        page.set_viewport_size({"width": 1280, "height": 860})

        cite.click()
        first = answer["citations"][0]
        panel = page.locator("#panel")
        expect(panel).to_be_visible()
        expect(panel.locator("mark")).to_have_text(first["quote"])
        expect(panel.locator(".panel-note")).to_have_count(0)  # neighbours loaded
        expect(panel).to_contain_text("57-NQ/TW")
        expect(panel).to_contain_text("22/12/2024")
        expect(panel).to_contain_text(first["section"])
        shot(page, "03-citation-panel")

        page.get_by_role("link", name="Tài liệu", exact=True).click()
        expect(page.get_by_role("heading", name="Tài liệu đã nạp")).to_be_focused()
        expect(page.locator("#docs-body tr")).to_have_count(report_count(sample_server.index))
        shot(page, "04-documents")

        page.get_by_role("link", name="Hỏi đáp", exact=True).click()
        page.locator("#filters summary").click()
        page.get_by_role("checkbox", name="Nghị quyết", exact=True).check()
        page.get_by_label("Từ năm").select_option("2025")
        expect(page.locator("#filter-summary")).to_have_text("Đang lọc — Loại: Nghị quyết · Từ năm 2025")
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "07-filters")


def report_count(index: Path) -> int:
    with Library(index, create=False) as library:
        return sum(1 for d in library.documents() if d.classification == "cong-khai")


def test_sample_question_on_a_phone(browser: Browser, sample_server: Server, watch: Watch) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    for page in new_page(browser, sample_server.url, watch, **phone):
        page.goto("/")
        no_horizontal_overflow(page)
        nav = page.get_by_role("navigation", name="Điều hướng chính")
        box = nav.bounding_box()
        assert box is not None and box["height"] < 56, "the navigation wraps onto two lines"

        asked = ask(page, Q_SAMPLE)
        assert asked.answer["citations"]
        no_horizontal_overflow(page)
        shot(page, "05-phone-answer")

        page.locator("#conversation").get_by_role("button", name="Trích dẫn 1", exact=True).tap()
        panel = page.locator("#panel")
        expect(panel.locator("mark")).to_have_text(asked.answer["citations"][0]["quote"])
        expect(panel.locator(".panel-note")).to_have_count(0)
        # On a phone the panel is a full-screen sheet.
        assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        shot(page, "06-phone-panel")
        # The sheet holds the focus: the page behind it is inert until it closes.
        assert page.evaluate("document.getElementById('main').inert") is True
        page.get_by_role("button", name="Đóng khung nguồn trích dẫn").tap()
        expect(panel).to_be_hidden()

        page.goto("/#/tai-lieu")
        expect(page.locator("#docs-body tr").first).to_be_visible()
        no_horizontal_overflow(page)
        page.set_viewport_size({"width": 360, "height": 740})
        no_horizontal_overflow(page)


# -- the tiny corpus ---------------------------------------------------------------------------------------------


def test_citation_opens_the_paragraph_in_its_document(page: Page) -> None:
    page.goto("/")
    watch_streaming(page)
    asked = ask(page, Q_NQ_2030)
    assert streamed_changes(page) > 3
    answer = asked.answer
    conversation = asked.request.pop("conversation_id")  # the server saves the turn there
    assert asked.request == {"question": Q_NQ_2030, "history": [], "filters": {}} and conversation
    assert cited_doc_ids(answer) == {NQ_ID}

    cite = page.get_by_role("button", name="Trích dẫn 1", exact=True)
    cite.click()
    first = answer["citations"][0]
    panel = page.locator("#panel")
    expect(page.locator("#panel-title")).to_be_focused()
    mark = panel.locator(".cited mark")
    expect(mark).to_have_text(first["quote"])
    expect(panel.locator(".cited")).to_contain_text(first["text"])
    expect(panel.locator(".panel-note")).to_have_count(0)
    for text in ("Nghị quyết về phát triển kho lưu trữ văn kiện số", "101-NQ/TW", "Hà Nội, 10/03/2025", "Bộ Chính trị"):
        expect(panel).to_contain_text(text)
    expect(panel.locator(".doc-meta")).to_contain_text(first["section"])
    # Neighbouring paragraphs around the cited one, in document order.
    context = panel.locator(".context > .ctx")
    assert context.count() >= 2
    expect(panel.locator(".context")).to_contain_text("Đến năm 2030")

    # A second citation replaces the first; Escape closes and gives focus back to the marker.
    second = page.get_by_role("button", name="Trích dẫn 2", exact=True)
    second.click()
    expect(mark).to_have_text(answer["citations"][1]["quote"])
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(second).to_be_focused()


def test_full_document_viewer_from_a_citation_and_from_the_list(page: Page) -> None:
    """A citation opens the whole document in its structure, the cited paragraph highlighted, with a way back."""
    page.goto("/")
    asked = ask(page, Q_NQ_2030)
    first = asked.answer["citations"][0]
    cite = page.get_by_role("button", name="Trích dẫn 1", exact=True)
    cite.click()
    page.locator("#panel").get_by_role("link", name="Xem toàn văn").click()
    expect(page).to_have_url(re.compile("#/van-ban/" + re.escape(first["paragraph_id"]) + "$"))
    view = page.locator("#view-doc")
    expect(view.get_by_role("heading", level=1)).to_have_text("Nghị quyết về phát triển kho lưu trữ văn kiện số")
    expect(page.locator("#panel")).to_be_hidden()
    cited = view.locator(".doc-cited")
    expect(cited).to_be_focused()
    expect(cited.locator("mark")).to_have_text(first["quote"])
    expect(cited).to_contain_text(first["text"])
    shot(page, "08-document-viewer")
    # The whole text, in order, with the document's own structure as headings and an outline to jump through it.
    total = page.request.get(f"/api/v1/documents/{NQ_ID}/paragraphs").json()["total"]
    expect(view.locator(".doc-text > *")).to_have_count(total)
    for level, text in ((2, "I- QUAN ĐIỂM"), (2, "II- MỤC TIÊU"), (3, "2. Tầm nhìn đến năm 2045")):
        expect(view.get_by_role("heading", level=level, name=text)).to_be_visible()
    expect(view.locator(".doc-text")).to_contain_text("Văn phòng Trung ương Đảng chủ trì")
    outline = view.locator(".doc-outline")
    if not outline.evaluate("el => el.open"):
        outline.locator("summary").click()
    outline.get_by_role("button", name="III- TỔ CHỨC THỰC HIỆN").click()
    expect(view.get_by_role("heading", name="III- TỔ CHỨC THỰC HIỆN")).to_be_focused()

    # Back to the answer: the conversation is as it was and the citation that led here has the focus.
    view.get_by_role("link", name="← Quay lại câu trả lời").click()
    expect(page.locator("#view-chat")).to_be_visible()
    expect(page.locator("#conversation")).to_contain_text(Q_NQ_2030)
    expect(cite).to_be_focused()

    # From the documents list, on a phone: no sideways scrolling, the outline folded away.
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/#/tai-lieu")
    page.get_by_role("link", name="Xem toàn văn 15-CT/TW").click()
    expect(page).to_have_url(re.compile(f"#/van-ban/{CT_ID}$"))
    expect(view.locator("h1")).to_contain_text("an toàn")
    expect(view.get_by_role("link", name="← Quay lại danh sách tài liệu")).to_be_visible()
    no_horizontal_overflow(page)
    # A hidden document answers like a missing one, in Vietnamese, and shows nothing of it.
    page.goto(f"/#/van-ban/{MAT_ID}")
    expect(view.get_by_role("heading", level=1)).to_have_text("Không mở được văn bản")
    expect(view.get_by_role("alert")).to_contain_text("Không tìm thấy tài liệu")
    assert CANARY not in view.inner_text()


def test_export_an_answer_and_the_conversation_as_docx_and_pdf(page: Page, tmp_path: Path) -> None:
    """Downloads opened and checked: the text, one footnote per citation with its paragraph id, the marking."""
    import docx
    import pypdfium2
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from pypdf import PdfReader

    page.goto("/")
    first = ask(page, Q_NQ_2030).answer
    second = ask(page, Q_CT).answer
    answers = page.locator("#conversation .turn")
    with page.expect_download() as info:
        answers.first.get_by_role("button", name="Tải câu trả lời này về dạng DOCX").click()
    download = info.value
    assert re.fullmatch(r"van-kien-hoi-dap-\d{8}-\w+\.docx", download.suggested_filename)
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    expect(answers.first.locator(".action-status")).to_contain_text("Đã tải về")
    document = docx.Document(str(path))
    assert [p.text for p in document.sections[0].header.paragraphs] == ["CÔNG KHAI"]
    assert Q_NQ_2030 in [p.text for p in document.paragraphs]
    footnotes = next(r.target_part.blob.decode() for r in document.part.rels.values() if r.reltype == RT.FOOTNOTES)
    for cited in first["citations"]:
        assert cited["paragraph_id"] in footnotes and "101-NQ/TW" in footnotes

    # the whole conversation as PDF, from the toolbar: both questions, every citation as a numbered note
    with page.expect_download() as info:
        page.get_by_role("button", name="Xuất cả cuộc hội thoại ra PDF").click()
    pdf_path = tmp_path / info.value.suggested_filename
    info.value.save_as(pdf_path)
    assert pdf_path.suffix == ".pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(str(pdf_path)).pages)
    flat = text.replace("\n", " ")
    assert text.lstrip().startswith("CÔNG KHAI") and Q_NQ_2030 in flat and Q_CT in flat
    citations = first["citations"] + second["citations"]
    for n, cited in enumerate(citations, 1):
        assert f"[{n}]" in text and cited["paragraph_id"] in text.replace("\n", "")
    # rendered as a reader sees it: ink on the page, the red marking at the top
    image = pypdfium2.PdfDocument(str(pdf_path))[0].render(scale=1.5).to_pil().convert("RGB")
    if os.environ.get("VANKIEN_SCREENSHOTS") == "1":
        image.save(SHOTS / "09-export-pdf.png")
    pixels = np.asarray(image, dtype=np.int32)
    top = pixels[: pixels.shape[0] // 12]
    red = (top[..., 0] > 140) & (top[..., 1] < 80) & (top[..., 2] < 80)
    assert red.sum() > 50, "no red marking at the top"
    assert (pixels.sum(axis=2) < 200).sum() > 2000, "the page is nearly blank"


def test_filters_by_type_and_year(page: Page) -> None:
    page.goto("/")
    page.locator("#filters summary").click()
    page.get_by_role("checkbox", name="Chỉ thị", exact=True).check()
    expect(page.locator("#filter-summary")).to_have_text("Đang lọc — Loại: Chỉ thị")
    asked = ask(page, Q_NQ_2030)
    assert asked.request["filters"] == {"types": ["chỉ thị"]}
    assert NQ_ID not in cited_doc_ids(asked.answer)
    turn = page.locator("#conversation > li.turn").last
    expect(turn.locator(".question-filters")).to_have_text("Loại: Chỉ thị")
    if asked.answer["abstained"]:
        expect(turn.locator(".abstain")).to_contain_text("Không tìm thấy thông tin")
    expect(turn.locator(".answer")).not_to_contain_text("101-NQ/TW")

    page.get_by_role("checkbox", name="Chỉ thị", exact=True).uncheck()
    page.get_by_label("Từ năm").select_option("2023")
    page.get_by_label("Đến năm").select_option("2023")
    asked = ask(page, Q_NQ_2030)
    assert asked.request["filters"] == {"from": "2023-01-01", "to": "2023-12-31"}
    assert NQ_ID not in cited_doc_ids(asked.answer)

    # The abstention lists the nearest documents; one opens in the panel without a highlight.
    turn = page.locator("#conversation > li.turn").last
    if asked.answer["abstained"] and asked.answer["nearest"]:
        turn.locator(".nearest button").first.click()
        expect(page.locator("#panel .cited")).to_contain_text("Đoạn văn liên quan nhất")
        expect(page.locator("#panel mark")).to_have_count(0)
        page.keyboard.press("Escape")

    page.get_by_role("button", name="Xóa bộ lọc").click()
    expect(page.locator("#filter-summary")).to_have_text("")
    asked = ask(page, Q_NQ_2030)
    assert asked.request["filters"] == {}
    assert cited_doc_ids(asked.answer) == {NQ_ID}


def test_follow_up_sends_the_conversation(page: Page) -> None:
    page.goto("/")
    first = ask(page, Q_NQ_2030)
    second = ask(page, Q_FOLLOW_UP)
    history = second.request["history"]
    assert [turn["question"] for turn in history] == [Q_NQ_2030]
    assert history[0]["answer"] == first.answer["answer"]
    assert [c["paragraph_id"] for c in history[0]["citations"]] == [
        c["paragraph_id"] for c in first.answer["citations"]
    ]
    assert cited_doc_ids(second.answer) == {NQ_ID}
    expect(page.locator("#conversation > li.turn")).to_have_count(2)
    expect(page.locator("#conversation > li.turn").last).to_contain_text(second.answer["citations"][0]["quote"])

    # A new conversation forgets the history.
    page.get_by_role("button", name="Cuộc hội thoại mới").click()
    expect(page.locator("#conversation > li.turn")).to_have_count(0)
    third = ask(page, Q_NQ_2030)
    assert third.request["history"] == []


def test_copy_and_feedback(browser: Browser, tiny_server: Server, watch: Watch) -> None:
    options = {"permissions": ["clipboard-read", "clipboard-write"]}
    for page in new_page(browser, tiny_server.url, watch, **options):
        page.goto("/")
        answer = ask(page, Q_NQ_2030).answer
        turn = page.locator("#conversation > li.turn").last

        turn.get_by_role("button", name="Sao chép").click()
        expect(turn.locator(".action-status")).to_have_text("Đã sao chép câu trả lời.")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith(answer["answer"])
        assert "Nguồn trích dẫn:" in copied and "101-NQ/TW" in copied

        with page.expect_response(lambda r: urlparse(r.url).path == "/api/v1/feedback") as info:
            turn.get_by_role("button", name="Hữu ích").click()
        assert info.value.status == 201
        expect(turn.get_by_role("button", name="Hữu ích")).to_have_attribute("aria-pressed", "true")
        expect(turn.locator(".action-status")).to_have_text("Cảm ơn, đánh giá đã được ghi nhận.")

        turn.get_by_role("button", name="Chưa đúng").click()
        comment = turn.get_by_label("Điều gì chưa đúng? (không bắt buộc)")
        expect(comment).to_be_focused()
        comment.fill("Thiếu tầm nhìn đến năm 2045.")
        with page.expect_response(lambda r: urlparse(r.url).path == "/api/v1/feedback") as info:
            turn.get_by_role("button", name="Gửi đánh giá").click()
        assert info.value.status == 201
        expect(turn.get_by_role("button", name="Chưa đúng")).to_have_attribute("aria-pressed", "true")
        expect(turn.get_by_role("button", name="Hữu ích")).to_have_attribute("aria-pressed", "false")

    records = [json.loads(line) for line in (tiny_server.index / "feedback.jsonl").read_text("utf-8").splitlines()]
    ours = [r for r in records if r["question"] == Q_NQ_2030 and r["answer"] == answer["answer"]]
    assert [r["rating"] for r in ours][-2:] == ["up", "down"]
    assert ours[-1]["comment"] == "Thiếu tầm nhìn đến năm 2045."
    assert ours[-1]["paragraph_ids"] == [c["paragraph_id"] for c in answer["citations"]]


def test_empty_and_over_long_questions_are_explained_not_dropped(page: Page) -> None:
    """An empty question said nothing visible, and a pasted question over 1,000 characters was cut silently by
    the text box (the question is usually at the end of the passage)."""
    page.goto("/")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/api/v1/ask" in r.url else None)
    box = page.get_by_label("Đặt câu hỏi")
    box.press("Enter")
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Hãy nhập câu hỏi trước khi gửi.")
    expect(box).to_be_focused()
    limit = page.request.get("/api/v1/session").json()["max_question_chars"]
    long_text = "Đoạn trích dài về chuyển đổi số. " * (limit // 30) + "Vậy mục tiêu đến năm 2030 là gì?"
    assert len(long_text) > limit
    shown = f"{limit:,}".replace(",", ".")
    box.fill(long_text)
    expect(error).to_be_hidden()  # typing clears the message
    # the server's limit is shown before sending, as soon as the question comes near it
    expect(page.locator("#composer-count")).to_have_text(
        f"{len(long_text):,}".replace(",", ".") + f"/{shown} ký tự — quá dài, hãy rút gọn"
    )
    box.press("Enter")
    expect(error).to_contain_text(f"tối đa {shown}")
    assert box.input_value() == long_text  # kept whole, the question at its end included
    assert sent == []
    box.fill(long_text[-300:])
    expect(page.locator("#composer-count")).to_be_hidden()
    asked = ask(page, long_text[-300:], submit=lambda: box.press("Enter"))
    assert asked.request["question"].endswith("năm 2030 là gì?")
    expect(error).to_be_hidden()


def test_api_reference_page_lists_every_operation(page: Page) -> None:
    """/docs renders the OpenAPI schema as headings and operations (it showed "[object HTMLHeadingElement],…")."""
    page.goto("/docs")
    main = page.locator("#docs-main")
    expect(main.locator("h2").first).to_be_visible()
    expect(main).not_to_contain_text("[object")
    paths = main.locator(".op .path")
    for path in ("/api/v1/ask", "/api/v1/search", "/api/v1/jobs", "/v1/chat/completions"):
        expect(paths.filter(has_text=path).first).to_be_visible()
    assert main.locator("h2").count() >= 3
    page.locator(".op summary", has_text="/api/v1/search").first.click()
    expect(page.locator(".op[open] .op-body").first).to_contain_text("q")


def test_documents_page_lists_public_documents(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Tài liệu", exact=True).click()
    expect(page).to_have_url(f"{urlparse(page.url).scheme}://{urlparse(page.url).netloc}/#/tai-lieu")
    expect(page.get_by_role("heading", name="Tài liệu đã nạp")).to_be_focused()
    rows = page.locator("#docs-body tr")
    expect(rows).to_have_count(3)
    nq = rows.filter(has_text="101-NQ/TW")
    for text in ("Nghị quyết về phát triển kho lưu trữ văn kiện số", "Nghị quyết", "Bộ Chính trị", "10/03/2025"):
        expect(nq).to_contain_text(text)
    expect(rows.filter(has_text="15-CT/TW")).to_contain_text("Ban Bí thư")
    expect(page.locator("#docs-summary")).to_contain_text("3 văn bản")
    expect(page.locator("body")).not_to_contain_text("88-KH/TW")

    # Searching without diacritics finds the directive only.
    page.get_by_label("Tìm trong danh sách").fill("chi thi an toan")
    expect(rows).to_have_count(1)
    # "Ask about this document" limits the next question to it.
    rows.first.get_by_role("button", name="Hỏi về văn bản 15-CT/TW").click()
    expect(page).to_have_url(f"{urlparse(page.url).scheme}://{urlparse(page.url).netloc}/#/")
    expect(page.get_by_label("Đặt câu hỏi")).to_be_focused()
    expect(page.locator("#filter-summary")).to_have_text("Đang lọc — Văn bản: 15-CT/TW")
    asked = ask(page, Q_CT)
    assert asked.request["filters"] == {"doc_ids": [CT_ID]}
    assert cited_doc_ids(asked.answer) == {CT_ID}


def test_restricted_document_never_reaches_an_anonymous_reader(page: Page) -> None:
    page.goto("/")
    for question in (Q_MAT, Q_NQ_2030, "Kế hoạch 88-KH/TW về bảo vệ kho lưu trữ văn kiện số có nội dung gì?"):
        asked = ask(page, question)
        assert CANARY not in asked.body
        assert MAT_ID not in asked.body
        assert MAT_ID not in cited_doc_ids(asked.answer)
    for cite in page.locator("#conversation .cite").all():
        cite.click()
        expect(page.locator("#panel .panel-note")).to_have_count(0)
        assert CANARY not in page.locator("#panel").inner_text()
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Tài liệu", exact=True).click()
    expect(page.locator("#docs-body tr")).to_have_count(3)
    assert CANARY not in page.content()
    expect(page.locator("#docs-body")).not_to_contain_text("88-KH/TW")

    # Asked for directly, the classified paragraph and document do not exist for this reader.
    statuses = page.evaluate(
        """async (ids) => Promise.all(ids.map(async (path) => {
            const r = await fetch(path);
            return [r.status, await r.text()];
        }))""",
        [f"/api/v1/paragraphs/{MAT_ID}/p0001", f"/api/v1/documents/{MAT_ID}"],
    )
    for status, body in statuses:
        assert status == 404
        assert CANARY not in body
    assert CANARY not in page.content()


def test_document_text_stays_inert(page: Page) -> None:
    page.goto("/")
    asked = ask(page, Q_HOSTILE)
    assert not asked.answer["abstained"]
    turn = page.locator("#conversation > li.turn").last
    # The markup is shown as the characters it is made of ...
    expect(turn.locator(".answer-body > p").first).to_contain_text(SCRIPT_TEXT)
    expect(turn.locator(".answer-body > p").first).to_contain_text(IMG_TEXT)
    turn.get_by_role("button", name="Trích dẫn 1", exact=True).click()
    panel = page.locator("#panel")
    expect(panel.locator("mark")).to_contain_text(SCRIPT_TEXT)
    expect(panel.locator(".doc-title")).to_have_text(
        f"Tập huấn nhận diện mã độc {TITLE_IMG_TEXT} cho cán bộ văn phòng cấp uỷ"
    )
    # ... and never becomes elements.
    assert page.locator("#conversation script, #conversation img, #panel script, #panel img").count() == 0

    page.get_by_role("link", name="Tài liệu", exact=True).click()
    expect(page.locator("#docs-body")).to_contain_text(TITLE_IMG_TEXT)
    assert page.locator("#docs-body img, #docs-body script").count() == 0
    page.wait_for_timeout(200)  # give a broken image's onerror the chance to fire, were there one
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_keyboard_only(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Bỏ qua, đến nội dung chính")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    box = page.get_by_label("Đặt câu hỏi")
    box.focus()
    page.keyboard.type("Nghị quyết 101")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    expect(page.locator("#conversation > li.turn")).to_have_count(0)
    page.keyboard.type("đặt mục tiêu gì đến năm 2030?")
    asked = ask(page, "", submit=lambda: page.keyboard.press("Enter"))
    assert asked.request["question"] == "Nghị quyết 101\nđặt mục tiêu gì đến năm 2030?"
    expect(box).to_have_value("")

    cite = page.get_by_role("button", name="Trích dẫn 1", exact=True)
    cite.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus is not visible"
    page.keyboard.press("Enter")
    expect(page.locator("#panel-title")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Đóng khung nguồn trích dẫn")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_be_hidden()
    expect(cite).to_be_focused()


def test_errors_are_shown_in_vietnamese(page: Page) -> None:
    page.goto("/")
    message = "Dịch vụ đang bảo trì; hãy thử lại sau."
    page.route(
        "**/api/v1/ask/stream",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=json.dumps({"error": {"code": "unavailable", "message": message}}),
        ),
    )
    page.get_by_label("Đặt câu hỏi").fill(Q_NQ_2030)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/conversations") and r.request.method == "POST") as made:
        page.get_by_label("Đặt câu hỏi").press("Enter")
    alert = page.locator("#conversation").get_by_role("alert")
    expect(alert).to_contain_text(message)
    # the conversation made for a question that got no answer does not stay behind, empty, in the saved list
    empty = made.value.json()["id"]
    deadline = time.monotonic() + 10
    while page.request.get(f"/api/v1/conversations/{empty}").status != 404 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert page.request.get(f"/api/v1/conversations/{empty}").status == 404

    # An error event inside the stream is shown the same way.
    page.unroute("**/api/v1/ask/stream")
    stream_message = "Không tạo được câu trả lời; hãy thử lại."
    page.route(
        "**/api/v1/ask/stream",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=f'event: error\ndata: {{"message": "{stream_message}"}}\n\nevent: done\ndata: {{}}\n\n',
        ),
    )
    page.get_by_label("Đặt câu hỏi").fill(Q_NQ_2030)
    page.get_by_label("Đặt câu hỏi").press("Enter")
    expect(page.locator("#conversation").get_by_role("alert").last).to_contain_text(stream_message)

    # "Thử lại" asks again once the service is back.
    page.unroute("**/api/v1/ask/stream")
    retry = page.get_by_role("button", name="Thử lại").last
    asked = ask(page, "", submit=retry.click, new_turn=False)
    assert asked.answer["citations"]
    expect(page.locator("#conversation > li.turn")).to_have_count(2)


UPLOADED = """**ĐẢNG BỘ THÀNH PHỐ THỬ NGHIỆM**

Số 07-KL/TU

**KẾT LUẬN**
**về lưu trữ tài liệu hội nghị bằng điện tử**

Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.

**1\\.** Văn phòng Thành uỷ số hoá toàn bộ tài liệu hội nghị trong năm 2026.

**2\\.** Các chi bộ lưu biên bản sinh hoạt trên hệ thống lưu trữ điện tử dùng chung.
"""


def sign_in(page: Page, key: str) -> None:
    if page.locator("#key-form").is_hidden():
        page.locator("#key-toggle").click()
    page.get_by_label("Khóa truy cập do đơn vị cấp").fill(key)
    page.locator("#key-form").get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("#key-status")).to_contain_text("Đã đăng nhập")


def test_an_editor_uploads_from_the_page(browser: Browser, editor_server: EditorServer, watch: Watch) -> None:
    """Drag and drop (or choose) files: progress, the ingestion job followed to the end, rejections explained."""
    for page in new_page(browser, editor_server.url, watch):
        page.goto("/#/tai-lieu")
        sign_in(page, editor_server.editor_key)
        upload = page.locator("#upload")
        expect(upload.get_by_role("heading", name="Tải tài liệu lên")).to_be_visible()
        # the levels offered stop at the editor's clearance
        levels = upload.get_by_label("Mức độ").locator("option").all_inner_texts()
        assert levels == ["Công khai", "Nội bộ"]
        # progress is reported while the file goes up (recorded, since a small file goes up in a blink)
        page.evaluate(
            """() => { window.progressSeen = 0; new MutationObserver(() => {
                for (const bar of document.querySelectorAll('.upload-row progress'))
                  window.progressSeen = Math.max(window.progressSeen, Number(bar.value) || 0);
              }).observe(document.getElementById('upload'), {subtree: true, attributes: true, childList: true}); }"""
        )
        page.evaluate(
            """([name, text]) => {
                const data = new DataTransfer();
                data.items.add(new File([text], name, { type: "text/markdown" }));
                const zone = document.getElementById("drop-zone");
                zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
                zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
            }""",
            ["ket-luan-07.md", UPLOADED],
        )
        row = upload.locator(".upload-row", has_text="ket-luan-07.md")
        expect(row.locator(".upload-status")).to_contain_text("Xong: đã nạp", timeout=60_000)
        expect(row.locator(".upload-status")).to_contain_text("đoạn")
        assert page.evaluate("window.progressSeen") == 1
        expect(page.locator("#docs-body tr", has_text="07-KL/TU")).to_be_visible()

        # a format the service cannot read: refused at once, with the server's reason, nothing queued
        upload.locator("#upload-input").set_input_files(
            files=[{"name": "bang-tinh.xlsx", "mimeType": "application/octet-stream", "buffer": b"PK\x03\x04"}]
        )
        refused = upload.locator(".upload-row", has_text="bang-tinh.xlsx")
        expect(refused).to_have_class(re.compile("upload-failed"))
        expect(refused.locator(".upload-status")).to_contain_text("Định dạng tệp không được hỗ trợ")
        shot(page, "10-upload")
        page.set_viewport_size({"width": 360, "height": 740})
        no_horizontal_overflow(page)

        # a reader sees no upload area
        if page.locator("#key-form").is_hidden():
            page.locator("#key-toggle").click()
        page.get_by_role("button", name="Đăng xuất").click()
        sign_in(page, editor_server.reader_key)
        expect(upload).to_be_hidden()


def test_the_admin_page_keys_documents_jobs_and_feedback_review(
    browser: Browser, editor_server: EditorServer, watch: Watch, tmp_path: Path
) -> None:
    from eval.datasets import load_qa

    for page in new_page(browser, editor_server.url, watch):
        reader = {"Authorization": f"Bearer {editor_server.reader_key}"}
        rating = {
            "question": "Chỉ thị 15 yêu cầu gì về an toàn thông tin?",
            "answer": "Không rõ.",
            "rating": "down",
            "comment": "Thiếu yêu cầu quán triệt",
            "paragraph_ids": [f"{NQ_ID}/p0005"],
        }
        assert page.request.post("/api/v1/feedback", data=rating, headers=reader).status == 201
        page.goto("/#/tai-lieu")
        expect(page.locator("#admin-link")).to_be_hidden()
        sign_in(page, editor_server.admin_key)
        page.get_by_role("link", name="Quản trị").click()
        admin = page.locator("#view-admin")
        expect(admin.get_by_role("heading", name="Quản trị", level=1)).to_be_visible()
        # documents with their provenance, filtered without diacritics, re-ingested from their source
        admin.get_by_label("Lọc").fill("nghi quyet kho luu tru")
        expect(admin.locator("tbody tr:visible")).to_have_count(1)
        nq_row = admin.locator("tr", has_text="101-NQ/TW")
        nq_row.get_by_role("button", name="Nạp lại 101-NQ/TW").click()
        expect(admin.locator("p.status").first).to_have_text("Đã nạp lại xong 101-NQ/TW.", timeout=60_000)
        admin.get_by_label("Lọc").fill("")
        # a delete takes two presses
        ct_row = admin.locator("tr", has_text="15-CT/TW")
        expect(ct_row).to_contain_text("người vận hành")
        ct_row.get_by_role("button", name="Xóa").click()
        ct_row.get_by_role("button", name="Bấm lần nữa để xóa").click()
        expect(admin.locator("tr", has_text="15-CT/TW")).to_have_count(0)
        assert page.request.get(f"/api/v1/documents/{CT_ID}").status == 404

        # keys: a new key's secret is shown once and works; revoked, it stops working
        admin.get_by_role("link", name="Khóa truy cập").click()
        admin.get_by_label("Tên (không dấu)").fill("can-bo-moi")
        admin.get_by_label("Được xem đến mức").select_option("cong-khai")
        admin.get_by_role("button", name="Tạo khóa").click()
        secret = admin.locator(".secret-box code").inner_text()
        assert secret.startswith("vk_")
        assert page.request.get("/api/v1/documents", headers={"Authorization": f"Bearer {secret}"}).status == 200
        row = admin.locator("tr", has_text="can-bo-moi")
        expect(row).to_contain_text("đang dùng")
        assert secret not in admin.locator("table").inner_text()
        row.get_by_role("button", name="Thu hồi").click()
        row.get_by_role("button", name="Bấm lần nữa để thu hồi").click()
        expect(admin.locator("tr", has_text="can-bo-moi")).to_contain_text("đã thu hồi")
        assert page.request.get("/api/v1/documents", headers={"Authorization": f"Bearer {secret}"}).status == 401

        admin.get_by_role("link", name="Tác vụ nạp").click()
        expect(admin.locator("table")).to_be_visible()

        # the feedback review: the rating with its cited paragraph, reviewed with the answer it should have had
        admin.get_by_role("link", name="Góp ý").click()
        card = admin.locator(".feedback-card", has_text="Chỉ thị 15 yêu cầu gì")
        expect(card).to_contain_text("Thiếu yêu cầu quán triệt")
        card.locator("summary").click()
        expect(card.locator("details")).to_contain_text("101-NQ/TW")
        shot(page, "11-admin-feedback", full_page=True)
        card.get_by_label("Câu trả lời đúng lẽ ra phải có").fill("quán triệt yêu cầu bảo đảm an toàn thông tin")
        card.get_by_role("button", name="Đánh dấu đã xem xét").click()
        expect(admin.locator(".feedback-card", has_text="Chỉ thị 15 yêu cầu gì")).to_have_count(0)
        admin.get_by_label("Hiện").select_option("reviewed=true")
        expect(admin.locator(".feedback-card", has_text="Chỉ thị 15 yêu cầu gì")).to_contain_text(
            "đã xem xét (quan-tri)"
        )
        with page.expect_download() as info:
            admin.get_by_role("button", name="Tải tệp câu hỏi đánh giá (.jsonl)").click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        [question] = load_qa(path)
        assert question.answers == ("quán triệt yêu cầu bảo đảm an toàn thông tin",)
        page.set_viewport_size({"width": 360, "height": 740})
        no_horizontal_overflow(page)


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until `target` has the focus (the keyboard is the only way there)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} never got the focus by Tab")


def test_new_screens_work_by_keyboard_only(browser: Browser, editor_server: EditorServer, watch: Watch) -> None:
    """The viewer's outline, the export buttons, the upload chooser and the admin tabs, with the keyboard alone."""
    for page in new_page(browser, editor_server.url, watch):
        page.goto("/#/tai-lieu")
        sign_in(page, editor_server.admin_key)
        # the full-document viewer: the outline opens and jumps with Enter
        page.goto(f"/#/van-ban/{NQ_ID}")
        view = page.locator("#view-doc")
        expect(view.locator("h1")).to_be_focused()
        summary = view.locator(".doc-outline summary")
        tab_to(page, summary)
        if not view.locator(".doc-outline").evaluate("el => el.open"):
            page.keyboard.press("Enter")
        target = view.get_by_role("button", name="III- TỔ CHỨC THỰC HIỆN")
        tab_to(page, target)
        page.keyboard.press("Enter")
        expect(view.get_by_role("heading", name="III- TỔ CHỨC THỰC HIỆN")).to_be_focused()
        tab_to(page, view.get_by_role("link", name="← Quay lại danh sách tài liệu"), limit=200)
        page.keyboard.press("Enter")
        expect(page.locator("#view-docs")).to_be_visible()

        # upload: the chooser opens from the keyboard
        # A listener registered first turns Playwright's chooser interception on before the key is pressed (asked
        # for inside `expect_file_chooser`, the interception raced the keypress and the chooser went unseen).
        choosers: list[Any] = []
        page.on("filechooser", lambda chooser, seen=choosers: seen.append(chooser))
        tab_to(page, page.locator("#upload").get_by_role("button", name="Chọn tệp…"))
        page.keyboard.press("Enter")
        for _ in range(100):
            if choosers:
                break
            page.wait_for_timeout(100)
        assert choosers, "the keyboard did not open the file chooser"
        choosers[0].set_files(files=[{"name": "rong.txt", "mimeType": "text/plain", "buffer": b""}])
        expect(page.locator(".upload-row", has_text="rong.txt")).to_have_class(re.compile("upload-failed"))

        # an answer exported with Enter on its button
        page.goto("/")
        ask(page, Q_NQ_2030)
        tab_to(page, page.get_by_role("button", name="Tải câu trả lời này về dạng PDF"), limit=200)
        with page.expect_download() as info:
            page.keyboard.press("Enter")
        assert info.value.suggested_filename.endswith(".pdf")

        # the admin tabs are links: Tab to one and Enter
        page.goto("/#/quan-tri")
        expect(page.locator("#view-admin table")).to_be_visible()
        tab_to(page, page.locator(".admin-tabs").get_by_role("link", name="Góp ý"))
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile("#/quan-tri/feedback$"))
        expect(page.locator(".admin-tabs a[aria-current=page]")).to_have_text("Góp ý")


def test_a_cadre_signs_in_and_out(browser: Browser, keyed_server: KeyedServer, watch: Watch) -> None:
    """Sign-in trades the key for an HttpOnly session cookie: the page keeps no key, a reload stays signed in,
    the clearance decides what is shown, and sign-out clears the screen."""
    for page in new_page(browser, keyed_server.url, watch):
        page.goto("/#/tai-lieu")
        expect(page.locator("#docs-status")).to_contain_text("Đăng nhập")  # the server's own message

        page.get_by_role("button", name="Đăng nhập").click()
        key_box = page.get_by_label("Khóa truy cập do đơn vị cấp")
        key_box.fill("vk_sai-khoa")
        page.locator("#key-form").get_by_role("button", name="Đăng nhập").click()
        expect(page.locator("#key-status")).to_contain_text("Khóa không đúng")

        key_box.fill(keyed_server.public_key)
        page.locator("#key-form").get_by_role("button", name="Đăng nhập").click()
        expect(page.locator("#key-status")).to_contain_text("Đã đăng nhập: doc-gia")
        rows = page.locator("#docs-body tr")
        expect(rows).to_have_count(3)
        expect(page.locator("body")).not_to_contain_text("88-KH/TW")
        assert key_box.input_value() == ""
        # nothing a script could steal: no key in storage, the session cookie is HttpOnly
        assert page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)") == "{}{}"
        assert page.evaluate("document.cookie") == ""
        [cookie] = [c for c in page.context.cookies() if c["name"] == "vankien_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        page.reload()  # still signed in
        expect(page.get_by_role("button", name="Tài khoản: doc-gia")).to_be_visible()
        expect(rows).to_have_count(3)

        # signed in as a cadre cleared for "mat": the classified plan, marked as such, and answers from it
        page.get_by_role("button", name="Tài khoản: doc-gia").click()
        page.get_by_role("button", name="Đăng xuất").click()
        expect(page.locator("#key-status")).to_contain_text("Đã đăng xuất")
        expect(page.locator("#docs-status")).to_contain_text("Đăng nhập")
        key_box.fill(keyed_server.mat_key)
        page.locator("#key-form").get_by_role("button", name="Đăng nhập").click()
        expect(rows).to_have_count(4)
        expect(rows.filter(has_text="88-KH/TW")).to_contain_text("Mật")
        page.get_by_role("link", name="Hỏi đáp", exact=True).click()
        asked = ask(page, Q_MAT)
        assert MAT_ID in cited_doc_ids(asked.answer)
        expect(page.locator("#conversation")).to_contain_text(CANARY)

        # sign-out takes the restricted answer off the screen, and a reload does not bring it back
        expect(page.get_by_role("button", name="Tài khoản: can-bo-mat")).to_have_attribute("aria-expanded", "true")
        page.get_by_role("button", name="Đăng xuất").click()
        expect(page.locator("#conversation > li.turn")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text(CANARY)
        assert not [c for c in page.context.cookies() if c["name"] == "vankien_session"]
        page.reload()
        expect(page.get_by_role("button", name="Đăng nhập")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text(CANARY)


def test_saved_conversations_survive_reload_and_restart(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, watch: Watch
) -> None:
    """The server records each answered turn; a reload reopens the conversation on screen, and after a restart
    the saved list reopens it; rename and delete work from the keyboard, also at phone width."""
    index = build_tiny_index(tmp_path_factory.mktemp("saved"))
    with serve(settings_for(index)) as url:
        for page in new_page(browser, url, watch):
            page.goto("/")
            first = ask(page, Q_NQ_2030)
            assert first.request["conversation_id"]
            ask(page, Q_FOLLOW_UP)
            page.reload()
            turns = page.locator("#conversation > li.turn")
            expect(turns).to_have_count(2)
            expect(turns.first).to_contain_text(Q_NQ_2030)
            expect(turns.first.locator(".cite").first).to_be_visible()  # citations work in a reopened turn
            # a follow-up after the reload still has its context and lands in the same conversation
            third = ask(page, "Kinh phí thực hiện là bao nhiêu?")
            assert third.request["conversation_id"] == first.request["conversation_id"]

            saved = page.locator("#saved")
            saved.locator("summary").click()
            items = page.locator("#saved-list > li.saved-item")
            expect(items).to_have_count(1)
            expect(items.first).to_contain_text(Q_NQ_2030)
            expect(items.first).to_contain_text("3 lượt")
            items.first.get_by_role("button", name="Đổi tên").click()
            box = page.get_by_label("Tên mới của cuộc hội thoại")
            expect(box).to_be_focused()
            box.fill("Mục tiêu NQ 101")
            box.press("Enter")
            expect(page.locator("#saved-status")).to_contain_text("Đã đổi tên")
            expect(items.first).to_contain_text("Mục tiêu NQ 101")
            shot(page, "saved-conversations")
    with serve(settings_for(index)) as url:  # a new process on the same index
        for page in new_page(browser, url, watch, viewport={"width": 390, "height": 844}):
            page.goto("/")
            expect(page.locator("#conversation > li.turn")).to_have_count(0)
            summary = page.locator("#saved summary")
            summary.focus()
            page.keyboard.press("Enter")
            items = page.locator("#saved-list > li.saved-item")
            expect(items).to_have_count(1)
            open_button = items.first.get_by_role("button", name="Mục tiêu NQ 101")
            open_button.focus()
            page.keyboard.press("Enter")
            turns = page.locator("#conversation > li.turn")
            expect(turns).to_have_count(3)
            expect(page.get_by_label("Đặt câu hỏi")).to_be_focused()
            expect(page.locator("#saved")).not_to_have_attribute("open", "")
            shot(page, "saved-conversation-reopened-phone")

            # a new conversation, then the old one deleted (two presses: nothing goes on one slip)
            page.get_by_role("button", name="Cuộc hội thoại mới").click()
            expect(turns).to_have_count(0)
            ask(page, Q_CT)
            page.locator("#saved summary").click()
            expect(items).to_have_count(2)
            old = items.filter(has_text="Mục tiêu NQ 101")
            old.get_by_role("button", name="Xóa").click()
            expect(items).to_have_count(2)
            old.get_by_role("button", name="Bấm lần nữa để xóa").click()
            expect(items).to_have_count(1)
            expect(items.first).to_contain_text(Q_CT)
            expect(turns).to_have_count(1)  # the conversation on screen was not the deleted one
