"""KerasNet (app/nets/keras_net.py) without Keras: how it runs what torch has no flag for
(go_backwards, merge modes, masks, return_sequences) against plain torch, and its refusals.
Equality with Keras itself is tests/formats/test_keras_equal.py."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from app.nets.keras_net import KerasNet

T, IN, H = 6, 3, 4


def _stage(module: str = "GRU", **extra: Any) -> dict[str, Any]:
    spec = {
        "module": module,
        "input_size": IN,
        "hidden_size": H,
        "bidirectional": extra.pop("bidirectional", False),
    }
    return {"module": spec, "return_sequences": True, **extra}


def _net(*stages: dict[str, Any], **kw: Any) -> KerasNet:
    torch.manual_seed(0)
    net = KerasNet(list(stages), **kw)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.8)
    return net.eval()


def test_go_backwards_reads_the_sequence_reversed_and_returns_keras_order() -> None:
    net = _net(_stage(go_backwards=True))
    x = torch.randn(T, IN)
    tr = net.trace(x)
    gru = net.stages[0]
    with torch.no_grad():
        out, _ = gru(x.flip(0)[:, None])  # reading x_{T−1} … x_0
    assert torch.allclose(tr.stages[0].output, out[:, 0], atol=1e-6)  # Keras's order: reading order
    d = tr.stages[0].trace.layers[0][0]
    assert d.reverse  # in sequence order, step t read the state of step t+1
    assert torch.allclose(d.hidden, out[:, 0].flip(0), atol=1e-6)
    assert torch.allclose(d.previous_hidden[:-1], d.hidden[1:]) and not d.previous_hidden[-1].any()


@pytest.mark.parametrize(
    ("mode", "merge"),
    [("sum", lambda f, b: f + b), ("ave", lambda f, b: (f + b) / 2), ("mul", lambda f, b: f * b)],
)
def test_bidirectional_merge_modes(mode: str, merge: Any) -> None:
    net = _net(_stage(bidirectional=True, merge_mode=mode))
    x = torch.randn(T, IN)
    tr = net.trace(x)
    with torch.no_grad():
        out, h_n = net.stages[0](x[:, None])
    forward, backward = out[:, 0, :H], out[:, 0, H:]
    assert torch.allclose(tr.stages[0].output, merge(forward, backward), atol=1e-6)
    last = _net(_stage(bidirectional=True, merge_mode=mode, return_sequences=False)).trace(x)
    with torch.no_grad():
        _, h_n = _net(_stage(bidirectional=True)).stages[0](x[:, None])
    assert torch.allclose(last.stages[0].output, merge(h_n[0, 0], h_n[1, 0]), atol=1e-6)  # torch's h_n


def test_masked_steps_are_not_fed_and_the_head_reads_the_last_state() -> None:
    embedding = {"input_dim": 9, "output_dim": IN, "mask_zero": True}
    head = [{"in_features": H, "out_features": 2, "activation": "softmax", "name": "dense"}]
    net = _net(_stage("LSTM", return_sequences=False), embedding=embedding, head=head)
    ids = torch.tensor([3, 0, 5, 0, 7, 0])
    tr = net.trace(ids=ids)
    assert tr.fed.tolist() == [0, 2, 4]
    kept = net.trace(ids=ids[ids != 0])
    assert torch.allclose(tr.output, kept.output) and torch.allclose(tr.output.sum(), torch.tensor(1.0))
    assert tr.logits is not None and torch.allclose(tr.output, torch.softmax(tr.logits, -1))
    masking = _net(_stage(), masking={"mask_value": 0.0})
    x = torch.randn(T, IN)
    x[2] = 0.0
    assert masking.trace(x).fed.tolist() == [0, 1, 3, 4, 5]


def test_bad_inputs_and_configs_are_refused_by_name() -> None:
    net = _net(_stage())
    with pytest.raises(ValueError, match="ids: this model has no Embedding"):
        net.trace(ids=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"x: inputs are \[5, 2\], but this model reads \[T, 3\]"):
        net.trace(torch.zeros(5, 2))
    masked = _net(_stage(), embedding={"input_dim": 4, "output_dim": IN, "mask_zero": True})
    with pytest.raises(ValueError, match="every step is masked"):
        masked.trace(ids=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids: need one or more token ids in 0..3"):
        masked.trace(ids=torch.tensor([4]))
    with pytest.raises(ValueError, match="stages: a KerasNet needs at least one"):
        KerasNet([])
    with pytest.raises(ValueError, match="stages\\[0\\].merge_mode: 'max'"):
        KerasNet([_stage(merge_mode="max")])
    with pytest.raises(ValueError, match="module: 'Conv1d'"):
        KerasNet([_stage("Conv1d")])
    with pytest.raises(ValueError, match="head\\[0\\].activation: 'argmax'"):
        KerasNet([_stage()], head=[{"in_features": H, "out_features": 2, "activation": "argmax"}])


def test_a_stage_is_the_torch_module_where_keras_equations_are_torchs() -> None:
    sizes = {"input_size": H, "hidden_size": H}
    reset_before = {"module": "KerasRecurrent", "cell": "gru", "activation": "tanh", "reset_after": False}
    net = KerasNet(
        [
            _stage("LSTM"),
            {"module": {"module": "RNN", "nonlinearity": "relu", **sizes}},
            {"module": {**reset_before, **sizes}},
        ]
    )
    assert [type(m) for m in net.stages[:2]] == [nn.LSTM, nn.RNN]
    assert net.stages[1].nonlinearity == "relu" and net.stages[2].mode == "KERAS_GRU_RESET_BEFORE"
