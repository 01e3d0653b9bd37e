"""The Seq2Seq net and its step API: the attention equations by hand, batching, hard attention."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from app.nets.seq2seq import Seq2Seq, context_shares, greedy_decode, trace_translation

V_SRC, V_TGT = 12, 9


def make(attention: bool = True, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    net = Seq2Seq(
        V_SRC, V_TGT, embed_size=6, hidden_size=5, decoder_size=7, attention_size=4, attention=attention
    )
    with torch.no_grad():  # larger weights than the default init, so decoding is not degenerate
        for p in net.parameters():
            p.mul_(3.0)
    return net.eval()


def src(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(4, V_SRC, (n,), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_encoder_states_and_fixed_context_are_nn_lstm_outputs() -> None:
    net = make()
    x = src(7)
    memory = net.encode(x)
    out, (h_n, _) = net.encoder(net.source_embed(x)[None])
    assert torch.allclose(memory.states, out, atol=1e-6)
    H = net.hidden_size
    # C = [→h_T; ←h_1]: the forward direction's last state and the backward direction's first.
    assert torch.allclose(memory.final[0], torch.cat([out[0, -1, :H], out[0, 0, H:]]), atol=1e-6)
    assert torch.allclose(memory.final[0], torch.cat([h_n[0, 0], h_n[1, 0]]), atol=1e-6)
    assert memory.mask.all() and memory.keys.shape == (1, 7, 4)


@torch.no_grad()
def test_padded_batch_encodes_each_row_as_if_alone() -> None:
    net = make()
    rows = [src(7, 1), src(3, 2), src(5, 3)]
    lengths = torch.tensor([7, 3, 5])
    batch = torch.zeros(3, 7, dtype=torch.long)
    for b, r in enumerate(rows):
        batch[b, : len(r)] = r
    memory = net.encode(batch, lengths)
    for b, r in enumerate(rows):
        alone = net.encode(r)
        n = len(r)
        assert torch.allclose(memory.states[b, :n], alone.states[0], atol=1e-5)
        assert torch.allclose(memory.final[b], alone.final[0], atol=1e-5)
        assert memory.mask[b].tolist() == [True] * n + [False] * (7 - n)
        assert torch.equal(memory.states[b, n:], torch.zeros(7 - n, 10))
    # the packed path is what pack_padded_sequence gives
    packed = pack_padded_sequence(net.source_embed(batch), lengths, batch_first=True, enforce_sorted=False)
    _, (h_n, _) = net.encoder(packed)
    assert torch.allclose(memory.final, torch.cat([h_n[0], h_n[1]], -1), atol=1e-6)


@torch.no_grad()
def test_step_is_bahdanau_attention_by_hand() -> None:
    """e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j), α = softmax_j e, c_i = Σ_j α_ij h_j, to 1e-5."""
    net = make()
    memory = net.encode(src(6))
    state = net.initial_state(memory)
    prev = torch.tensor([net.bos_id])
    out = net.step(prev, state, memory)
    s, h = state.hidden[0], memory.states[0]  # (D,), (T, 2H)
    W, U, v = net.W_a.weight, net.U_a.weight, net.v_a.weight[0]
    e = torch.stack([v @ torch.tanh(W @ s + U @ h[j]) for j in range(6)])
    alpha = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
    c = sum(alpha[j] * h[j] for j in range(6))
    assert torch.allclose(out.energies[0], e, atol=1e-5)
    assert torch.allclose(out.alpha[0], alpha, atol=1e-5)
    assert float(out.alpha.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(out.context[0], c, atol=1e-5)
    # the decoder cell reads [y_{i−1}; c_i] and the output layer reads [s_i; c_i]
    y = net.target_embed(prev)[0]
    hidden, cell = net.decoder(torch.cat([y, c])[None], (state.hidden, state.cell))
    assert torch.allclose(out.state.hidden, hidden, atol=1e-5)
    assert torch.allclose(out.logits[0], net.out(torch.cat([hidden[0], c])), atol=1e-5)
    # s_0 comes from C through the bridge
    s0, c0 = torch.tanh(net.bridge(memory.final[0])).chunk(2)
    assert torch.allclose(state.hidden[0], s0) and torch.allclose(state.cell[0], c0)


@torch.no_grad()
def test_one_source_memory_broadcasts_over_rows_and_select_reorders() -> None:
    net = make()
    memory = net.encode(src(6))
    state = net.initial_state(memory, batch=3)
    assert state.hidden.shape == (3, 7)
    prev = torch.tensor([4, 5, 6])
    together = net.step(prev, state, memory)
    for b in range(3):
        alone = net.step(prev[b : b + 1], net.initial_state(memory), memory)
        assert torch.allclose(together.logits[b], alone.logits[0], atol=1e-6)
        assert torch.allclose(together.alpha[b], alone.alpha[0], atol=1e-6)
    order = torch.tensor([2, 2, 0])
    picked = together.state.select(order)
    assert torch.equal(picked.hidden, together.state.hidden[order])
    assert torch.equal(picked.cell, together.state.cell[order])
    assert memory.select(torch.tensor([0, 0])).states.shape == (2, 6, 10)
    with pytest.raises(ValueError, match="memory of 1 or 3"):
        net.initial_state(memory.select(torch.tensor([0, 0])), batch=3)


@torch.no_grad()
def test_teacher_forcing_forward_is_the_step_loop() -> None:
    net = make()
    x = src(6)[None]
    target_in = torch.tensor([[net.bos_id, 4, 5, 6]])
    logits = net(x, None, target_in)
    memory = net.encode(x)
    state = net.initial_state(memory)
    for i in range(4):
        out = net.step(target_in[:, i], state, memory)
        assert torch.allclose(logits[:, i], out.logits, atol=1e-6)
        state = out.state


@torch.no_grad()
def test_greedy_decode_feeds_back_the_argmax_and_stops_at_eos() -> None:
    net = make()
    memory = net.encode(src(6))
    decoded = greedy_decode(net, memory, max_len=12)
    n = int(decoded.lengths[0])
    tokens = decoded.row(0)
    assert len(tokens) == n and 1 <= n <= 12
    assert tokens == decoded.logits[0, :n].argmax(-1).tolist()
    assert (tokens[-1] == net.eos_id) == bool(decoded.finished[0])
    assert net.eos_id not in tokens[:-1]
    assert torch.allclose(decoded.alpha[0, :n].sum(-1), torch.ones(n), atol=1e-6)
    # replaying the tokens through step() gives the same trace
    state = net.initial_state(memory)
    prev = torch.tensor([net.bos_id])
    for i, token in enumerate(tokens):
        out = net.step(prev, state, memory)
        assert torch.allclose(out.alpha[0], decoded.alpha[0, i], atol=1e-6)
        prev, state = torch.tensor([token]), out.state


@torch.no_grad()
def test_hard_attention_reads_one_sampled_state_and_is_seeded() -> None:
    net = make()
    memory = net.encode(src(8))
    first = greedy_decode(net, memory, 10, batch=6, generator=torch.Generator().manual_seed(5))
    again = greedy_decode(net, memory, 10, batch=6, generator=torch.Generator().manual_seed(5))
    other = greedy_decode(net, memory, 10, batch=6, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first.positions, again.positions) and torch.equal(first.tokens, again.tokens)
    assert not torch.equal(first.positions, other.positions)
    L = first.tokens.shape[1]
    for b in range(6):
        for i in range(L):
            j = int(first.positions[b, i])
            assert torch.equal(first.context[b, i], memory.states[0, j])  # c_i = h_j exactly
            assert first.alpha[b, i].tolist() == [1.0 if k == j else 0.0 for k in range(8)]
            assert float(first.weights[b, i].sum()) == pytest.approx(1.0, abs=1e-6)
            assert float(first.weights[b, i, j]) > 0


@torch.no_grad()
def test_without_attention_the_decoder_sees_the_source_only_through_c() -> None:
    net = make(attention=False)
    memory = net.encode(src(6))
    decoded = greedy_decode(net, memory, 8)
    assert decoded.alpha is None and decoded.context is None and decoded.energies is None
    # scrambling every state but the final one changes nothing: C is all the decoder gets
    memory.states = torch.randn_like(memory.states)
    again = greedy_decode(net, memory, 8)
    assert torch.equal(decoded.logits, again.logits)
    with pytest.raises(ValueError, match="attention"):
        trace_translation(net, src(6), 8, samples=3)


@torch.no_grad()
def test_context_shares_sum_to_one_and_rebuild_c() -> None:
    net = make()
    trace = trace_translation(net, src(9), 10, samples=4, seed=1)
    alpha, context = trace.soft.alpha[0], trace.soft.context[0]
    states = trace.memory.states[0]
    assert torch.allclose(alpha @ states, context, atol=1e-5)  # c_i = Σ_j α_ij h_j
    shares = context_shares(alpha, states, context)
    assert torch.allclose(shares.sum(-1), torch.ones(len(shares)), atol=1e-5)
    assert trace.hard is not None and trace.hard.tokens.shape[0] == 4
