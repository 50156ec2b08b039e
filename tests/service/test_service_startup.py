"""Starting the service: the key policy (loopback demo vs. keys required), `vankien keys`, settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.app import create_app
from service.keys import KeyStore, digest
from service.settings import Settings
from service.state import ServiceConfigError
from tests.service.conftest import CANARIES, DOC_IDS, LocalClient, add_key, bearer, settings_for
from vankien.cli import main


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "vankien.noi-bo.vn", "::"])
def test_refuses_to_start_on_a_public_address_without_keys(index_dir: Path, host: str) -> None:
    app = create_app(settings_for(index_dir, host=host))
    with pytest.raises(ServiceConfigError) as info, LocalClient(app):
        pass
    assert "Không khởi động" in info.value.user_message and "vankien keys create" in info.value.user_message


def test_serve_command_refuses_without_keys(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--index", str(index_dir), "--host", "0.0.0.0", "--port", "8765"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Không khởi động" in err and "0.0.0.0" in err


def test_public_address_with_keys_requires_a_key(index_dir: Path) -> None:
    secret = add_key(index_dir, "reader", "cong-khai")
    with LocalClient(create_app(settings_for(index_dir, host="0.0.0.0"))) as c:
        r = c.get("/api/v1/documents")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert "Đăng nhập" in r.json()["error"]["message"] and "Authorization: Bearer" in r.json()["error"]["message"]
        assert c.get("/api/v1/documents", headers=bearer(secret)).status_code == 200
        assert c.get("/api/v1/documents", headers={"X-API-Key": secret}).status_code == 200
        assert c.get("/api/v1/documents", headers={"Authorization": f"Basic {secret}"}).status_code == 401
        assert c.get("/healthz").status_code == 200


def test_loopback_demo_is_anonymous_public_only_until_keys_exist(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as c:
        docs = c.get("/api/v1/documents").json()["documents"]
        assert [d["classification"] for d in docs] == ["cong-khai"]
        # any presented key is ignored while none is configured: still anonymous, still public only
        r = c.get(f"/api/v1/documents/{DOC_IDS['mat']}", headers=bearer("vk_whatever"))
        assert r.status_code == 404
        secret = add_key(index_dir, "reader", "mat")  # keys appear while the service runs
        assert c.get("/api/v1/documents").status_code == 401
        r = c.get(f"/api/v1/documents/{DOC_IDS['mat']}", headers=bearer(secret))
        assert r.status_code == 200 and CANARIES["mat"] in r.text


def test_keys_cli_create_list_revoke(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "reader", "--clearance", "noi-bo", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("vk_") and "MỘT lần" in out
    assert (
        main(
            [
                "keys",
                "create",
                "--role",
                "admin",
                "--clearance",
                "toi-mat",
                "--name",
                "qt",
                "--index",
                str(index_dir),
                "--json",
            ]
        )
        == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "qt" and created["key"].startswith("vk_")
    stored = (index_dir / "keys.json").read_text(encoding="utf-8")
    assert secret not in stored and created["key"] not in stored and digest(secret) in stored
    assert oct((index_dir / "keys.json").stat().st_mode & 0o777) == "0o600"
    assert main(["keys", "list", "--index", str(index_dir)]) == 0
    listing = capsys.readouterr().out
    assert "qt" in listing and secret not in listing and created["key"] not in listing
    assert (
        main(["keys", "create", "--role", "reader", "--clearance", "mat", "--name", "qt", "--index", str(index_dir)])
        == 1
    )
    assert "Đã có khóa tên 'qt'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["keys", "create", "--role", "chief", "--clearance", "mat", "--index", str(index_dir)])
    assert exit_info.value.code == 2

    with LocalClient(create_app(settings_for(index_dir))) as c:
        r = c.get(f"/api/v1/documents/{DOC_IDS['noi-bo']}", headers=bearer(secret))
        assert r.status_code == 200
        assert c.get(f"/api/v1/documents/{DOC_IDS['mat']}", headers=bearer(secret)).status_code == 404
        assert main(["keys", "revoke", "qt", "--index", str(index_dir)]) == 0  # takes effect without a restart
        assert c.get("/api/v1/documents", headers=bearer(created["key"])).status_code == 401
        assert c.get("/api/v1/documents", headers=bearer(secret)).status_code == 200
    assert main(["keys", "revoke", "qt", "--index", str(index_dir)]) == 1
    keys = KeyStore(index_dir / "keys.json").all()
    assert [k.name for k in keys if k.revoked] == ["qt"]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VANKIEN_INDEX", str(tmp_path / "ix"))
    monkeypatch.setenv("VANKIEN_RATE_LIMIT_PER_MINUTE", "7")
    monkeypatch.setenv("VANKIEN_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("VANKIEN_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    settings = Settings()
    assert settings.index_dir == tmp_path / "ix"
    assert settings.rate_limit_per_minute == 7 and settings.max_upload_bytes == 2 * 1024 * 1024
    assert settings.audit_path == tmp_path / "audit.jsonl"
    assert settings.keys_path == tmp_path / "ix" / "keys.json"
    assert settings.is_loopback and not Settings(host="0.0.0.0").is_loopback
