"""Teacher forcing, free running and scheduled sampling are all ``net.step`` with another input:
each equals the reference computation it claims to be."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from app.nets.forcing import free_running, gold_nll, scheduled_sampling, teacher_forced, unroll
from app.nets.seq2seq import Seq2Seq, greedy_decode

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


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded sources (4, 7), their lengths, and decoder inputs bos + y (4, 6)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V_SRC, (4, 7), generator=g)
    lengths = torch.tensor([7, 3, 5, 6])
    for b, n in enumerate(lengths.tolist()):
        src[b, n:] = 0
    target_in = torch.randint(3, V_TGT, (4, 6), generator=g)
    target_in[:, 0] = 1  # bos
    return src, lengths, target_in


@torch.no_grad()
def test_teacher_forced_is_the_nets_own_forward() -> None:
    for attention in (True, False):
        net = make(attention)
        src, lengths, target_in = batch()
        run = teacher_forced(net, net.encode(src, lengths), target_in)
        assert torch.equal(run.fed, target_in)
        assert torch.allclose(run.logits, net(src, lengths, target_in), atol=1e-6)
        assert (run.alpha is None) == (not attention)
        if run.alpha is not None:
            assert run.alpha.shape == (4, 6, 7)
            assert torch.allclose(run.alpha.sum(-1), torch.ones(4, 6), atol=1e-5)


@torch.no_grad()
def test_ratio_one_is_teacher_forcing_and_ratio_zero_feeds_the_argmax() -> None:
    net = make()
    src, lengths, target_in = batch()
    memory = net.encode(src, lengths)
    g = torch.Generator().manual_seed(0)
    forced, own = scheduled_sampling(net, memory, target_in, 1.0, g)
    assert not own.any()
    assert torch.equal(forced.logits, teacher_forced(net, memory, target_in).logits)
    free, own = scheduled_sampling(net, memory, target_in, 0.0, g)
    assert own[:, 1:].all() and not own[:, 0].any()
    assert torch.equal(free.fed[:, 0], target_in[:, 0])
    assert torch.equal(free.fed[:, 1:], free.logits[:, :-1].argmax(-1))
    # it is the greedy decode, run for the label's length without stopping at eos
    greedy = greedy_decode(net, memory, max_len=6)
    n = greedy.tokens.shape[1]
    for b in range(4):
        k = int(greedy.lengths[b])
        assert torch.allclose(free.logits[b, :k], greedy.logits[b, :k], atol=1e-6)
        assert torch.equal(free.fed[b, 1:k], greedy.tokens[b, : k - 1])
    assert n <= 6


@torch.no_grad()
def test_half_ratio_mixes_gold_and_own_tokens_by_coin() -> None:
    net = make()
    src, lengths, target_in = batch()
    target_in = target_in.repeat(50, 1)  # (200, 6)
    memory = net.encode(src.repeat(50, 1), lengths.repeat(50))
    run, own = scheduled_sampling(net, memory, target_in, 0.5, torch.Generator().manual_seed(3))
    argmax = run.logits[:, :-1].argmax(-1)  # what each step would feed of its own
    fed, own = run.fed[:, 1:], own[:, 1:]
    assert torch.equal(fed[own], argmax[own])
    assert torch.equal(fed[~own], target_in[:, 1:][~own])
    assert 0.4 < own.float().mean() < 0.6
    again, own_again = scheduled_sampling(net, memory, target_in, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(again.fed, run.fed) and torch.equal(own_again[:, 1:], own)


def test_gradients_flow_through_the_mixed_run() -> None:
    net = make().train()
    src, lengths, target_in = batch()
    run, _ = scheduled_sampling(net, net.encode(src, lengths), target_in, 0.5, torch.Generator())
    run.logits.sum().backward()
    assert net.target_embed.weight.grad is not None and net.U_a.weight.grad is not None
    assert float(net.encoder.weight_ih_l0.grad.abs().sum()) > 0  # type: ignore[union-attr]


@torch.no_grad()
def test_free_running_is_greedy_decoding() -> None:
    net = make()
    src = torch.tensor([5, 6, 7, 8, 9])
    memory = net.encode(src)
    free = free_running(net, memory, max_steps=12)
    greedy = greedy_decode(net, memory, max_len=12)
    assert free.written == greedy.row(0) == free.predicted
    assert free.finished == bool(greedy.finished[0])
    assert torch.allclose(free.run.logits[0], greedy.logits[0, : len(free.written)], atol=1e-6)
    assert free.run.fed[0].tolist() == [net.bos_id, *free.written[:-1]]


@torch.no_grad()
def test_an_injected_token_is_fed_to_the_next_step_and_nothing_before_changes() -> None:
    net = make()
    net.out.bias[net.eos_id] = -1e3  # never ends early: every step exists in both runs
    memory = net.encode(torch.tensor([4, 5, 6, 7, 8, 9, 10]))
    plain = free_running(net, memory, max_steps=10)
    assert plain.run.steps == 10 and not plain.finished
    s = 1
    token = next(t for t in range(3, V_TGT) if t != plain.predicted[s])
    hit = free_running(net, memory, max_steps=10, inject=(s, token))
    assert hit.predicted[: s + 1] == plain.predicted[: s + 1]  # the model's own choice is kept
    assert hit.written[s] == token and hit.written[:s] == plain.written[:s]
    assert int(hit.run.fed[0, s + 1]) == token
    assert torch.equal(hit.run.logits[0, : s + 1], plain.run.logits[0, : s + 1])
    assert not torch.allclose(hit.run.logits[0, s + 1], plain.run.logits[0, s + 1])
    # the steps after are the model's own greedy continuation from the injected prefix
    forced_prefix = torch.tensor([[net.bos_id, *hit.written[: hit.run.steps - 1]]])
    rerun = teacher_forced(net, memory, forced_prefix)
    assert torch.allclose(rerun.logits[0], hit.run.logits[0], atol=1e-6)


@torch.no_grad()
def test_unroll_stops_when_asked_and_at_max_steps() -> None:
    net = make()
    memory = net.encode(torch.tensor([4, 5, 6]))
    run = unroll(net, memory, lambda i, logits: None if i == 2 else logits.argmax(-1), 10)
    assert run.steps == 3
    assert unroll(net, memory, lambda i, logits: logits.argmax(-1), 4).steps == 4


def test_gold_nll_is_cross_entropy() -> None:
    logits = torch.randn(6, V_TGT, generator=torch.Generator().manual_seed(2))
    gold = torch.tensor([1, 4, 2, 8, 0, 3])
    assert torch.allclose(gold_nll(logits, gold), F.cross_entropy(logits, gold, reduction="none"), atol=1e-6)


@torch.no_grad()
def test_a_coin_per_sequence_decodes_each_row_wholly_one_way() -> None:
    net = make()
    src, lengths, target_in = batch()
    target_in = target_in.repeat(25, 1)  # (100, 6)
    memory = net.encode(src.repeat(25, 1), lengths.repeat(25))
    run, own = scheduled_sampling(
        net, memory, target_in, 0.5, torch.Generator().manual_seed(4), per="sequence"
    )
    rows = own[:, 1:]
    assert bool((rows.all(dim=1) | (~rows).all(dim=1)).all())  # each row: all own or all gold
    assert 20 < int(rows.all(dim=1).sum()) < 80
    free_rows = rows.all(dim=1)
    assert torch.equal(run.fed[free_rows, 1:], run.logits[free_rows, :-1].argmax(-1))
    assert torch.equal(run.fed[~free_rows], target_in[~free_rows])
