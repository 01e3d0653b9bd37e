"""Cells as one-layer modules: traces of nn.LSTMCell / GRUCell / RNNCell equal the cell run step by
step (torch's own cell) and a plain loop; cell-style state_dict keys are recognised."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.nets.cells import find_cells, module_from_cell
from app.nets.engines import kind_of, trace_recurrent
from tests.nets.reference import reference

TOL = 1e-5
T, IN, H = 8, 3, 4
CELLS = [
    (nn.LSTMCell, {}, True),
    (nn.LSTMCell, {}, False),
    (nn.GRUCell, {}, True),
    (nn.GRUCell, {}, False),
    (nn.RNNCell, {"nonlinearity": "tanh"}, True),
    (nn.RNNCell, {"nonlinearity": "relu"}, False),
]


def _cell(cls: type[nn.Module], extra: dict[str, str], bias: bool, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    cell = cls(IN, H, bias=bias, **extra)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(2.0)
    return cell


def _run_cell(cell: nn.Module, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The cell itself, one step at a time: (hidden states (T, H), last cell state or None)."""
    h, c = h0[None], torch.zeros(1, H)
    hiddens = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            if isinstance(cell, nn.LSTMCell):
                h, c = cell(x[t : t + 1], (h, c))
            else:
                h = cell(x[t : t + 1], h)
            hiddens.append(h[0])
    return torch.stack(hiddens), (c[0] if isinstance(cell, nn.LSTMCell) else None)


@pytest.mark.parametrize(("cls", "extra", "bias"), CELLS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_cell_trace_equals_the_cell_step_by_step(
    cls: type[nn.Module], extra: dict[str, str], bias: bool
) -> None:
    cell = _cell(cls, extra, bias)
    x = torch.randn(T, IN)
    h0 = torch.randn(H)
    tr = trace_recurrent(cell, x, h0=h0)
    hidden, c_last = _run_cell(cell, x, h0)
    assert len(tr.layers) == 1 and len(tr.layers[0]) == 1
    assert torch.allclose(tr.output, hidden, atol=TOL, rtol=0)
    assert torch.allclose(tr.h_n[0], hidden[-1], atol=TOL, rtol=0)
    if c_last is not None:
        assert tr.c_n is not None and torch.allclose(tr.c_n[0], c_last, atol=TOL, rtol=0)
    # Every gate against the plain loop over the equivalent module's weights.
    module = module_from_cell(cell)
    assert kind_of(cell) == kind_of(module) == tr.kind
    ref = reference(module, x, h0[None])
    d = tr.layers[0][0]
    for name, value in d.quantities().items():
        assert torch.allclose(value, ref.layers[0][0].values[name].float(), atol=TOL, rtol=0), name


def test_module_from_cell_shares_the_cells_parameters() -> None:
    cell = _cell(nn.GRUCell, {}, True)
    module = module_from_cell(cell)
    assert isinstance(module, nn.GRU) and module.num_layers == 1 and not module.bidirectional
    assert module.weight_ih_l0 is cell.weight_ih and module.bias_hh_l0 is cell.bias_hh
    assert module_from_cell(cell) is module  # made once per cell
    x = torch.randn(T, IN)
    before = trace_recurrent(cell, x)
    with torch.no_grad():
        cell.weight_hh.add_(0.3)  # training moves the cell: the trace follows
    after = trace_recurrent(cell, x)
    assert torch.allclose(after.output, _run_cell(cell, x, torch.zeros(H))[0], atol=TOL, rtol=0)
    assert not torch.allclose(before.output, after.output, atol=1e-3)
    cell.weight_ih = nn.Parameter(cell.weight_ih.detach() * -1)  # a replaced parameter: a new module
    assert module_from_cell(cell) is not module
    assert torch.allclose(trace_recurrent(cell, x).output, _run_cell(cell, x, torch.zeros(H))[0], atol=TOL)
    relu = module_from_cell(nn.RNNCell(IN, H, nonlinearity="relu"))
    assert isinstance(relu, nn.RNN) and relu.nonlinearity == "relu"
    with pytest.raises(ValueError, match="module: a Linear, not nn.LSTMCell"):
        module_from_cell(nn.Linear(2, 2))


def test_find_cells_recognises_cell_keys_and_reads_them_as_layer_0() -> None:
    lstm_cell, gru_cell, rnn_cell = nn.LSTMCell(IN, H), nn.GRUCell(5, 2, bias=False), nn.RNNCell(IN, 6)
    state = {
        **{f"decoder.cell.{k}": v for k, v in lstm_cell.state_dict().items()},
        **gru_cell.state_dict(),  # at the top level: prefix ""
        **{f"rnn.{k}": v for k, v in rnn_cell.state_dict().items()},
        **{f"encoder.{k}": v for k, v in nn.LSTM(IN, H).state_dict().items()},  # a module: not a cell
        "half.weight_ih": torch.zeros(8, 3),  # weight_hh missing
        "odd.weight_ih": torch.zeros(10, 3),
        "odd.weight_hh": torch.zeros(10, 4),  # 10 rows: not G·4 for G in 1, 3, 4
        "onebias.weight_ih": torch.zeros(4, 3),
        "onebias.weight_hh": torch.zeros(4, 4),
        "onebias.bias_ih": torch.zeros(4),  # bias_hh missing
        "my_weight_ih": torch.zeros(4, 3),
        "step": 7,
    }
    found = {c.prefix: c for c in find_cells(state)}
    assert set(found) == {"", "decoder.cell.", "rnn."}
    assert (
        found["decoder.cell."].kind,
        found["decoder.cell."].input_size,
        found["decoder.cell."].hidden_size,
    ) == (
        "lstm",
        IN,
        H,
    )
    assert (found[""].kind, found[""].input_size, found[""].hidden_size, found[""].bias) == (
        "gru",
        5,
        2,
        False,
    )
    assert found["rnn."].kind == "rnn" and found["rnn."].hidden_size == 6
    layer = found["decoder.cell."].layer_state_dict(state)
    assert set(layer) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    assert set(found[""].layer_state_dict(state)) == {"weight_ih_l0", "weight_hh_l0"}
    # The module it builds traces as the cell runs.
    module = found["decoder.cell."].module(state)
    assert isinstance(module, nn.LSTM)
    x = torch.randn(T, IN)
    assert torch.allclose(
        trace_recurrent(module, x).output, _run_cell(lstm_cell, x, torch.zeros(H))[0], atol=TOL
    )
    relu = found["rnn."].module(state, nonlinearity="relu")
    assert isinstance(relu, nn.RNN) and relu.nonlinearity == "relu"
