"""Truth tests of the cloze nets: the bidirectional trace equals torch.nn.LSTM(bidirectional=True),
the ``_reverse`` weights drive the backward stream, h_n is not what the head reads, the
one-direction nets see only their side, and the all-positions training equals one blank at a time.

The LSTM engine itself is tested in test_lstm.py; these tests are about ClozeLSTM and its API.
Quality of the shipped checkpoints is checked at the end, on freshly drawn held-out positions.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.checkpoints import CheckpointError, build_net
from app.nets.cloze import ClozeLSTM
from app.recipes.cloze import EVAL_SEED, cloze_accuracy
from app.tasks import shakespeare
from app.tasks.cloze import CONTEXT, encode_corpus, sample_positions
from app.tasks.vocab import Vocab
from tests.conftest import shipped_entry

TOL = 1e-5
V, E, H = 13, 6, 8
BLANK = 1


def make(direction: str, seed: int = 0) -> ClozeLSTM:
    torch.manual_seed(seed)
    net = ClozeLSTM(V, E, H, direction).eval()
    with torch.no_grad():  # larger weights than the default init, so differences show
        for p in net.lstm.parameters():
            p.mul_(3)
    return net


def text_ids(length: int, blank: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, V, (length,), generator=g)
    ids[blank] = BLANK
    return ids


@pytest.mark.parametrize("blank", [0, 5, 16])
def test_bidirectional_trace_equals_nn_lstm(blank: int) -> None:
    net = make("both")
    ids = text_ids(17, blank)
    tr = net.trace(ids, blank)
    assert isinstance(net.lstm, nn.LSTM) and net.lstm.bidirectional
    with torch.no_grad():
        out, _ = net.lstm(net.embed(ids)[:, None])  # (T, 1, 2H)
        logits = net(ids[:, None], blank)[0]
    assert tr.forward is not None and tr.backward is not None
    assert torch.allclose(torch.cat([tr.forward.hidden, tr.backward.hidden], 1), out[:, 0], atol=TOL, rtol=0)
    assert torch.allclose(tr.lstm.output, out[:, 0], atol=TOL, rtol=0)
    # The head reads the concatenation [→h_b ; ←h_b] at the blank, and the scores are the net's.
    assert torch.allclose(tr.features, out[blank, 0], atol=TOL, rtol=0)
    assert torch.allclose(tr.logits, logits, atol=TOL, rtol=0)
    parts = net.head_parts(tr.features)
    assert torch.allclose(parts["forward"] + parts["backward"] + parts["bias"], tr.logits, atol=TOL)


def test_backward_stream_runs_right_to_left_in_text_order() -> None:
    """Step t of the backward stream has read characters T−1 … t: its previous state is t+1's."""
    tr = make("both").trace(text_ids(12, 4), 4)
    d = tr.backward
    assert d is not None
    c_prev = torch.cat([d.cell[1:], d.c0[None]])
    assert torch.allclose(d.cell, d.forget * c_prev + d.input * d.candidate, atol=TOL, rtol=0)
    assert torch.allclose(d.hidden, d.output * torch.tanh(d.cell), atol=TOL, rtol=0)
    # The last character is the backward stream's FIRST step: from the zero state, c = i·g̃.
    assert torch.allclose(d.cell[-1], d.input[-1] * d.candidate[-1], atol=TOL, rtol=0)


def test_reverse_weights_drive_the_backward_stream() -> None:
    net = make("both")
    ids = text_ids(10, 6)
    before = net.trace(ids, 6)
    with torch.no_grad():
        net.lstm.weight_hh_l0_reverse.add_(0.5)
        net.lstm.bias_ih_l0_reverse.add_(0.3)
    after = net.trace(ids, 6)  # the cached input tables follow the weight change
    assert before.forward is not None and after.forward is not None
    assert before.backward is not None and after.backward is not None
    assert torch.equal(before.forward.hidden, after.forward.hidden)
    assert not torch.allclose(before.backward.hidden, after.backward.hidden, atol=1e-3)
    assert not torch.allclose(before.logits, after.logits, atol=1e-3)
    with torch.no_grad():
        reference, _ = net.lstm(net.embed(ids)[:, None])
    assert torch.allclose(after.backward.hidden, reference[:, 0, H:], atol=TOL, rtol=0)
    # And the forward weights leave the backward stream alone.
    with torch.no_grad():
        net.lstm.weight_ih_l0.add_(0.5)
    again = net.trace(ids, 6)
    assert again.backward is not None and torch.equal(again.backward.hidden, after.backward.hidden)


def test_head_reads_the_state_at_the_blank_not_h_n() -> None:
    """torch's caveat: for the backward direction h_n is ←h_0 (output[0]), not output[-1].

    With the blank at the END, →h_b is h_n[0] but ←h_b has read only the blank, while h_n[1] has
    read the whole text: a head fed h_n would see the wrong backward state.
    """
    net = make("both")
    T = 9
    ids = text_ids(T, T - 1)
    with torch.no_grad():
        out, (h_n, _) = net.lstm(net.embed(ids)[:, None])
    tr = net.trace(ids, T - 1)
    assert torch.allclose(h_n[1, 0], out[0, 0, H:], atol=TOL)
    assert not torch.allclose(h_n[1, 0], out[-1, 0, H:], atol=1e-3)
    assert torch.allclose(tr.features[:H], h_n[0, 0], atol=TOL)  # forward half: h_n[0] = →h_{T−1}
    assert torch.allclose(tr.features[H:], out[-1, 0, H:], atol=TOL)  # backward half: ←h_{T−1}
    assert not torch.allclose(tr.features[H:], h_n[1, 0], atol=1e-3)
    assert torch.allclose(tr.lstm.h_n[1], tr.lstm.layers[0][1].hidden[0], atol=TOL)


def test_backward_only_net_equals_torch_on_the_reversed_text() -> None:
    net = make("backward")
    ids = text_ids(11, 3)
    tr = net.trace(ids, 3)
    with torch.no_grad():
        out, _ = net.lstm(net.embed(ids.flip(0))[:, None])
    assert tr.forward is None and tr.backward is not None
    assert torch.allclose(tr.backward.hidden, out[:, 0].flip(0), atol=TOL, rtol=0)
    assert torch.allclose(tr.logits, net(ids[:, None], 3)[0], atol=TOL, rtol=0)
    d = tr.backward  # in text order, the previous state of step t is step t+1's
    c_prev = torch.cat([d.cell[1:], d.c0[None]])
    assert torch.allclose(d.cell, d.forget * c_prev + d.input * d.candidate, atol=TOL, rtol=0)


def test_forward_only_net_equals_torch() -> None:
    net = make("forward")
    ids = text_ids(11, 7)
    tr = net.trace(ids, 7)
    with torch.no_grad():
        out, _ = net.lstm(net.embed(ids)[:, None])
    assert tr.backward is None and tr.forward is not None
    assert torch.allclose(tr.forward.hidden, out[:, 0], atol=TOL, rtol=0)
    assert torch.allclose(tr.logits, net(ids[:, None], 7)[0], atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "direction,left_matters,right_matters",
    [("forward", True, False), ("backward", False, True), ("both", True, True)],
)
def test_each_net_sees_only_its_side(direction: str, left_matters: bool, right_matters: bool) -> None:
    net = make(direction)
    b = 6
    ids = text_ids(14, b)
    base = net.trace(ids, b).logits
    left, right = ids.clone(), ids.clone()
    left[:b] = torch.randint(2, V, (b,), generator=torch.Generator().manual_seed(9))
    right[b + 1 :] = torch.randint(2, V, (14 - b - 1,), generator=torch.Generator().manual_seed(9))
    assert (not torch.allclose(net.trace(left, b).logits, base, atol=1e-4)) == left_matters
    assert (not torch.allclose(net.trace(right, b).logits, base, atol=1e-4)) == right_matters


@pytest.mark.parametrize("direction", ["both", "forward", "backward"])
def test_every_blank_equals_one_blank_at_a_time(direction: str) -> None:
    """Training fills every position at once; that must equal blanking each position alone."""
    net = make(direction)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(2, V, (15, 3), generator=g)  # (T, B) true text
    with torch.no_grad():
        every = net.every_blank(ids, BLANK)  # (T, B, V)
        for t in range(15):
            blanked = ids.clone()
            blanked[t] = BLANK
            assert torch.allclose(every[t], net(blanked, t), atol=TOL, rtol=0), t


def test_loss_ignores_special_targets_and_trains() -> None:
    net = ClozeLSTM(V, E, H, "both")
    ids = torch.randint(2, V, (10, 4), generator=torch.Generator().manual_seed(3))
    ids[2, 1] = 0  # an unknown character in the text: read as unk, never a target
    loss, logits = net.loss(ids, BLANK, torch.tensor([0, BLANK]))
    keep = ids != 0
    expected = nn.functional.cross_entropy(logits[keep], ids[keep])
    assert torch.allclose(loss, expected)
    loss.backward()
    assert (
        net.lstm.weight_hh_l0_reverse.grad is not None and net.lstm.weight_hh_l0_reverse.grad.abs().sum() > 0
    )


def test_bad_direction_is_refused_by_the_loader() -> None:
    ckpt = {"kind": "cloze", "config": {"vocab_size": V, "direction": "sideways"}, "state_dict": {}}
    with pytest.raises(CheckpointError, match="direction"):
        build_net(ckpt)


# --- the shipped checkpoints, on freshly drawn held-out positions


@pytest.fixture(scope="module")
def held_out() -> str:
    return shakespeare.split()[1]


def test_shipped_bidirectional_beats_both_directions(shipped, held_out: str) -> None:  # type: ignore[no-untyped-def]
    nets = {name: shipped_entry(shipped, name) for name in ("cloze-bi", "cloze-fwd", "cloze-bwd")}
    vocab = Vocab.from_dict(nets["cloze-bi"].checkpoint["vocab"])
    for entry in nets.values():
        assert Vocab.from_dict(entry.checkpoint["vocab"]) == vocab
    ids = encode_corpus(vocab, held_out)
    positions = sample_positions(ids, CONTEXT, 3000, EVAL_SEED + 1, vocab)  # not the recipe's positions
    top1 = {
        name: cloze_accuracy(entry.net, ids, positions, CONTEXT, vocab.special_id("blank"))["top1"]  # type: ignore[arg-type]
        for name, entry in nets.items()
    }
    assert top1["cloze-bi"] >= 0.58, top1  # the reference for both sides
    assert top1["cloze-bi"] >= max(top1["cloze-fwd"], top1["cloze-bwd"]) + 0.15, top1


def test_flipped_direction_keeps_its_pre_activations_in_text_order() -> None:
    """A direction re-indexed in text order still gives pre-activations that match its gates."""
    import torch
    from torch import nn

    from app.nets.lstm import trace_lstm

    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5)
    x = torch.randn(9, 3)
    d = trace_lstm(lstm, x.flip(0)).layers[0][0].flipped()
    pre = d.pre
    assert torch.allclose(torch.sigmoid(pre[:, 5:10]), d.forget, atol=1e-5)
    assert torch.allclose(torch.tanh(pre[:, 10:15]), d.candidate, atol=1e-5)
    recurrent, inputs = d.unit_terms(2)
    assert torch.allclose(recurrent + inputs, pre[:, [2, 7, 12, 17]], atol=1e-5)
