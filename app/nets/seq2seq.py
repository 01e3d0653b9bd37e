"""Encoder–decoder (Seq2Seq) with additive attention, and the batched decoder-step API.

The seed's story: an encoder reads the source x_1..x_T into states h_j; a decoder writes the target
one token at a time. Without attention (Sutskever et al. 2014) the decoder only ever sees the
encoder's final state, one fixed vector C, as its initial state: the bottleneck. With additive
attention (Bahdanau, Cho & Bengio 2015), before writing token i the decoder scores every h_j
against its previous state s_{i−1} and reads a fresh context c_i::

    e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j)      energy        (W_a: D→A, U_a: 2H→A, v_a: A→1)
    α_ij = softmax_j(e_ij)                       attention     (each row sums to 1)
    c_i  = Σ_j α_ij h_j                          context       (2H)
    s_i  = LSTMCell([y_{i−1}; c_i], s_{i−1})     decoder state (D)
    p(y_i | y_<i, x) = softmax(W_o [s_i; c_i] + b_o)

Encoder: an embedding and a one-layer bidirectional ``nn.LSTM`` (hidden H per direction), so
h_j = [→h_j; ←h_j] has size 2H. C = [→h_T; ←h_1], the final state of each direction. The decoder
starts from (s_0, cell_0) = tanh(W_C C + b_C) in both variants; ``attention=False`` is the classic
encoder–decoder: no per-step context, the LSTMCell reads y_{i−1} only and W_o reads s_i only.

Hard attention (Xu et al. 2015, "show, attend and tell"): sample one position j ~ α_i and use
c_i = h_j instead of the weighted sum.

The step API (all tensors batch-first; B rows decode in lock-step; one call per output step)::

    memory = net.encode(src)                      # src (T,) one source or (B, T) + lengths (B,)
        memory.states (B_m, T, 2H)  h_j, zero past each length
        memory.keys   (B_m, T, A)   U_a h_j, computed once per source
        memory.mask   (B_m, T)      True at real positions
        memory.final  (B_m, 2H)     C = [→h_T; ←h_1]
    state = net.initial_state(memory, batch=k)    # DecoderState(hidden (k, D), cell (k, D));
                                                  # batch expands a one-source memory to k rows
    out = net.step(prev, state, memory)           # prev (B,) token ids: bos first, then y_{i−1}
        out.logits    (B, V)      scores of y_i
        out.state     DecoderState after step i (s_i)
        out.alpha     (B, T)      α_i (None without attention; one-hot of the sample in hard mode)
        out.context   (B, 2H)     c_i (None without attention)
        out.energies  (B, T)      e_i (None without attention); −inf at masked positions
        out.positions (B,)        sampled j (hard mode only, else None)
        out.weights   (B, T)      the α_i the sample was drawn from (hard mode), else = alpha
    net.step(prev, state, memory, generator=g)    # hard attention, sampling with torch.Generator g

``memory`` may have one row while ``state`` has B (beams of one source broadcast against it), or
B rows matching the state (a batch of sources). ``state.select(index)`` and ``memory.select(index)``
reorder or repeat rows (beam search keeps, drops and duplicates hypotheses that way).
``net(src, lengths, target_in)`` is teacher forcing over the whole target, built on ``step``.
``greedy_decode(net, memory, max_len)`` records the full trace of a greedy (or hard) decode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@dataclass
class Memory:
    """What the decoder reads from the encoder, for B_m sources."""

    states: Tensor  # (B_m, T, 2H) encoder states h_j
    keys: Tensor  # (B_m, T, A) U_a h_j (empty last dim without attention)
    mask: Tensor  # (B_m, T) bool, True at real positions
    final: Tensor  # (B_m, 2H) C = [→h_T; ←h_1]

    @property
    def batch(self) -> int:
        return int(self.states.shape[0])

    @property
    def length(self) -> int:
        return int(self.states.shape[1])

    def select(self, index: Tensor) -> Memory:
        """Rows ``index`` (B',) of every field: reorder, drop or repeat sources."""
        return Memory(self.states[index], self.keys[index], self.mask[index], self.final[index])


@dataclass
class DecoderState:
    """The decoder LSTMCell's state s_i, for B rows."""

    hidden: Tensor  # (B, D) s_i
    cell: Tensor  # (B, D)

    @property
    def batch(self) -> int:
        return int(self.hidden.shape[0])

    def select(self, index: Tensor) -> DecoderState:
        """Rows ``index`` (B',): how beam search reorders, prunes and duplicates hypotheses."""
        return DecoderState(self.hidden[index], self.cell[index])


class DecoderStep(NamedTuple):
    logits: Tensor  # (B, V)
    state: DecoderState
    alpha: Tensor | None  # (B, T) the weights c_i used (one-hot in hard mode)
    context: Tensor | None  # (B, 2H)
    energies: Tensor | None  # (B, T)
    positions: Tensor | None  # (B,) hard mode only
    weights: Tensor | None  # (B, T) softmax of the energies (= alpha in soft mode)


class Seq2Seq(nn.Module):
    """BiLSTM encoder, LSTMCell decoder, optional additive attention. Built as ``Seq2Seq(**config)``."""

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embed_size: int = 32,
        hidden_size: int = 64,
        decoder_size: int = 128,
        attention_size: int = 64,
        attention: bool = True,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
    ) -> None:
        super().__init__()
        self.attention = attention  # False: the classic encoder–decoder, one fixed vector C
        self.hidden_size = hidden_size  # H per encoder direction; h_j has 2H
        self.decoder_size = decoder_size  # D
        self.attention_size = attention_size  # A
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.target_vocab_size = target_vocab_size
        self.source_embed = nn.Embedding(source_vocab_size, embed_size)
        self.encoder = nn.LSTM(embed_size, hidden_size, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden_size, 2 * decoder_size)  # C → (s_0, cell_0)
        self.target_embed = nn.Embedding(target_vocab_size, embed_size)
        context = 2 * hidden_size if attention else 0
        if attention:
            self.W_a = nn.Linear(decoder_size, attention_size, bias=False)
            self.U_a = nn.Linear(2 * hidden_size, attention_size, bias=False)
            self.v_a = nn.Linear(attention_size, 1, bias=False)
        self.decoder = nn.LSTMCell(embed_size + context, decoder_size)
        self.out = nn.Linear(decoder_size + context, target_vocab_size)

    # --- encoder

    def encode(self, src: Tensor, lengths: Tensor | None = None) -> Memory:
        """src (T,) or (B, T) ids, lengths (B,) for padded batches → Memory."""
        if src.dim() == 1:
            src = src[None]  # (1, T)
        x = self.source_embed(src)  # (B, T, E)
        B, T = src.shape
        if lengths is None or bool((lengths == T).all()):
            states, (h_n, _) = self.encoder(x)  # (B, T, 2H), h_n (2, B, H)
            mask = torch.ones(B, T, dtype=torch.bool, device=src.device)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, (h_n, _) = self.encoder(packed)
            states, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, 2H)
            mask = torch.arange(T, device=src.device)[None, :] < lengths.to(src.device)[:, None]
        final = torch.cat([h_n[0], h_n[1]], dim=-1)  # (B, 2H): →h_T and ←h_1
        keys = self.U_a(states) if self.attention else states.new_zeros(B, T, 0)  # (B, T, A)
        return Memory(states, keys, mask, final)

    def initial_state(self, memory: Memory, batch: int | None = None) -> DecoderState:
        """(s_0, cell_0) = tanh(W_C C + b_C); ``batch`` repeats a one-source memory's state."""
        s0, cell0 = torch.tanh(self.bridge(memory.final)).chunk(2, dim=-1)  # (B_m, D) each
        if batch is not None and batch != memory.batch:
            if memory.batch != 1:
                raise ValueError(f"batch {batch} needs a memory of 1 or {batch} rows, not {memory.batch}")
            s0, cell0 = s0.expand(batch, -1).contiguous(), cell0.expand(batch, -1).contiguous()
        return DecoderState(s0, cell0)

    # --- attention and one decoder step

    def attend(self, hidden: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """s_{i−1} (B, D) → energies e_i and weights α_i, both (B, T)."""
        query = self.W_a(hidden)[:, None, :]  # (B, 1, A)
        energies = self.v_a(torch.tanh(query + memory.keys)).squeeze(-1)  # (B, T)
        energies = energies.masked_fill(~memory.mask, float("-inf"))
        return energies, torch.softmax(energies, dim=-1)

    def step(
        self,
        prev: Tensor,
        state: DecoderState,
        memory: Memory,
        generator: torch.Generator | None = None,
    ) -> DecoderStep:
        """One output step for B rows: y_{i−1} (B,), s_{i−1} → logits of y_i, s_i, α_i, c_i."""
        y = self.target_embed(prev)  # (B, E)
        if not self.attention:
            hidden, cell = self.decoder(y, (state.hidden, state.cell))  # (B, D)
            return DecoderStep(self.out(hidden), DecoderState(hidden, cell), None, None, None, None, None)
        B = prev.shape[0]
        energies, weights = self.attend(state.hidden, memory)  # (B, T)
        positions = None
        if generator is None:
            alpha = weights
            # Σ_j α_ij h_j, broadcast over the rows when one source serves B rows (beams, samples)
            context = (alpha[:, :, None] * memory.states).sum(dim=1)  # (B, T, 1) * (B|1, T, 2H) → (B, 2H)
        else:
            positions = torch.multinomial(weights, 1, generator=generator).squeeze(1)  # (B,)
            alpha = F.one_hot(positions, memory.length).to(weights.dtype)  # (B, T)
            states = memory.states.expand(B, -1, -1)  # (B, T, 2H)
            context = states[torch.arange(B), positions]  # (B, 2H): c_i = h_j
        hidden, cell = self.decoder(torch.cat([y, context], dim=-1), (state.hidden, state.cell))
        logits = self.out(torch.cat([hidden, context], dim=-1))  # (B, V)
        return DecoderStep(logits, DecoderState(hidden, cell), alpha, context, energies, positions, weights)

    def forward(self, src: Tensor, lengths: Tensor | None, target_in: Tensor) -> Tensor:
        """Teacher forcing: src (B, T), target_in (B, L) = bos + y_1..y_{L−1} → logits (B, L, V)."""
        memory = self.encode(src, lengths)
        state = self.initial_state(memory)
        logits = []
        for i in range(target_in.shape[1]):
            out = self.step(target_in[:, i], state, memory)
            logits.append(out.logits)
            state = out.state
        return torch.stack(logits, dim=1)

    def warm_up(self) -> None:
        """One tiny decode, so the first request does not pay for kernel creation."""
        greedy_decode(self, self.encode(torch.zeros(3, dtype=torch.long)), max_len=2)


@dataclass
class Decoded:
    """A greedy (or hard-attention) decode of B rows, step-major trace of every output step.

    Row b produced ``tokens[b, :lengths[b]]``; the last of them is eos when ``finished[b]``.
    Entries past a row's length are padding (the row kept stepping while others finished).
    """

    tokens: Tensor  # (B, L) ids y_1..y_L
    lengths: Tensor  # (B,) tokens produced, eos included
    finished: Tensor  # (B,) bool: ended with eos (else stopped at max_len)
    logits: Tensor  # (B, L, V)
    alpha: Tensor | None  # (B, L, T) weights used for c_i
    weights: Tensor | None  # (B, L, T) softmax(e_i) (= alpha for soft attention)
    energies: Tensor | None  # (B, L, T)
    context: Tensor | None  # (B, L, 2H)
    positions: Tensor | None  # (B, L) hard mode: sampled j

    def row(self, b: int) -> list[int]:
        return [int(t) for t in self.tokens[b, : int(self.lengths[b])]]


@torch.no_grad()
def greedy_decode(
    net: Seq2Seq,
    memory: Memory,
    max_len: int,
    batch: int | None = None,
    generator: torch.Generator | None = None,
) -> Decoded:
    """Feed back the argmax token until every row wrote eos or ``max_len`` tokens.

    ``batch`` decodes that many rows of a one-source memory (hard-attention samples);
    ``generator`` switches to hard attention.
    """
    state = net.initial_state(memory, batch)
    B = state.batch
    prev = torch.full((B,), net.bos_id, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    lengths = torch.zeros(B, dtype=torch.long)
    steps: list[DecoderStep] = []
    tokens: list[Tensor] = []
    for _ in range(max_len):
        out = net.step(prev, state, memory, generator)
        token = out.logits.argmax(dim=-1)  # (B,)
        token = torch.where(done, torch.full_like(token, net.pad_id), token)
        lengths += (~done).long()
        steps.append(out)
        tokens.append(token)
        done = done | (token == net.eos_id)
        prev, state = token, out.state
        if bool(done.all()):
            break

    def stack(name: str) -> Tensor | None:
        values = [getattr(s, name) for s in steps]
        return None if values[0] is None else torch.stack(values, dim=1)

    return Decoded(
        tokens=torch.stack(tokens, dim=1),
        lengths=lengths,
        finished=done,
        logits=torch.stack([s.logits for s in steps], dim=1),
        alpha=stack("alpha"),
        weights=stack("weights"),
        energies=stack("energies"),
        context=stack("context"),
        positions=stack("positions"),
    )


def context_shares(alpha: Tensor, states: Tensor, context: Tensor) -> Tensor:
    """Each input's share of c_i: the projection of α_ij h_j on c_i, (α_ij h_j · c_i) / ‖c_i‖².

    alpha (L, T), states (T, 2H), context (L, 2H) → (L, T). Rows sum to 1 exactly because
    Σ_j α_ij h_j = c_i; a share is negative when α_ij h_j points away from c_i.
    """
    terms = alpha.double()[:, :, None] * states.double()[None]  # (L, T, 2H) α_ij h_j
    c = context.double()  # (L, 2H)
    norm2 = (c * c).sum(-1, keepdim=True)  # (L, 1)
    shares = (terms * c[:, None, :]).sum(-1) / norm2.clamp_min(1e-30)  # (L, T)
    return torch.where(norm2 > 1e-24, shares, alpha.double()).float()


@dataclass
class Translation:
    """Everything the attention page shows for one source."""

    memory: Memory  # one source
    soft: Decoded  # one row: greedy decoding with soft attention (or none)
    shares: Tensor | None  # (L, T) each input's share of c_i (soft attention only)
    hard: Decoded | None  # ``samples`` rows: greedy decoding with hard attention


@torch.no_grad()
def trace_translation(
    net: Seq2Seq, src: Tensor, max_len: int, samples: int = 0, seed: int = 0
) -> Translation:
    """Greedy decoding of src (T,) with the full trace; ``samples`` > 0 adds that many hard runs,
    sampled with ``torch.Generator().manual_seed(seed)`` (reproducible)."""
    memory = net.encode(src)
    soft = greedy_decode(net, memory, max_len)
    shares = None
    if soft.alpha is not None and soft.context is not None:
        shares = context_shares(soft.alpha[0], memory.states[0], soft.context[0])
    hard = None
    if samples > 0:
        if not net.attention:
            raise ValueError("hard attention needs a model with attention")
        generator = torch.Generator().manual_seed(seed)
        hard = greedy_decode(net, memory, max_len, batch=samples, generator=generator)
    return Translation(memory, soft, shares, hard)
