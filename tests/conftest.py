"""Shared fixtures. The network is blocked for every test: nothing here may reach outside 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.samples import NEWS_SAMPLE, NQ_SAMPLE

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
