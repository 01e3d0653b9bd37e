from pathlib import Path

from fastapi.testclient import TestClient

from app.checkpoints import Registry
from app.config import Settings
from app.main import create_app


def test_lists_models_with_metrics(client: TestClient) -> None:
    r = client.get("/api/models")
    assert r.status_code == 200
    (m,) = r.json()["models"]
    assert m["name"] == "tiny-char" and m["available"] is True and m["reason"] is None
    assert m["kind"] == "char-lm" and m["task"] == "shakespeare"
    assert m["summary"] == {"accuracy": 0.5}
    assert set(m) >= {"name", "kind", "task", "description", "available", "reason", "metrics"}


def test_garbage_checkpoint_is_unavailable_and_server_keeps_running(
    settings: Settings, models_dir: Path
) -> None:
    (models_dir / "broken.pt").write_bytes(b"\x00garbage" * 100)
    with TestClient(create_app(settings, Registry.from_paths(models_dir))) as client:
        models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        assert models["tiny-char"]["available"] is True
        assert models["broken"]["available"] is False
        assert "broken.pt" in models["broken"]["reason"]
        assert client.get("/api/health").json()["unavailable"] == 1


def test_lifespan_loads_from_settings_and_survives_a_missing_dir(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path / "missing", upload_dir=tmp_path / "u")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/models").json() == {"models": []}
        assert client.get("/api/health").json()["models"] == 0
