"""The checkpoint format and the registry: every bad file becomes an unavailable model with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.checkpoints import FORMAT_VERSION, CheckpointError, Registry, build_net, load, save
from tests.conftest import tiny_char_lm_checkpoint


def test_round_trip_loads_with_weights_only(tmp_path: Path) -> None:
    ckpt = tiny_char_lm_checkpoint()
    path = save(ckpt, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)  # plain dicts and tensors only
    assert raw["format_version"] == FORMAT_VERSION
    loaded = load(path)
    for key in ("name", "kind", "task", "config", "vocab", "metrics", "history", "provenance"):
        assert loaded[key] == ckpt[key]
    net = build_net(loaded)
    for k, v in net.state_dict().items():
        assert torch.equal(v, ckpt["state_dict"][k])


def test_save_refuses_objects_that_need_pickle(tmp_path: Path) -> None:
    ckpt = tiny_char_lm_checkpoint()
    ckpt["metrics"] = {"when": Path("/x")}
    with pytest.raises(CheckpointError, match="not a plain type"):
        save(ckpt, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def _write_bad(path: Path, kind: str) -> None:
    good = tiny_char_lm_checkpoint()
    if kind == "garbage":
        path.write_bytes(b"this is not a checkpoint at all\x00\xff" * 10)
    elif kind == "truncated":
        save(good, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "wrong-version":
        good["format_version"] = FORMAT_VERSION + 1
        torch.save(good, path)
    elif kind == "missing-keys":
        torch.save({"name": "x", "state_dict": {}}, path)
    elif kind == "not-a-dict":
        torch.save([1, 2, 3], path)
    elif kind == "bad-weights":
        good["state_dict"]["head.weight"] = torch.zeros(3, 3)
        torch.save(good, path)
    elif kind == "unknown-kind":
        good["kind"] = "transformer"
        torch.save(good, path)
    elif kind == "bad-config":
        good["config"] = {"nonsense": 1}
        torch.save(good, path)


BAD_KINDS = [
    "garbage",
    "truncated",
    "empty",
    "wrong-version",
    "missing-keys",
    "not-a-dict",
    "bad-weights",
    "unknown-kind",
    "bad-config",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_raises_readable_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.pt"
    _write_bad(path, kind)
    with pytest.raises(CheckpointError) as err:
        build_net(load(path))
    message = str(err.value)
    assert message and len(message) < 600
    assert "Traceback" not in message


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_registry_keeps_serving_the_others(tmp_path: Path, kind: str) -> None:
    save(tiny_char_lm_checkpoint("good"), tmp_path / "good.pt")
    _write_bad(tmp_path / "bad.pt", kind)
    registry = Registry.from_paths(tmp_path)
    good = registry.get("good")
    assert good is not None and good.available and good.net is not None
    bad = [e for e in registry if e.name != "good"]
    assert len(bad) == 1
    assert not bad[0].available
    assert bad[0].reason and "bad.pt" in bad[0].reason


def test_missing_file_and_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="file not found"):
        load(tmp_path / "nope.pt")
    registry = Registry.from_paths(tmp_path / "no-such-dir", extra=[tmp_path / "nope.pt"])
    (entry,) = list(registry)
    assert not entry.available and "file not found" in (entry.reason or "")


def test_duplicate_names_keep_the_first(tmp_path: Path) -> None:
    save(tiny_char_lm_checkpoint("same"), tmp_path / "a.pt")
    save(tiny_char_lm_checkpoint("same"), tmp_path / "b.pt")
    registry = Registry.from_paths(tmp_path)
    first = registry.get("same")
    assert first is not None and first.available and first.path is not None and first.path.name == "a.pt"
    others = [e for e in registry if e is not first]
    assert len(others) == 1 and not others[0].available and "duplicate" in (others[0].reason or "")


def test_wrong_version_reason_says_how_to_fix(tmp_path: Path) -> None:
    _write_bad(tmp_path / "old.pt", "wrong-version")
    (entry,) = list(Registry.from_paths(tmp_path))
    assert "recurrent-lens train" in (entry.reason or "")


def test_a_pickle_with_code_is_refused_by_name_and_never_runs(tmp_path: Path) -> None:
    import os

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    ckpt = tiny_char_lm_checkpoint()
    ckpt["metrics"] = {"x": Evil()}
    torch.save(ckpt, tmp_path / "evil.pt")
    (entry,) = list(Registry.from_paths(tmp_path))
    assert not entry.available
    assert "system" in (entry.reason or "") and "weights_only=True" in (entry.reason or "")
    assert not marker.exists()
