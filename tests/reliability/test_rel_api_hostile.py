"""Hostile input to the HTTP API: schemathesis over the OpenAPI schema, and hand-written attacks.

Schemathesis runs every check it has (server errors, status codes, content types, response headers and schemas,
negative data rejected, positive data accepted, missing headers, unsupported methods, Allow headers, use after
free, resource availability, ignored authentication, object-level authorisation) against a real server on
127.0.0.1, per operation and as a stateful sequence following the schema's links. In CI the number of examples is
small and derandomised; the slow variant takes `VANKIEN_SCHEMATHESIS_EXAMPLES` (default 100) per operation and
explores at random.

The fuzzing is the slow tier (`pytest -m slow`); the tests that judge a whole fuzzing run (it got past
authentication, restricted text did not leak after it) fuzz a server of their own in the `fuzzed` fixture, so that
they do not depend on which other tests ran before them.

The hand-written tests cover what a generator would not aim at: path traversal in upload names, oversized and
deeply nested JSON, security headers on every response, the CORS policy, and an offline /docs page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from rag import Library
from rag.errors import InvalidRequest
from rag.retrieve.query import check_query
from service.app import create_app
from service.errors import ApiError
from service.keys import KEY_PREFIX, ApiKey, KeyStore, digest
from service.limits import check_text_length
from service.routers.openai_compat import conversation
from service.schemas import ChatMessage
from service.settings import Settings
from tests.service.conftest import (
    CANARIES,
    DOC_IDS,
    LiveServer,
    LocalClient,
    add_key,
    bearer,
    build_index,
    settings_for,
    wait_job,
    write_sources,
)

CI_EXAMPLES = 12
SLOW_EXAMPLES = int(os.environ.get("VANKIEN_SCHEMATHESIS_EXAMPLES", "100"))
#: Cases per operation in the `fuzzed` fixture's own run.
FUZZED_EXAMPLES = 5


def _index_with_vectors(root: Path) -> Path:
    """The four test resolutions (one per classification) in an index with vectors, so every search mode works."""
    index = root / "ix"
    with Library(index, embedder="hash:64") as library:
        for classification, folder in write_sources(root / "src").items():
            assert library.ingest([folder], classification).counts["ok"] == 1
    return index


@contextmanager
def _fuzz_target(root: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A server on a fresh index with vectors, and the secrets of its admin, editor and reader keys."""
    index = _index_with_vectors(root)
    _store_admin_key(index)
    keys = {
        "admin": ADMIN_SECRET,
        "editor": add_key(index, "editor", "noi-bo", "bien-tap"),
        "reader": add_key(index, "reader", "cong-khai", "doc-gia"),
    }
    with LiveServer(index) as server:
        yield server, keys


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """The server the schemathesis tests share: each judges only the responses to its own cases."""
    with _fuzz_target(tmp_path_factory.mktemp("hostile")) as target:
        yield target


CONFIG = """
# A schema-violating body too large to read is refused with 413 before it is parsed: a rejection too.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""

# The schema the app serves at /openapi.json (building it needs no index; the live server's index has vectors,
# so the served document is this one, which test_served_schema_is_the_one_fuzzed checks). Calls go to the server.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(index_dir=Path("/nonexistent"))).openapi(),
    config=SchemathesisConfig.from_str(CONFIG),
)

#: The admin key of the running server, applied by schemathesis's own auth hook so that it knows which header carries
#: the credentials: a case whose Authorization header it mutated on purpose is sent as generated (and must get 401),
#: instead of being silently repaired by a header passed on every call. Schemathesis asks for it while collecting
#: the tests, before any fixture runs, so the secret is made here and stored by the `live` fixture.
ADMIN_SECRET = KEY_PREFIX + secrets.token_urlsafe(32)


def _store_admin_key(index: Path) -> None:
    keys = KeyStore(index / "keys.json")
    created = datetime.now(UTC).isoformat(timespec="seconds")
    admin = ApiKey("quan-tri", "admin", "toi-mat", digest(ADMIN_SECRET), ADMIN_SECRET[:7], created)
    keys.path.write_text(json.dumps({"version": 1, "keys": [asdict(admin)]}), encoding="utf-8")
    keys.path.chmod(0o600)


@schema.auth()
class _AdminKey:
    def get(self, case: Case, ctx: Any) -> str:
        return ADMIN_SECRET

    def set(self, case: Case, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def _rule_no_schema_can_state(response: Any, case: Case) -> str | None:
    """The rule a schema-valid request broke, when it is one JSON Schema cannot express, else None.

    Three such rules exist: a date range must not end before it starts (two fields compared); an uploaded file must
    be in a format the service reads (its name and bytes); in an OpenAI conversation, the last message whose role is
    "user" is the question and must be one (a property of one item of an array, chosen by position).
    """
    if response.status_code != 400:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    label = case.operation.label
    if "ngày bắt đầu sau ngày kết thúc" in error.get("message", ""):
        return "date range ends before it starts"
    if label == "POST /api/v1/documents" and error.get("code") in {"unsupported_format", "empty_file"}:
        return "file format"
    if label == "POST /api/v1/keys" and "Đã có khóa tên" in error.get("message", ""):
        return "a key name already taken by an earlier case"
    if label == "POST /api/v1/export" and error.get("code") == "invalid_request":
        body = case.body if isinstance(case.body, dict) else {}
        if (body.get("conversation_id") is None) == (not body.get("turns")) or body.get("turn") is not None:
            return "either a saved conversation or turns, one of them (turn only with the conversation)"
    if label == "POST /v1/chat/completions" and error.get("code") in {"invalid_request", "question_too_long"}:
        body = case.body if isinstance(case.body, dict) else {}
        try:
            messages = [ChatMessage.model_validate(m) for m in body.get("messages", [])]
            question, _ = conversation(messages, 10)
            check_text_length(question, Settings(index_dir=Path("/nonexistent")).max_question_chars)
            check_query(question)
        except (ApiError, InvalidRequest, ValueError):
            return "the last user message is not a question"
    return None


def positive_data_acceptance_beyond_schema(ctx: Any, response: Any, case: Case) -> bool | None:
    """schemathesis's `positive_data_acceptance`, except for a 400 that names one of the rules above."""
    if _rule_no_schema_can_state(response, case) is not None:
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


_CHECKS: dict[str, Any] = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_acceptance_beyond_schema],
}


#: Requests made per operation ("stateful" prefix for steps of sequences), for the figures in docs/reliability.md,
#: and the statuses of the per-operation cases.
CASES: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    """Write the number of cases per operation to $VANKIEN_SCHEMATHESIS_REPORT (JSON) when it is set."""
    yield
    target = os.environ.get("VANKIEN_SCHEMATHESIS_REPORT")
    if target and CASES:
        report = {
            "cases": sum(CASES.values()),
            "by_operation": dict(sorted(CASES.items())),
            "statuses": dict(sorted(STATUSES.items())),
        }
        Path(target).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


def _call(case: Case, live: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = live
    CASES[case.operation.label] += 1
    response = case.call_and_validate(base_url=server.url, timeout=60, **_CHECKS)
    STATUSES[str(response.status_code)] += 1


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)  # type: ignore[arg-type]
def test_schemathesis_all_checks(case: Case, live: tuple[LiveServer, dict[str, str]]) -> None:
    _call(case, live)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("VANKIEN_SCHEMATHESIS_EXAMPLES"), reason="long run: set VANKIEN_SCHEMATHESIS_EXAMPLES"
)
@schema.parametrize()
@settings(max_examples=SLOW_EXAMPLES, **_COMMON)  # type: ignore[arg-type]
def test_schemathesis_all_checks_long(case: Case, live: tuple[LiveServer, dict[str, str]]) -> None:
    _call(case, live)


def _count_stateful(response: Any, case: Case) -> None:
    CASES[f"stateful {case.operation.label}"] += 1


def _stateful(
    url: str, record: Callable[[Any, Case], None], *, validate: bool = True, **hypothesis_settings: Any
) -> None:
    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": url, "timeout": 60}

        def validate_response(self, response: Any, case: Case, additional_checks: Any = None, **kwargs: Any) -> None:
            record(response, case)
            if validate:
                case.validate_response(response, transport_kwargs=kwargs, **_CHECKS)

    Machine.run(settings=settings(**_COMMON, **hypothesis_settings))  # type: ignore[arg-type]


@pytest.mark.slow
def test_schemathesis_stateful(live: tuple[LiveServer, dict[str, str]]) -> None:
    """Sequences that follow the schema's links (upload -> job, document -> paragraphs, delete -> get)."""
    _stateful(live[0].url, _count_stateful, max_examples=CI_EXAMPLES, stateful_step_count=5, derandomize=True)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("VANKIEN_SCHEMATHESIS_EXAMPLES"), reason="long run: set VANKIEN_SCHEMATHESIS_EXAMPLES"
)
def test_schemathesis_stateful_long(live: tuple[LiveServer, dict[str, str]]) -> None:
    _stateful(live[0].url, _count_stateful, max_examples=SLOW_EXAMPLES, stateful_step_count=10)


@dataclass(frozen=True)
class Fuzzed:
    server: LiveServer
    keys: dict[str, str]
    #: How many responses of the run had each status.
    statuses: Counter[str]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """A server of its own, fuzzed with the admin key (cases for every operation, then link-following sequences),
    for the tests that judge a whole run. They used to read the counters that the parametrised tests above fill as
    they happen to run: alone, first, or without those tests, one skipped and the other checked an unfuzzed server.
    """
    with _fuzz_target(tmp_path_factory.mktemp("fuzzed")) as (server, keys):
        statuses: Counter[str] = Counter()
        for result in schema.get_all_operations():

            @given(case=result.ok().as_strategy(auth_storage=schema.auth))
            @settings(max_examples=FUZZED_EXAMPLES, derandomize=True, **_COMMON)  # type: ignore[arg-type]
            def call(case: Case) -> None:
                statuses[str(case.call(base_url=server.url, timeout=60).status_code)] += 1

            call()
        _stateful(
            server.url,
            lambda response, _: statuses.update([str(response.status_code)]),
            validate=False,
            max_examples=FUZZED_EXAMPLES,
            stateful_step_count=5,
            derandomize=True,
        )
        yield Fuzzed(server, keys, statuses)


@pytest.mark.slow
def test_fuzzing_reached_past_authentication(fuzzed: Fuzzed) -> None:
    """Most fuzzed cases were authenticated: a fuzzer that only ever got 401 would pass every check vacuously."""
    statuses = fuzzed.statuses
    authenticated = sum(n for status, n in statuses.items() if status != "401")
    assert authenticated > 0.5 * sum(statuses.values()), statuses
    assert any(status.startswith("2") for status in statuses), statuses


def test_served_schema_is_the_one_fuzzed(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = live
    served = httpx.get(f"{server.url}/openapi.json").json()
    assert served == create_app(Settings(index_dir=Path("/nonexistent"))).openapi()


# -- hand-written attacks ------------------------------------------------------------------------------------------

DOC_TEXT = (
    "Số 77-NQ/TW\nNGHỊ QUYẾT\nvề kho lưu trữ thử nghiệm\n1. Tài liệu thử nghiệm, không phải văn bản chính thức.\n"
)
TRAVERSAL_NAMES = [
    b"../../etc/passwd.md",
    b"/etc/passwd.md",
    b"..\\..\\..\\Windows\\system32\\evil.md",
    b"C:\\Windows\\evil.md",
    b"\\\\server\\share\\evil.md",
    b"evil\x00.md",
    b"../evil.md\x00.txt",
    b"..%2F..%2Fevil.md",
    b"\xe2\x80\xa5/\xe2\x80\xa5/evil.md",  # two-dot leaders, look-alike of ".."
    b"./././../../../../../../../../tmp/evil.md",
    b"a/" * 300 + b"evil.md",
]


def _multipart(filename: bytes, content: bytes, *, star: bool = False) -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (no client library cleaning it)."""
    boundary = "vk-boundary-7d1f"
    disposition = b'form-data; name="file"; filename="' + filename + b'"'
    if star:
        disposition = b"form-data; name=\"file\"; filename*=UTF-8''" + filename
    body = (
        b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        b"Content-Type: text/markdown\r\n\r\n" + content + b"\r\n--" + boundary.encode() + b"--\r\n"
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture()
def hostile_app(tmp_path: Path) -> Iterator[tuple[TestClient, Settings, dict[str, str], Path]]:
    root = tmp_path / "root"
    index = build_index(root)
    editor = bearer(add_key(index, "editor", "toi-mat", "bien-tap-vien"))
    settings = settings_for(index)
    with LocalClient(create_app(settings)) as client:
        yield client, settings, editor, root


@pytest.mark.parametrize("star", [False, True], ids=["filename", "filename*"])
def test_upload_names_never_write_outside_the_uploads_folder(
    hostile_app: tuple[TestClient, Settings, dict[str, str], Path], star: bool
) -> None:
    client, settings, editor, root = hostile_app
    tmp_root = root.parent
    before = {p for p in tmp_root.rglob("*") if p.is_file()}
    jobs = []
    for i, name in enumerate(TRAVERSAL_NAMES):
        body, content_type = _multipart(name, (DOC_TEXT + f"Bản {i}.\n").encode("utf-8"), star=star)
        r = client.post("/api/v1/documents", content=body, headers={**editor, "Content-Type": content_type})
        assert r.status_code in {202, 400, 422}, (name, r.status_code, r.text)
        if r.status_code == 202:
            shown = r.json()["filename"]
            assert not any(c in shown for c in ("/", "\\", "\x00")) and not shown.startswith("."), shown
            jobs.append(r.json()["job_id"])
    for job_id in jobs:
        wait_job(client, job_id, editor)
    uploads = settings.uploads_path.resolve()
    index = settings.index_dir.resolve()
    created = {p for p in tmp_root.rglob("*") if p.is_file()} - before
    assert jobs or star, "no upload was accepted at all"  # RFC 5987 names are not read: no file, no upload
    for path in created:
        resolved = path.resolve()
        assert resolved.is_relative_to(uploads) or resolved.is_relative_to(index), resolved
        if resolved.is_relative_to(uploads):
            assert re.fullmatch(r"[0-9a-f]{32}-cong-khai\.(md|txt)", resolved.name), resolved.name
    assert not Path("/etc/passwd.md").exists() and not Path("/tmp/evil.md").exists()


def test_oversized_json_is_413_in_vietnamese(hostile_app: tuple[TestClient, Settings, dict[str, str], Path]) -> None:
    client, settings, editor, _ = hostile_app
    big = json.dumps({"question": "Kinh phí là bao nhiêu?", "history": [{"question": "x" * 19_000}] * 40})
    assert len(big) > settings.max_body_kb * 1024
    r = client.post("/api/v1/ask", content=big, headers={**editor, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert "quá lớn" in r.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"question": "'
        for _ in range(400):
            yield b"a" * 1024
        yield b'"}'

    r = client.post("/api/v1/ask", content=chunks(), headers={**editor, "Content-Type": "application/json"})
    assert r.status_code == 413 and "quá lớn" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", content=big, headers={**editor, "Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"question": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b'{"question": "q", "history": [' + b"[" * 100_000,
        b'{"messages": [{"role": "user", "content": "x"}], "filters": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    ],
    ids=["array-100k", "object-50k", "unclosed-100k", "chat-filters-1000"],
)
def test_deeply_nested_json_is_refused_without_recursion(
    hostile_app: tuple[TestClient, Settings, dict[str, str], Path], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, editor, _ = hostile_app
    path = "/v1/chat/completions" if b"messages" in body else "/api/v1/ask"
    r = client.post(path, content=body, headers={**editor, "Content-Type": "application/json"})
    assert r.status_code in {400, 413}, r.text
    assert r.json()["error"]["code"] in {"json_too_deep", "payload_too_large"}
    assert "sâu" in r.json()["error"]["message"] or "quá lớn" in r.json()["error"]["message"]
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text


def test_json_nesting_at_the_limit_is_still_read(
    hostile_app: tuple[TestClient, Settings, dict[str, str], Path],
) -> None:
    client, _, editor, _ = hostile_app
    # Brackets inside strings do not count: a question may contain them.
    r = client.post("/api/v1/ask", json={"question": 'Kinh phí [[[{{{ là bao nhiêu? \\" ]]'}, headers=editor)
    assert r.status_code == 200, r.text


_PROBES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/docs", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/static/app.js", {}),
    ("GET", "/healthz", {}),
    ("GET", "/readyz", {}),
    ("GET", "/api/v1/search?q=kinh+phí", {}),
    ("GET", "/api/v1/documents", {}),
    ("GET", "/api/v1/documents/khong-co", {}),
    ("GET", "/api/v1/khong-co", {}),
    ("PUT", "/api/v1/ask", {}),
    ("POST", "/api/v1/ask", {"json": {"question": "Kinh phí là bao nhiêu?"}}),
    ("POST", "/api/v1/ask/stream", {"json": {"question": "Kinh phí là bao nhiêu?"}}),
    ("POST", "/api/v1/ask", {"json": {}}),
    ("POST", "/api/v1/ask", {"content": b"x" * 300_000, "headers": {"Content-Type": "application/json"}}),
    ("OPTIONS", "/api/v1/ask", {"headers": {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}}),
]


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
def test_security_headers_on_every_response(
    hostile_app: tuple[TestClient, Settings, dict[str, str], Path], with_key: bool
) -> None:
    client, _, editor, _ = hostile_app
    for method, path, probe in _PROBES:
        kwargs = dict(probe)
        headers = {**(editor if with_key else {}), "Origin": "http://evil.example", **kwargs.pop("headers", {})}
        r = client.request(method, path, headers=headers, **kwargs)
        h = r.headers
        label = f"{method} {path} -> {r.status_code}"
        assert h.get("x-content-type-options") == "nosniff", label
        assert h.get("x-frame-options") == "DENY", label
        csp = h.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, label
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp, label
        assert h.get("access-control-allow-origin") is None, label  # no CORS unless origins are configured
        if path.startswith(("/api/", "/v1/")):  # streamed answers too: never `no-cache` alone
            assert "no-store" in h.get("cache-control", ""), label


def test_chat_page_csp_allows_no_inline_script(hostile_app: tuple[TestClient, Settings, dict[str, str], Path]) -> None:
    client, _, _, _ = hostile_app
    for page in ("/", "/docs"):
        r = client.get(page)
        policy = dict(
            (d.split()[0], d.split()[1:]) for d in r.headers["content-security-policy"].split(";") if d.strip()
        )
        script = policy.get("script-src", policy.get("default-src"))
        assert script == ["'self'"], (page, script)
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
        assert "<script>" not in r.text and not re.search(r"<script(?![^>]*\bsrc=)", r.text), page
        assert not re.search(r"\son[a-z]+\s*=", r.text), f"inline event handler on {page}"


def test_docs_page_is_served_locally(hostile_app: tuple[TestClient, Settings, dict[str, str], Path]) -> None:
    client, _, _, _ = hostile_app
    r = client.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
    for ref in refs:
        assert client.get(ref).status_code == 200, ref
    for asset in ("/static/docs.js", "/static/docs.css", "/static/dom.js"):
        text = client.get(asset).text
        assert not re.search(r"https?://|//cdn|@import", text), asset
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN page is not served either


def test_cors_is_same_origin_unless_exact_origins_are_configured(tmp_path: Path) -> None:
    index = build_index(tmp_path)
    with pytest.raises(ValueError, match="wildcard"):
        settings_for(index, cors_origins=["*"])
    with pytest.raises(ValueError):
        settings_for(index, cors_origins=["https://*.noi-bo.vn"])
    allowed = "https://cong-cu.noi-bo.vn"
    with LocalClient(create_app(settings_for(index, cors_origins=[allowed]))) as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        r = client.options("/api/v1/ask", headers={"Origin": allowed, **preflight})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == allowed
        assert r.headers.get("access-control-allow-credentials") is None
        r = client.options("/api/v1/ask", headers={"Origin": "https://evil.example", **preflight})
        assert r.headers.get("access-control-allow-origin") is None
        r = client.get("/api/v1/search", params={"q": "kinh phí"}, headers={"Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") is None
        r = client.get("/api/v1/search", params={"q": "kinh phí"}, headers={"Origin": allowed})
        assert r.headers.get("access-control-allow-origin") == allowed


@pytest.mark.slow
def test_restricted_canaries_never_reach_an_anonymous_fuzzed_client(fuzzed: Fuzzed) -> None:
    """After a fuzzing run with the admin key, a public-clearance key still sees no restricted text anywhere."""
    server, keys = fuzzed.server, fuzzed.keys
    reader = bearer(keys["reader"])
    with httpx.Client(base_url=server.url, headers=reader, timeout=60) as client:
        texts = [
            client.get("/api/v1/search", params={"q": "kho lưu trữ văn kiện số", "k": 50}).text,
            client.post("/api/v1/ask", json={"question": "Kinh phí cho kho lưu trữ văn kiện số?"}).text,
            client.get("/api/v1/documents").text,
            client.get(f"/api/v1/documents/{DOC_IDS['mat']}").text,
            client.get(f"/api/v1/paragraphs/{DOC_IDS['mat']}/p0003").text,
        ]
    for canary in CANARIES.values():
        assert all(canary not in t for t in texts), canary


def test_index_and_uploads_are_private_to_the_service_user(
    hostile_app: tuple[TestClient, Settings, dict[str, str], Path],
) -> None:
    client, settings, editor, _ = hostile_app
    assert settings.index_dir.stat().st_mode & 0o077 == 0, oct(settings.index_dir.stat().st_mode)
    r = client.post(
        "/api/v1/documents", files={"file": ("rieng.md", DOC_TEXT.encode("utf-8"), "text/markdown")}, headers=editor
    )
    wait_job(client, r.json()["job_id"], editor)
    assert settings.uploads_path.stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in settings.uploads_path.iterdir())
