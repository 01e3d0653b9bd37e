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
    with pytest.raises(UploadError, match="several LSTMs.*decoder.*encoder") as err:
        user_checkpoint(weights, "upload-0000000000000000", "two.pt")
    assert (err.value.field, err.value.code, err.value.choices) == (
        "prefix",
        "ambiguous-prefix",
        ["decoder", "encoder"],
    )
    ckpt = user_checkpoint(weights, "upload-0000000000000000", "two.pt", prefix="decoder")
    assert ckpt["config"]["hidden_size"] == 5 and ckpt["config"]["input_size"] == 4
    with pytest.raises(UploadError, match="no LSTM under the prefix 'middle'") as err:
        user_checkpoint(weights, "upload-0000000000000000", "two.pt", prefix="middle")
    assert (err.value.field, err.value.code) == ("prefix", "unknown-prefix")


def test_shape_mismatch_names_both_sizes() -> None:
    sd = nn.LSTM(10, 128).state_dict()
    sd["weight_hh_l0"] = torch.zeros(512, 100)
    with pytest.raises(UploadError) as err:
        find_lstms(sd)
    assert str(err.value) == "weight_hh_l0 is [512, 100], but hidden size 128 needs [512, 128]."
    assert err.value.code == "shape-mismatch"
    sd = nn.LSTM(10, 8, 2).state_dict()
    del sd["bias_hh_l1"]
    with pytest.raises(UploadError, match="bias_hh_l1 is missing"):
        find_lstms(sd)


def test_non_lstm_checkpoint_lists_what_was_found() -> None:
    weights = read_weights(pt_bytes(nn.GRU(3, 4).state_dict()), "gru.pt")
    with pytest.raises(UploadError) as err:
        user_checkpoint(weights, "upload-0000000000000000", "gru.pt")
    message = str(err.value)
    assert "No nn.LSTM weights were found" in message and "weight_ih_l0 [12, 3]" in message
    assert "nn.GRU" in message and err.value.code == "no-recurrent-layer"


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
        (b"whatever", "x.onnx", "Files of type .onnx are not read here"),
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
        UploadError, match="vocabulary has 3 tokens, but the embedding embedding.weight is \\[7, 5\\], 7 rows"
    ) as err:
        user_checkpoint(weights, "upload-0000000000000000", "m.pt", vocab_json=b'["a", "b", "c"]')
    assert (err.value.field, err.value.code) == ("vocab", "invalid-vocab")
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


# --- vocabularies: validated before anything is allocated -------------------------------------

TINY = dict(CharModel().state_dict())  # embedding 7 × 5


def vocab_error(raw: bytes, weights: dict[str, torch.Tensor] | None = None) -> UploadError:
    with pytest.raises(UploadError) as err:
        user_checkpoint(weights or TINY, "upload-0000000000000000", "m.pt", vocab_json=raw)
    assert err.value.field == "vocab", err.value
    assert err.value.code in ("invalid-vocab", "empty"), err.value.code
    return err.value


@pytest.mark.parametrize(
    "raw,words",
    [
        (b'{"a": 10000000}', ["10,000,000", "7 rows", "0 to 6"]),
        (b'{"a": 100000000000000000000}', ["'a'", "7 rows"]),
        (b'{"a": 1e20}', ["1e+20", "whole number"]),
        (b'{"a": -1}', ["negative index -1"]),
        (b'{"a": true}', ["a bool", "whole number"]),
        (b'{"a": "3"}', ["a str", "whole number"]),
        (b'{"a": 0, "b": 0}', ["index 0 to two tokens", "'a'", "'b'"]),
        (b'["a", "b", "a", "c", "d", "e", "f"]', ["'a' twice"]),
        (b'["a", 2, "c"]', ["entry 1"]),
        (b'["a", "b", "c"]', ["3 tokens", "7 rows"]),
        (b'{"a": 0, "b": 3}', ["largest index is 3", "7 rows"]),
        (b"[]", ["empty"]),
        (b"42", ["JSON list of tokens"]),
        (b"{nope", ["not valid JSON", "line 1"]),
        (b"\xff\xfe", ["not UTF-8"]),
        (b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),
        (b'{"tokens": ["a"], "tokenization": "bytes"}', ["whitespace", "characters"]),
        (b'{"tokens": ["a"], "unk": "<unk>"}', ["unk '<unk>' is not one of its tokens"]),
        (b'{"tokens": ["a"], "unk": 3}', ["unk must be a string"]),
        (b'{"tokens": ["a"], "extra": 1}', ["'extra'"]),
    ],
)
def test_bad_vocabularies_are_refused_naming_vocab(raw: bytes, words: list[str]) -> None:
    message = str(vocab_error(raw))
    assert message.endswith(".") and message[0].isupper(), message
    for word in words:
        assert word in message, (word, message)


def test_a_vocabulary_naming_ten_million_rows_allocates_nothing() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        vocab_error(b'{"a": 10000000}')
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak / 2**20:.1f} MB traced"  # a list of 10⁷ slots would be 80 MB


def test_the_object_form_carries_tokenization_and_unk() -> None:
    tokens = ["<unk>", "the", "cat", "sat", "on", "mat", "a"]
    raw = json.dumps({"tokens": tokens, "tokenization": "whitespace", "unk": "<unk>"}).encode()
    ckpt = user_checkpoint(TINY, "upload-0000000000000000", "m.pt", vocab_json=raw, tokenization="char")
    assert ckpt["vocab"] == {"tokens": tokens, "level": "word", "specials": {"unk": "<unk>"}}
    mapping = json.dumps({"tokens": {t: i for i, t in enumerate(tokens)}, "tokenization": "characters"})
    ckpt = user_checkpoint(TINY, "upload-0000000000000000", "m.pt", vocab_json=mapping.encode())
    assert ckpt["vocab"]["level"] == "char" and ckpt["vocab"]["specials"] == {"unk": "<unk>"}


# --- files: Lightning, .bin, numpy scalars, legacy and hostile formats --------------------------


def test_lightning_checkpoint_with_numpy_scalars_is_read_and_the_rest_listed() -> None:
    import numpy as np

    from app.config import Settings
    from app.uploads import prepare

    model = CharModel()
    ckpt = {
        "epoch": 3,
        "global_step": 1200,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "best_score": np.float64(1.25),
        "lr": np.float32(0.001),
        "steps": np.int64(7),
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.001}]}],
    }
    before = set(map(repr, torch.serialization.get_safe_globals()))
    for suffix in (".ckpt", ".bin", ".pt"):
        prepared = prepare(pt_bytes(ckpt), f"run{suffix}", "upload-0000000000000000", Settings())
        assert prepared.checkpoint["config"]["hidden_size"] == 6
        assert torch.equal(prepared.checkpoint["state_dict"]["embed.weight"], model.embedding.weight)
        assert set(prepared.skipped) >= {
            "epoch (int)",
            "best_score (numpy.float64)",
            "lr (numpy.float32)",
            "steps (numpy.int64)",
            "optimizer_states (list)",
        }
    assert set(map(repr, torch.serialization.get_safe_globals())) == before  # scoped to our loads


def test_numpy_arrays_and_code_are_refused_by_name() -> None:
    import numpy as np

    for obj, name in (({"w": torch.zeros(2), "a": np.zeros(3)}, "numpy"), ({"w": Marker()}, "system")):
        with pytest.raises(UploadError) as err:
            read_weights(pt_bytes(obj), "x.pt")
        assert err.value.code == "upload-unsafe" and name in str(err.value)
        assert "weights_only=False" not in str(err.value)


def test_legacy_and_bare_pickles_are_refused_with_a_reason() -> None:
    import pickle

    buf = io.BytesIO()
    torch.save(nn.LSTM(2, 3).state_dict(), buf, _use_new_zipfile_serialization=False)
    for data, words in ((buf.getvalue(), "legacy format"), (pickle.dumps({"a": 1}), "bare pickle")):
        with pytest.raises(UploadError, match=words) as err:
            read_weights(data, "old.pt")
        assert err.value.code == "upload-unsafe"


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda d: (2**40).to_bytes(8, "little") + d[8:], "header claims"),
        (lambda d: d[: len(d) // 2], "does not hold"),
        (lambda d: d.replace(b'"F32"', b'"X99"', 1), "no dtype"),
        (lambda d: d[:5], "shorter than"),
    ],
)
def test_safetensors_headers_are_checked_against_the_file(mutate, words: str) -> None:  # type: ignore[no-untyped-def]
    data = save_safetensors({k: v.contiguous() for k, v in nn.LSTM(3, 4).state_dict().items()})
    with pytest.raises(UploadError, match=words):
        read_weights(mutate(data), "m.safetensors")


def test_safetensors_declaring_more_than_the_limit_is_refused() -> None:
    from app.config import Settings

    data = save_safetensors({"weight_ih_l0": torch.zeros(64, 64)})
    with pytest.raises(UploadError, match="declares 16,384 bytes of tensors, but the limit is 1,000") as err:
        read_weights(data, "m.safetensors", Settings(max_upload_unpacked_bytes=1000))
    assert err.value.code == "upload-unsafe"


# --- prices: limits on layers, hidden size, parameters and the worst trace --------------------


def test_upload_prices_name_each_limit() -> None:
    from app.config import Settings
    from app.uploads import check_price

    def config(hidden: int, layers: int = 1, inputs: int = 1, bi: bool = False) -> dict[str, object]:
        return {"input_size": inputs, "hidden_size": hidden, "num_layers": layers, "bidirectional": bi}

    settings = Settings()
    assert check_price(config(128), settings) == settings.max_trace_chars
    wide = check_price(config(1024), settings)  # the reported nn.LSTM(1, 1024): traced, but not 2000 rows
    assert settings.upload_min_trace_steps <= wide < settings.max_trace_chars
    for cfg, code, words in (
        (config(2, layers=17), "model-too-large", "17 recurrent layers"),
        (config(4096), "model-too-large", "4,096 hidden units per layer"),
        (config(2000, inputs=2000), "model-too-large", "parameters"),
        (config(1024, layers=4, bi=True, inputs=1024), "model-too-large", "parameters"),
    ):
        with pytest.raises(UploadError, match=words) as err:
            check_price(cfg, settings)
        assert err.value.code == code
    tight = Settings(max_response_floats=100_000)
    with pytest.raises(UploadError, match="could trace only") as err:
        check_price(config(1024), tight)
    assert err.value.code == "over-budget" and err.value.params["most"] < tight.upload_min_trace_steps


def test_reported_hostile_uploads_are_refused_before_anything_is_allocated() -> None:
    """The deep and wide LSTMs, the 1 GiB zip bomb and a pickle bomb, measured in a fresh process:
    each refusal (or, for the wide LSTM, acceptance) comes before the memory it names is used."""
    import subprocess
    import sys

    from app.config import REPO_ROOT

    script = """
import json, tempfile
from pathlib import Path
from tests.reliability.hostile_files import deep_lstm, pickle_bomb, wide_lstm, zip_bomb
from app.checkpoints import entry_from_checkpoint
from app.config import Settings
from app.uploads import UploadError, UploadStore, prepare

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024

settings = Settings(upload_dir=Path(tempfile.mkdtemp()))
store = UploadStore(settings.upload_dir, settings.upload_budget_bytes)
out = {}
for name, make, filename in (
    ("zip bomb", zip_bomb, "bomb.pt"),
    ("pickle bomb", pickle_bomb, "bomb.pt"),
    ("deep", deep_lstm, "deep.safetensors"),
    ("wide", wide_lstm, "wide.safetensors"),
):
    data = make()
    rss = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak counts from here
    try:
        prepared = prepare(data, filename, "upload-0000000000000000", settings)
        entry_from_checkpoint(prepared.checkpoint, None)
        store.put(prepared.checkpoint)
        result = "accepted"
    except UploadError as exc:
        result = exc.code
    out[name] = {"peak_mb": status("VmHWM") - rss, "result": result, "file_mb": len(data) / 2**20}
print(json.dumps(out))
"""
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["zip bomb"]["result"] == "upload-unsafe"
    assert figures["pickle bomb"]["result"] == "upload-unsafe"
    assert figures["deep"]["result"] == "model-too-large"
    assert figures["wide"]["result"] == "accepted"
    for name, fig in figures.items():
        assert fig["peak_mb"] <= 256, (name, fig)  # the budget: ≤ 256 MB extra per upload
    assert figures["zip bomb"]["peak_mb"] < 64, figures  # not the 1 GiB it would inflate to
