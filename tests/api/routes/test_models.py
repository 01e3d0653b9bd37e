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


# --- uploads (bring your own LSTM) -------------------------------------------------------------

import io  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save as save_safetensors  # noqa: E402
from torch import nn  # noqa: E402


def saved(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def upload(client: TestClient, data: bytes, filename: str = "model.pt", **form: str):  # type: ignore[no-untyped-def]
    files: dict[str, tuple[str, bytes, str]] = {"file": (filename, data, "application/octet-stream")}
    if "vocab" in form:
        files["vocab"] = ("vocab.json", form.pop("vocab").encode(), "application/json")
    return client.post("/api/models/upload", files=files, data=form)


@pytest.mark.parametrize(
    "shape", [(3, 5, 1, False, True), (4, 8, 2, False, False), (2, 6, 2, True, True), (7, 16, 3, True, True)]
)
@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_uploaded_lstm_traces_equal_the_users_own_forward(
    client: TestClient, shape: tuple[int, int, int, bool, bool], fmt: str
) -> None:
    inputs, hidden, layers, bi, bias = shape
    torch.manual_seed(sum(shape[:3]))
    model = nn.LSTM(inputs, hidden, layers, bias=bias, bidirectional=bi)
    state = model.state_dict()  # exactly what a user saves
    data = saved(state) if fmt == "pt" else save_safetensors({k: v.contiguous() for k, v in state.items()})
    r = upload(client, data, f"mine.{fmt}")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["name"].startswith("upload-") and info["kind"] == "lstm"
    assert (info["input_size"], info["hidden_size"], info["layers"], info["bidirectional"]) == (
        inputs,
        hidden,
        layers,
        bi,
    )
    assert info["vocab_size"] is None and info["reads"] == "vectors"
    x = torch.randn(13, inputs)
    body = {"model": info["name"], "inputs": x.tolist(), "full_precision": True}
    trace = client.post("/api/lstm/trace", json=body)
    assert trace.status_code == 200, trace.text
    with torch.no_grad():
        out, _ = model(torch.tensor(x.tolist())[:, None])
    last = [e for e in trace.json()["layers"] if e["layer"] == layers - 1]
    got = torch.cat([torch.tensor(e["hidden"]) for e in last], dim=1)
    assert torch.allclose(got, out[:, 0], atol=1e-5)


def test_upload_with_embedding_head_and_vocab_traces_text(client: TestClient) -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.lstm = nn.LSTM(4, 6)
            self.out = nn.Linear(6, 5)

    info = upload(
        client, saved(Model().state_dict()), vocab=json.dumps(list("abcd ")), tokenization="char"
    ).json()
    assert info["vocab_size"] == 5 and info["reads"] == "text"
    r = client.post("/api/lstm/trace", json={"model": info["name"], "text": "ab cz", "unit": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tokens"] == list("ab cz") and body["unknown"] == [4]
    assert {p["token"] for row in body["top_next"] for p in row} <= set("abcd ")
    # The same upload again is the same content-addressed name.
    again = upload(client, saved(Model().state_dict()), vocab=json.dumps(list("abcd ")), tokenization="char")
    assert again.json()["name"] != info["name"] or again.json() == info


@pytest.mark.parametrize(
    "data,filename,status,words",
    [
        (b"garbage" * 10, "x.pt", 422, ["not a readable PyTorch file"]),
        (b"", "x.pt", 422, ["empty"]),
        (saved(nn.GRU(3, 4).state_dict()), "gru.pt", 422, ["No nn.LSTM", "GRU"]),
        (saved({"a": torch.zeros(2)}), "x.pt", 422, ["No nn.LSTM", "a [2]"]),
        (b"x", "x.onnx", 422, ["Files of type .onnx are not read here"]),
    ],
)
def test_bad_uploads_are_readable_and_the_server_keeps_working(
    client: TestClient, data: bytes, filename: str, status: int, words: list[str]
) -> None:
    r = upload(client, data, filename)
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.json()["message"]
    assert client.get("/api/health").status_code == 200


def test_upload_size_cap(tmp_path, registry) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(models_dir=tmp_path, upload_dir=tmp_path / "u", max_upload_bytes=1000)
    with TestClient(create_app(settings, registry)) as client:
        r = upload(client, saved(nn.LSTM(8, 16).state_dict()))
        assert r.status_code == 413 and "1,000" in r.json()["message"]


def test_uploads_cannot_be_reached_by_path_tricks(client: TestClient) -> None:
    for name in ("../tiny-char", "upload-../../etc/passwd", "upload-0123456789abcdef"):
        r = client.post("/api/lstm/trace", json={"model": name, "text": "a"})
        assert r.status_code == 404, name


def test_vector_model_rejects_text_and_bad_rows(client: TestClient) -> None:
    name = upload(client, saved(nn.LSTM(3, 4).state_dict())).json()["name"]
    r = client.post("/api/lstm/trace", json={"model": name, "text": "abc"})
    assert r.status_code == 422 and "reads vectors" in r.json()["message"]
    r = client.post("/api/lstm/trace", json={"model": name, "inputs": [[1, 2, 3], [1, 2]]})
    assert (
        r.status_code == 422
        and "row 1 has 2 numbers" in r.json()["message"]
        and "input size is 3" in r.json()["message"]
    )
    r = client.post("/api/lstm/trace", json={"model": name, "inputs": []})
    assert r.status_code == 422 and "empty" in r.json()["message"]


# --- issue 15: uploads priced, files named, fields at fault ------------------------------------


def test_an_upload_traces_up_to_its_max_steps_and_no_further(tmp_path, registry) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(upload_dir=tmp_path / "u", max_response_floats=20_000, upload_min_trace_steps=10)
    with TestClient(create_app(settings, registry)) as client:
        info = upload(client, saved(nn.LSTM(2, 16).state_dict())).json()
        most = info["max_steps"]
        assert 10 <= most < settings.max_trace_chars
        body = {"model": info["name"], "unit": 0}
        assert (
            client.post("/api/lstm/trace", json={**body, "inputs": [[0.5, -0.5]] * most}).status_code == 200
        )
        r = client.post("/api/lstm/trace", json={**body, "inputs": [[0.5, -0.5]] * (most + 1)})
        assert r.status_code == 422 and r.json()["code"] == "over-budget" and r.json()["field"] == "inputs"
        assert r.json()["params"]["most"] == most and f"at most {most} steps" in r.json()["message"]
        big = upload(client, saved(nn.LSTM(2, 400).state_dict()))  # 2,400 numbers a step: < 10 steps
        assert big.status_code == 422 and big.json()["code"] == "over-budget", big.text


def test_a_lightning_checkpoint_lists_what_it_skipped(client: TestClient) -> None:
    ckpt = {
        "epoch": 2,
        "state_dict": {f"model.rnn.{k}": v for k, v in nn.LSTM(3, 4).state_dict().items()},
        "optimizer_states": [{"state": {}}],
    }
    r = upload(client, saved(ckpt), "run.ckpt")
    assert r.status_code == 200, r.text
    assert r.json()["skipped"] == ["epoch (int)", "optimizer_states (list)"]


@pytest.mark.parametrize(
    "filename,status,code",
    [
        ("", 422, "invalid-file-name"),
        ("a" * 300 + ".pt", 422, "invalid-file-name"),
        ("a" * 5000 + ".pt", 400, "invalid-multipart"),
    ],
    ids=["empty", "300 characters", "5000 characters"],
)
def test_file_names_are_checked_and_never_echo_the_file(
    client: TestClient, filename: str, status: int, code: str
) -> None:
    r = upload(client, b"SECRET-BYTES-OF-THE-FILE" * 4, filename)
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert "SECRET" not in r.text and r.json()["message"].endswith(".")


@pytest.mark.parametrize(
    "form,field,code",
    [
        ({"prefix": "nothing"}, "prefix", "unknown-prefix"),
        ({"vocab": '{"a": 10000000}'}, "vocab", "invalid-vocab"),
        ({"vocab": '{"a": 100000000000000000000}'}, "vocab", "invalid-vocab"),
        ({"vocab": '["a", "b"]'}, "vocab", "invalid-vocab"),
        ({"tokenization": "bytes"}, "tokenization", "invalid-value"),
    ],
)
def test_the_field_at_fault_is_named(client: TestClient, form: dict[str, str], field: str, code: str) -> None:
    r = upload(client, saved(nn.LSTM(3, 4).state_dict()), **form)
    assert r.status_code == 422 and (r.json()["field"], r.json()["code"]) == (field, code), r.text


def test_unsafe_files_are_refused_with_our_own_words(client: TestClient) -> None:
    from tests.reliability.hostile_files import zip_bomb

    r = upload(client, zip_bomb(), "bomb.pt")
    assert r.status_code == 422 and r.json()["code"] == "upload-unsafe", r.text
    assert "1,073,741,824 bytes" in r.json()["message"]
    truncated = saved(nn.LSTM(3, 4).state_dict())[:300]
    r = upload(client, truncated, "cut.pt")
    assert r.status_code == 422 and "weights_only=False" not in r.text and r.json()["message"].endswith(".")
