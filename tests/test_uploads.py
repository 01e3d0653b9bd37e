"""Bring your own LSTM: safe reading, LSTM detection, shape checks, and the upload store."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors
from torch import nn

from app.checkpoints import Registry, entry_from_checkpoint
from app.uploads import UploadError, UploadStore, find_lstms, read_weights, user_checkpoint


def pt_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class CharModel(nn.Module):
    def __init__(self, vocab: int = 7, embed: int = 5, hidden: int = 6) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, 2)
        self.fc = nn.Linear(hidden, vocab)


class Marker:
    """A pickle that would create a file when unpickled with full pickle."""

    path = ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {Marker.path}",))


def test_plain_lstm_state_dict_and_safetensors_give_the_same_weights() -> None:
    lstm = nn.LSTM(3, 4, 2, bidirectional=True)
    a = read_weights(pt_bytes(lstm.state_dict()), "m.pt")
    b = read_weights(
        save_safetensors({k: v.contiguous() for k, v in lstm.state_dict().items()}), "m.safetensors"
    )
    assert a.keys() == b.keys() == lstm.state_dict().keys()
    (found,) = find_lstms(a)
    assert (
        found.prefix,
        found.input_size,
        found.hidden_size,
        found.num_layers,
        found.bidirectional,
        found.bias,
    ) == (
        "",
        3,
        4,
        2,
        True,
        True,
    )


def test_module_state_dict_under_a_prefix_with_embedding_and_head() -> None:
    model = CharModel()
    weights = read_weights(pt_bytes({"epoch": 3, "model_state_dict": model.state_dict()}), "ckpt.pth")
    vocab = json.dumps(list("abcdefg")).encode()
    ckpt = user_checkpoint(weights, "upload-0000000000000000", "ckpt.pth", vocab_json=vocab)
    assert ckpt["config"] == {
        "input_size": 5,
        "hidden_size": 6,
        "num_layers": 2,
        "bidirectional": False,
        "bias": True,
        "vocab_size": 7,
        "embedding": True,
        "output_size": 7,
        "head_bias": True,
    }
    entry = entry_from_checkpoint(ckpt, None)
    assert entry.available, entry.reason
    assert torch.equal(entry.net.embed.weight, model.embedding.weight)  # type: ignore[union-attr]
    assert torch.equal(entry.net.head.weight, model.fc.weight)  # type: ignore[union-attr]


def test_several_lstms_need_a_prefix() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.LSTM(3, 4)
            self.decoder = nn.LSTM(4, 5)

    weights = read_weights(pt_bytes(Two().state_dict()), "two.pt")
    with pytest.raises(UploadError, match="several LSTMs.*decoder.*encoder"):
        user_checkpoint(weights, "upload-0000000000000000", "two.pt")
    ckpt = user_checkpoint(weights, "upload-0000000000000000", "two.pt", prefix="decoder")
    assert ckpt["config"]["hidden_size"] == 5 and ckpt["config"]["input_size"] == 4
    with pytest.raises(UploadError, match="no LSTM under prefix 'middle'"):
        user_checkpoint(weights, "upload-0000000000000000", "two.pt", prefix="middle")


def test_shape_mismatch_names_both_sizes() -> None:
    sd = nn.LSTM(10, 128).state_dict()
    sd["weight_hh_l0"] = torch.zeros(512, 100)
    with pytest.raises(UploadError) as err:
        find_lstms(sd)
    assert str(err.value) == "weight_hh_l0 is [512, 100], but hidden size 128 needs [512, 128]"
    sd = nn.LSTM(10, 8, 2).state_dict()
    del sd["bias_hh_l1"]
    with pytest.raises(UploadError, match="bias_hh_l1 is missing"):
        find_lstms(sd)


def test_non_lstm_checkpoint_lists_what_was_found() -> None:
    weights = read_weights(pt_bytes(nn.GRU(3, 4).state_dict()), "gru.pt")
    with pytest.raises(UploadError) as err:
        user_checkpoint(weights, "upload-0000000000000000", "gru.pt")
    message = str(err.value)
    assert "no nn.LSTM weights found" in message and "weight_ih_l0 [12, 3]" in message


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    Marker.path = str(tmp_path / "pwned")
    data = pt_bytes({"weight_ih_l0": Marker()})
    with pytest.raises(UploadError, match="refused"):
        read_weights(data, "evil.pt")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "data,name,words",
    [
        (b"\x00\x01garbage" * 50, "x.pt", "not a readable PyTorch file"),
        (b"not safetensors", "x.safetensors", "not a valid .safetensors"),
        (b"whatever", "x.onnx", "unsupported file type .onnx"),
        (pt_bytes(torch.zeros(3)), "x.pt", "a single tensor [3]"),
        (pt_bytes([1, 2]), "x.pt", "holds a list"),
    ],
)
def test_unreadable_files_get_a_reason(data: bytes, name: str, words: str) -> None:
    with pytest.raises(UploadError, match=words.replace("[", r"\[").replace("]", r"\]")):
        read_weights(data, name)


def test_vocabulary_forms_and_mismatches() -> None:
    weights = dict(CharModel().state_dict())
    as_dict = json.dumps({t: i for i, t in enumerate("gfedcba")}).encode()
    ckpt = user_checkpoint(weights, "upload-0000000000000000", "m.pt", vocab_json=as_dict)
    assert ckpt["vocab"]["tokens"] == list("gfedcba")
    with pytest.raises(
        UploadError, match="vocabulary has 3 tokens, but embedding embedding.weight is \\[7, 5\\]"
    ):
        user_checkpoint(weights, "upload-0000000000000000", "m.pt", vocab_json=b'["a", "b", "c"]')
    with pytest.raises(UploadError, match="not valid JSON"):
        user_checkpoint(weights, "upload-0000000000000000", "m.pt", vocab_json=b"{nope")
    one_hot = nn.LSTM(4, 3).state_dict()
    ckpt = user_checkpoint(one_hot, "upload-0000000000000000", "m.pt", vocab_json=b'["w", "x", "y", "z"]')
    assert ckpt["config"]["one_hot"] is True


def test_store_names_paths_and_lru_budget(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "up", budget_bytes=10**9)
    for bad in (
        "../etc/passwd",
        "shakespeare-char",
        "upload-../../x",
        "upload-XYZ",
        "upload-0123456789abcdef/x",
    ):
        assert store.path_for(bad) is None
    weights = nn.LSTM(3, 4).state_dict()
    paths = []
    for i in range(3):
        name = store.name_for(str(i).encode())
        paths.append(store.put(user_checkpoint(dict(weights), name, "m.pt")))
        os.utime(paths[-1], (1000 + i, 1000 + i))
    assert all(p.parent == tmp_path / "up" for p in paths)
    store.load(store.name_for(b"0"))  # touching the oldest makes it the most recent
    size = paths[0].stat().st_size
    store.budget_bytes = 2 * size
    removed = store.evict()
    assert removed == [paths[1]]
    assert paths[0].exists() and paths[2].exists()


def test_serve_model_flag_accepts_a_users_own_file(tmp_path: Path) -> None:
    model = CharModel()
    torch.save(model.state_dict(), tmp_path / "mine.pt")
    (tmp_path / "mine.vocab.json").write_text(json.dumps(list("abcdefg")))
    (tmp_path / "series.safetensors").write_bytes(
        save_safetensors({k: v.contiguous() for k, v in nn.LSTM(2, 3).state_dict().items()})
    )
    (tmp_path / "junk.pt").write_bytes(b"junk")
    registry = Registry.from_paths(
        None, [tmp_path / "mine.pt", tmp_path / "series.safetensors", tmp_path / "junk.pt"]
    )
    mine, series, junk = registry.get("mine"), registry.get("series"), registry.get("junk")
    assert mine is not None and mine.available and mine.kind == "lstm"
    assert len(mine.checkpoint["vocab"]["tokens"]) == 7
    assert series is not None and series.available and series.checkpoint["config"]["input_size"] == 2
    assert junk is not None and not junk.available and "junk.pt" in (junk.reason or "")
