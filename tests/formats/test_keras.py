"""The Keras reader without Keras: the layout mapping pinned block by block, Keras 2 files (which
Keras 3 cannot write) against a numpy reference written from Keras 2's equations, and files
built by hand (tests/formats/keras_files.py). Hostile files are in test_keras_hostile.py; files
written by Keras itself in test_keras_equal.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.formats import keras as reader
from app.formats.base import FormatError, Limits
from app.nets.keras_cells import KerasRecurrent
from tests.formats.keras_files import keras3_archive, keras3_weights, layer, legacy_h5, rnn, sequential

LIMITS = Limits(max_unpacked_bytes=2**24, max_layers=4, max_hidden=64, max_params=100_000)
I, H = 3, 2  # noqa: E741 (input width and units, as in the Keras layout's names)


def _blocks(gates: int, hot: int, rows: int) -> np.ndarray:
    """A (rows, gates·H) Keras kernel that is 0 except block ``hot``, which is k + 1 at row k."""
    kernel = np.zeros((rows, gates * H), np.float32)
    kernel[:, hot * H : (hot + 1) * H] = np.arange(1, rows + 1, dtype=np.float32)[:, None]
    return kernel


@pytest.mark.parametrize("hot", range(4))
def test_lstm_blocks_i_f_c_o_are_torchs_i_f_g_o(hot: int) -> None:
    mapped = reader.map_recurrent(
        "lstm", torch.tensor(_blocks(4, hot, I)), torch.tensor(_blocks(4, hot, H)), torch.arange(8.0)
    )
    for block in range(4):
        rows = mapped["weight_ih"][block * H : (block + 1) * H]  # (H, I)
        expected = torch.arange(1.0, I + 1).expand(H, I) if block == hot else torch.zeros(H, I)
        assert torch.equal(rows, expected), block
        assert torch.equal(mapped["weight_hh"][block * H : (block + 1) * H].any(), torch.tensor(block == hot))
    assert torch.equal(mapped["bias_ih"], torch.arange(8.0)) and not mapped["bias_hh"].any()


@pytest.mark.parametrize(("keras_block", "torch_block"), [(0, 1), (1, 0), (2, 2)])  # z → 1, r → 0, h → 2
def test_gru_blocks_z_r_h_become_torchs_r_z_n(keras_block: int, torch_block: int) -> None:
    bias = torch.zeros(2, 3 * H)
    bias[0, keras_block * H : (keras_block + 1) * H] = 5.0  # input bias of that block
    bias[1, keras_block * H : (keras_block + 1) * H] = 7.0  # recurrent bias of that block
    kernel = torch.tensor(_blocks(3, keras_block, I))
    mapped = reader.map_recurrent(
        "gru", kernel, torch.tensor(_blocks(3, keras_block, H)), bias, reset_after=True
    )
    for block in range(3):
        rows = slice(block * H, (block + 1) * H)
        hot = block == torch_block
        assert torch.equal(
            mapped["weight_ih"][rows], kernel[:, keras_block * H : (keras_block + 1) * H].t() * hot
        )
        assert bool(mapped["weight_hh"][rows].any()) == hot
        assert torch.equal(mapped["bias_ih"][rows], torch.full((H,), 5.0 * hot))
        assert torch.equal(mapped["bias_hh"][rows], torch.full((H,), 7.0 * hot))
    # reset_after=False: one (3H,) bias, all of it input bias.
    single = reader.map_recurrent("gru", kernel, kernel[:H], bias[0], reset_after=False)
    assert torch.equal(single["bias_ih"][torch_block * H : (torch_block + 1) * H], torch.full((H,), 5.0))
    assert not single["bias_hh"].any()


def test_simple_rnn_kernel_is_transposed_and_dense_too() -> None:
    kernel, rk = torch.arange(6.0).reshape(I, H), torch.arange(4.0).reshape(H, H)
    mapped = reader.map_recurrent("simple_rnn", kernel, rk, None)
    assert torch.equal(mapped["weight_ih"], kernel.t()) and torch.equal(mapped["weight_hh"], rk.t())
    assert set(mapped) == {"weight_ih", "weight_hh"}


def _gru_file(reset_after: bool, **config: object) -> tuple[bytes, dict[str, np.ndarray]]:
    """A .keras archive of a 1-unit GRU on 1 input with every weight distinct, set by hand."""
    values = {
        "kernel": np.array([[0.5, -1.0, 2.0]], np.float32),  # z, r, h
        "recurrent_kernel": np.array([[0.25, 0.75, -0.5]], np.float32),
        "bias": np.array([[0.1, 0.2, 0.3], [-0.4, 0.6, -0.2]], np.float32)
        if reset_after
        else np.array([0.1, 0.2, 0.3], np.float32),
    }
    config = sequential(
        layer("InputLayer", name="input_layer", batch_shape=[None, None, 1]),
        rnn("GRU", "gru", 1, reset_after=reset_after, **config),
    )
    arrays = {f"layers/gru/cell/vars/{k}": v for k, v in enumerate(values.values())}
    return keras3_archive(config, keras3_weights(arrays)), values


@pytest.mark.parametrize("reset_after", [True, False])
def test_a_hand_set_gru_traces_keras_equations(reset_after: bool) -> None:
    """Through the whole reader: names, blocks, and two steps computed here from the Keras layout."""
    data, v = _gru_file(reset_after)
    kf = reader.load(data, LIMITS)
    stage = kf.net["stages"][0]["module"]
    assert stage["module"] == ("GRU" if reset_after else "KerasRecurrent")
    assert torch.equal(kf.tensors["stages.0.weight_ih_l0"], torch.tensor([[-1.0], [0.5], [2.0]]))  # r, z, n
    assert torch.equal(kf.tensors["stages.0.weight_hh_l0"], torch.tensor([[0.75], [0.25], [-0.5]]))
    xs = [1.5, -0.7]
    tr = kf.module().trace(torch.tensor(xs)[:, None])
    k, u = v["kernel"][0], v["recurrent_kernel"][0]
    b_in, b_rec = (v["bias"][0], v["bias"][1]) if reset_after else (v["bias"], np.zeros(3))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h = 0.0
    d = tr.stages[0].trace.layers[0][0]
    for t, x in enumerate(xs):
        z = sig(x * k[0] + b_in[0] + h * u[0] + b_rec[0])
        r = sig(x * k[1] + b_in[1] + h * u[1] + b_rec[1])
        if reset_after:
            hh = np.tanh(x * k[2] + b_in[2] + r * (h * u[2] + b_rec[2]))
        else:
            hh = np.tanh(x * k[2] + b_in[2] + (r * h) * u[2])
        h = z * h + (1 - z) * hh
        assert d.update[t, 0].item() == pytest.approx(z, abs=1e-6)
        assert d.reset[t, 0].item() == pytest.approx(r, abs=1e-6)
        assert d.candidate[t, 0].item() == pytest.approx(hh, abs=1e-6)
        assert d.hidden[t, 0].item() == pytest.approx(h, abs=1e-6)
    assert kf.layers == [kf.net["stages"][0]["layers"][0]]  # the InputLayer is not one
    assert kf.layers[0]["reset_after"] is reset_after and kf.layers[0]["units"] == 1


def _keras2_reference(x: np.ndarray, kernel: np.ndarray, rk: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras 2's GRU, reset_after=False, recurrent_activation hard_sigmoid = clip(0.2x + 0.5, 0, 1)
    (keras 2.x backend.hard_sigmoid), in Keras's layout (blocks z, r, h), float64."""
    hard = lambda a: np.clip(0.2 * a + 0.5, 0, 1)  # noqa: E731
    units = rk.shape[0]
    h, out = np.zeros(units), []
    for xt in x:
        mx = xt @ kernel + bias
        z = hard(mx[:units] + h @ rk[:, :units])
        r = hard(mx[units : 2 * units] + h @ rk[:, units : 2 * units])
        hh = np.tanh(mx[2 * units :] + (r * h) @ rk[:, 2 * units :])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.array(out)


def _keras2_gru(version: str = "2.4.0", with_config: bool = True) -> tuple[bytes, dict, list]:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    units = 4
    weights = [
        ("gru/gru_cell/kernel:0", rng.normal(0, 1.2, (3, 3 * units)).astype(np.float32)),
        ("gru/gru_cell/recurrent_kernel:0", rng.normal(0, 1.2, (units, 3 * units)).astype(np.float32)),
        ("gru/gru_cell/bias:0", rng.normal(0, 0.5, (3 * units,)).astype(np.float32)),
    ]
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                layer("InputLayer", True, batch_input_shape=[None, None, 3], dtype="float32", name="input_1"),
                rnn("GRU", "gru", units, True, recurrent_activation="hard_sigmoid", reset_after=False),
            ],
        },
    }
    data = legacy_h5(config if with_config else None, [("gru", weights)], version)
    return data, config, weights


def test_a_keras2_h5_with_hard_sigmoid_is_read_with_keras2s_function() -> None:
    data, _, weights = _keras2_gru()
    kf = reader.load(data, LIMITS)
    assert kf.format == "h5" and kf.keras_version == "2.4.0"
    assert kf.layers[0]["recurrent_activation"] == "hard_sigmoid"
    assert kf.layers[0]["computes"]["recurrent_activation"] == "hard_sigmoid_keras2"
    net = kf.module()
    assert isinstance(net.stages[0], KerasRecurrent) and net.stages[0].mode == "KERAS_GRU_RESET_BEFORE"
    x = np.random.default_rng(1).normal(0, 1.5, (9, 3))
    tr = net.trace(torch.tensor(x, dtype=torch.float32))
    expected = _keras2_reference(x, *(w for _, w in weights))
    assert np.allclose(tr.stages[0].output.numpy(), expected, atol=1e-5)
    assert tr.stages[0].trace.kind == "gru_reset_before"
    # The same weights read as a Keras 3 file would compute another function (x/6 + 1/2).
    data3, _, _ = _keras2_gru(version="3.3.0")
    other = reader.load(data3, LIMITS).module().trace(torch.tensor(x, dtype=torch.float32))
    assert not np.allclose(other.stages[0].output.numpy(), expected, atol=1e-3)


def test_a_keras2_weights_file_needs_its_config() -> None:
    import json

    data, config, weights = _keras2_gru(with_config=False)
    with pytest.raises(FormatError, match="holds weights only") as err:
        reader.load(data, LIMITS)
    assert err.value.code == "missing" and err.value.params == {"field": "config"}
    kf = reader.load(data, LIMITS, config=json.dumps({**config, "keras_version": "2.4.0"}).encode())
    assert kf.format == "h5 weights" and kf.keras_version == "2.4.0"
    x = np.random.default_rng(2).normal(0, 1, (5, 3))
    out = kf.module().trace(torch.tensor(x, dtype=torch.float32)).stages[0].output.numpy()
    assert np.allclose(out, _keras2_reference(x, *(w for _, w in weights)), atol=1e-5)
    # The file's own keras_version attribute decides when the config names none.
    assert reader.load(data, LIMITS, config=json.dumps(config).encode()).keras_version == "2.4.0"


def test_an_old_gru_without_reset_after_in_its_config_is_told_by_its_bias() -> None:
    data, config, weights = _keras2_gru()
    del config["config"]["layers"][1]["config"]["reset_after"]
    kf = reader.load(legacy_h5(config, [("gru", weights)]), LIMITS)
    assert kf.layers[0]["reset_after"] is False
    two = [(n, np.stack([w, w]) if n.endswith("bias:0") else w) for n, w in weights]
    assert reader.load(legacy_h5(config, [("gru", two)]), LIMITS).layers[0]["reset_after"] is True
    config["config"]["layers"][1]["config"]["reset_after"] = True  # the config and the bias disagree
    with pytest.raises(FormatError, match=r"bias of layer 'gru' \(GRU\) is \(12,\), but .* needs \(2, 12\)"):
        reader.load(legacy_h5(config, [("gru", weights)]), LIMITS)


def test_inspect_reads_no_data_and_load_the_same_names() -> None:
    data, _ = _gru_file(False)
    shape, full = reader.inspect(data, LIMITS), reader.load(data, LIMITS)
    assert all(t.device.type == "meta" for t in shape.tensors.values())
    assert {k: tuple(v.shape) for k, v in shape.tensors.items()} == {
        k: tuple(v.shape) for k, v in full.tensors.items()
    }
    assert shape.net == full.net


def test_stacked_layers_of_one_kind_become_one_module() -> None:
    """LSTM(2) → LSTM(2) → LSTM(3): the first two are one 2-layer nn.LSTM, the third its own."""
    rng = np.random.default_rng(3)
    arrays, layers, width = {}, [], I
    for k, (units, name) in enumerate([(2, "lstm"), (2, "lstm_1"), (3, "lstm_2")]):
        layers.append(rnn("LSTM", f"l{k}", units))
        arrays[f"layers/{name}/cell/vars/0"] = rng.normal(size=(width, 4 * units)).astype(np.float32)
        arrays[f"layers/{name}/cell/vars/1"] = rng.normal(size=(units, 4 * units)).astype(np.float32)
        arrays[f"layers/{name}/cell/vars/2"] = rng.normal(size=(4 * units,)).astype(np.float32)
        width = units
    kf = reader.load(keras3_archive(sequential(*layers), keras3_weights(arrays)), LIMITS)
    stages = kf.net["stages"]
    assert [s["module"]["num_layers"] for s in stages] == [2, 1]
    assert [[layer["name"] for layer in s["layers"]] for s in stages] == [["l0", "l1"], ["l2"]]
    assert torch.equal(
        kf.tensors["stages.0.weight_ih_l1"], torch.tensor(arrays["layers/lstm_1/cell/vars/0"]).t()
    )


def test_a_keras2_functional_bidirectional_lstm_with_hard_sigmoid() -> None:
    """Keras 2's functional form (inbound_nodes as [[name, node, index, kwargs]]), its
    Bidirectional weight names (forward_lstm/…, backward_lstm/…) and its LSTM with hard_sigmoid,
    against Keras 2's equations in Keras's layout (blocks i, f, c, o), backward reading t+1."""
    rng = np.random.default_rng(4)
    units, width = 3, 2
    hard = lambda a: np.clip(0.2 * a + 0.5, 0, 1)  # noqa: E731
    sides = {}
    for side in ("forward", "backward"):
        sides[side] = [
            rng.normal(0, 1.2, (width, 4 * units)).astype(np.float32),
            rng.normal(0, 1.2, (units, 4 * units)).astype(np.float32),
            rng.normal(0, 0.5, (4 * units,)).astype(np.float32),
        ]
    dense = [rng.normal(0, 1, (2 * units, 2)).astype(np.float32), rng.normal(0, 1, (2,)).astype(np.float32)]
    lstm = rnn("LSTM", "lstm", units, True, recurrent_activation="hard_sigmoid", unit_forget_bias=True)
    config = {
        "class_name": "Model",
        "config": {
            "name": "model_1",
            "layers": [
                {
                    "name": "input_1",
                    "class_name": "InputLayer",
                    "config": {"name": "input_1"},
                    "inbound_nodes": [],
                },
                {
                    "name": "bidirectional_1",
                    "class_name": "Bidirectional",
                    "config": {"name": "bidirectional_1", "layer": lstm, "merge_mode": "concat"},
                    "inbound_nodes": [[["input_1", 0, 0, {}]]],
                },
                {
                    "name": "dense_1",
                    "class_name": "Dense",
                    "config": {"name": "dense_1", "units": 2, "activation": "softmax", "use_bias": True},
                    "inbound_nodes": [[["bidirectional_1", 0, 0, {}]]],
                },
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense_1", 0, 0]],
        },
    }
    names = ("kernel", "recurrent_kernel", "bias")
    weights = [
        (f"bidirectional_1/{side}_lstm_1/{name}:0", array)
        for side in ("forward", "backward")
        for name, array in zip(names, sides[side], strict=True)
    ]
    data = legacy_h5(
        config,
        [
            ("input_1", []),
            ("bidirectional_1", weights),
            ("dense_1", [("dense_1/kernel:0", dense[0]), ("dense_1/bias:0", dense[1])]),
        ],
        version="2.2.4",
    )
    x = rng.normal(0, 1.5, (6, width))

    def run(kernel: np.ndarray, rk: np.ndarray, bias: np.ndarray, steps: list[int]) -> np.ndarray:
        h, c, out = np.zeros(units), np.zeros(units), np.zeros((len(x), units))
        for t in steps:
            z = x[t] @ kernel + h @ rk + bias
            i, f, g, o = (
                hard(z[:units]),
                hard(z[units : 2 * units]),
                np.tanh(z[2 * units : 3 * units]),
                hard(z[3 * units :]),
            )
            c = f * c + i * g
            h = out[t] = o * np.tanh(c)
        return out

    both = np.concatenate(
        [run(*sides["forward"], list(range(6))), run(*sides["backward"], list(range(5, -1, -1)))], 1
    )
    logits = both @ dense[0] + dense[1]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    kf = reader.load(data, LIMITS)
    assert kf.keras_version == "2.2.4" and kf.net["stages"][0]["module"]["module"] == "KerasRecurrent"
    tr = kf.module().trace(torch.tensor(x, dtype=torch.float32))
    assert np.allclose(tr.stages[0].output.numpy(), both, atol=1e-5)
    assert np.allclose(tr.output.numpy(), probs, atol=1e-5)
    backward = tr.stages[0].trace.layers[0][1]
    assert backward.reverse and np.allclose(backward.previous_hidden[2].numpy(), both[3, units:], atol=1e-5)
