"""The skip-thought net: the step API equals teacher forcing, padded batches equal single
sentences, the thought vector is the encoder LSTM's last hidden state, and the decoding adapters
(greedy, beam search, the recipe's batched greedy) agree."""

from __future__ import annotations

import pytest
import torch

from app.decoding import beam_search, greedy
from app.nets.skipthought import SIDES, NeighbourSearch, SkipThought
from app.recipes.skipthought import greedy_batch


@pytest.fixture
def net() -> SkipThought:
    torch.manual_seed(0)
    return SkipThought(vocab_size=23, embed_size=8, hidden_size=12, decoder_size=10).eval()


def test_thought_is_the_last_hidden_state_of_the_encoder_lstm(net: SkipThought) -> None:
    src = torch.tensor([5, 9, 4, 17, 6])
    thought, states = net.encode(src)
    out, (h_n, _) = net.encoder(net.embed(src)[None])
    assert torch.allclose(thought, h_n[0], atol=1e-6)
    assert torch.allclose(states, out, atol=1e-6)
    assert torch.allclose(states[0, -1], thought[0], atol=1e-6)


def test_padded_batch_equals_each_sentence_alone(net: SkipThought) -> None:
    a, b = torch.tensor([4, 5, 6, 7, 8, 9]), torch.tensor([10, 11, 12])
    src = torch.zeros(2, 6, dtype=torch.long)
    src[0], src[1, :3] = a, b
    thought, _ = net.encode(src, torch.tensor([6, 3]))
    assert torch.allclose(thought[0], net.encode(a)[0][0], atol=1e-5)
    assert torch.allclose(thought[1], net.encode(b)[0][0], atol=1e-5)


@pytest.mark.parametrize("side", SIDES)
def test_step_loop_equals_teacher_forcing(net: SkipThought, side: str) -> None:
    torch.manual_seed(1)
    thought = torch.tanh(torch.randn(3, 12))
    target_in = torch.randint(3, 23, (3, 7))
    target_in[:, 0] = net.bos_id
    logits = net.teacher_force(side, thought, target_in)  # type: ignore[arg-type]
    state = net.initial_state(side, thought)  # type: ignore[arg-type]
    for k in range(7):
        logp, state = net.step(side, target_in[:, k], state, thought)  # type: ignore[arg-type]
        assert torch.allclose(logp, torch.log_softmax(logits[:, k], -1), atol=1e-5)


def test_the_two_decoders_differ_and_forward_runs_both(net: SkipThought) -> None:
    src = torch.tensor([[4, 5, 6]])
    tgt = torch.tensor([[net.bos_id, 7, 8]])
    prev, nxt = net(src, None, tgt, tgt)
    assert prev.shape == nxt.shape == (1, 3, 23)
    assert not torch.allclose(prev, nxt)
    with pytest.raises(ValueError, match="side"):
        net.decoder("sideways")  # type: ignore[arg-type]


@pytest.mark.parametrize("side", SIDES)
def test_greedy_beam_and_batched_greedy_agree(net: SkipThought, side: str) -> None:
    torch.manual_seed(2)
    thoughts = torch.tanh(3 * torch.randn(4, 12))
    batched = greedy_batch(net, side, thoughts, max_len=9)
    for b in range(4):
        search = NeighbourSearch(net, side, thoughts[b])  # type: ignore[arg-type]
        g = greedy(search, 9)
        words = [t for t in g.tokens if t != net.eos_id]
        assert words == batched[b]
        one = beam_search(search, 1, 9).hypotheses[0]
        assert one.tokens == g.tokens and one.logprob == pytest.approx(g.logprob, abs=1e-4)
