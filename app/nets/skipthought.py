"""Skip-thought vectors: one LSTM encoder, two LSTM decoders (the previous and the next sentence).

Kiros et al. (2015), "Skip-Thought Vectors": an encoder reads sentence s_i word by word; its last
hidden state is the *thought vector* h_i. Two decoders, each conditioned on h_i, write the
sentence before (s_{i−1}) and the sentence after (s_{i+1}); training minimises their summed
cross-entropy, so h_i must hold what predicts a sentence's neighbours::

    x_t = E[w_t]                                   word embedding (E shared by all three LSTMs)
    h_t, c_t = LSTM_enc(x_t, h_{t−1}, c_{t−1})      encoder; thought h_i = h_T       (H)
    s_0, m_0 = tanh(W_d h_i + b_d)                  each decoder d ∈ {previous, next} (D each)
    s_k, m_k = LSTM_d([E[y_{k−1}]; h_i], s_{k−1}, m_{k−1})   h_i is read at every step
    p(y_k | y_<k, h_i) = softmax(V s_k + b)         V shared by both decoders, as in the paper

The paper conditions its GRU decoders on h_i through extra bias matrices in every gate; feeding
h_i as part of the input at every step is the same thing for an LSTM (the input matrix's columns
for h_i are those biases). Here the decoders also start from a state computed from h_i.

Step API (batch-first; what beam search drives)::

    thought, states = net.encode(src, lengths)     # src (B, T) ids → (B, H), per-step h_t (B, T, H)
    state = net.initial_state(side, thought)       # side "previous" | "next" → (s_0, m_0), (1, B, D) each
    logp, state = net.step(side, prev, state, thought)   # prev (B,) ids → log-probs (B, V)

``net(src, lengths, previous_in, next_in)`` is teacher forcing of both decoders at once (one
``nn.LSTM`` call per decoder over the whole target); a test proves it equals the step loop.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Side = Literal["previous", "next"]
SIDES: tuple[Side, Side] = ("previous", "next")

DecoderState = tuple[Tensor, Tensor]  # (s, m): hidden and cell, (1, B, D) each


class NeighbourDecoder(nn.Module):
    """One decoder: thought → initial state; at every step reads [E[y_{k−1}]; h_i]."""

    def __init__(self, embed_size: int, thought_size: int, decoder_size: int) -> None:
        super().__init__()
        self.bridge = nn.Linear(thought_size, 2 * decoder_size)  # h_i → (s_0, m_0)
        self.lstm = nn.LSTM(embed_size + thought_size, decoder_size, batch_first=True)


class SkipThought(nn.Module):
    """Built as ``SkipThought(**config)``."""

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 64,
        hidden_size: int = 128,
        decoder_size: int = 128,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size  # H: size of the thought vector
        self.decoder_size = decoder_size  # D
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.encoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.previous = NeighbourDecoder(embed_size, hidden_size, decoder_size)
        self.next = NeighbourDecoder(embed_size, hidden_size, decoder_size)
        self.out = nn.Linear(decoder_size, vocab_size)  # V, shared by both decoders

    def decoder(self, side: Side) -> NeighbourDecoder:
        if side not in SIDES:
            raise ValueError(f"side must be 'previous' or 'next', not {side!r}")
        return self.previous if side == "previous" else self.next

    # --- encoder

    def encode(self, src: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """src (T,) or (B, T) ids (padded; ``lengths`` (B,)) → thought h_T (B, H), states (B, T, H)."""
        if src.dim() == 1:
            src = src[None]  # (1, T)
        x = self.embed(src)  # (B, T, E)
        B, T = src.shape
        if lengths is None or bool((lengths == T).all()):
            states, (h_n, _) = self.encoder(x)  # (B, T, H), h_n (1, B, H)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, (h_n, _) = self.encoder(packed)
            states, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H)
        return h_n[0], states

    # --- decoders

    def initial_state(self, side: Side, thought: Tensor) -> DecoderState:
        """(s_0, m_0) = tanh(W_d h_i + b_d), split in two; thought (B, H) → (1, B, D) each."""
        s0, m0 = torch.tanh(self.decoder(side).bridge(thought)).chunk(2, dim=-1)  # (B, D) each
        return s0[None].contiguous(), m0[None].contiguous()

    def step(
        self, side: Side, prev: Tensor, state: DecoderState, thought: Tensor
    ) -> tuple[Tensor, DecoderState]:
        """One output step for B rows: y_{k−1} (B,) → log p(y_k) (B, V) and the new state.

        ``thought`` is (B, H), or (1, H) broadcast to every row (beams of one sentence).
        """
        B = prev.shape[0]
        x = torch.cat([self.embed(prev), thought.expand(B, -1)], dim=-1)[:, None]  # (B, 1, E+H)
        out, state = self.decoder(side).lstm(x, state)  # out (B, 1, D)
        return torch.log_softmax(self.out(out[:, 0]), dim=-1), state

    def teacher_force(self, side: Side, thought: Tensor, target_in: Tensor) -> Tensor:
        """thought (B, H), target_in (B, L) = bos + y_1..y_{L−1} → logits (B, L, V)."""
        L = target_in.shape[1]
        x = torch.cat([self.embed(target_in), thought[:, None].expand(-1, L, -1)], dim=-1)  # (B, L, E+H)
        out, _ = self.decoder(side).lstm(x, self.initial_state(side, thought))  # (B, L, D)
        return self.out(out)

    def forward(
        self, src: Tensor, lengths: Tensor | None, previous_in: Tensor, next_in: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing of both decoders: logits for the previous (B, Lp, V) and next (B, Ln, V)."""
        thought, _ = self.encode(src, lengths)
        return self.teacher_force("previous", thought, previous_in), self.teacher_force(
            "next", thought, next_in
        )

    def warm_up(self) -> None:
        """One tiny encode and decode step, so the first request does not pay for kernel creation."""
        thought, _ = self.encode(torch.full((3,), self.bos_id, dtype=torch.long))
        for side in SIDES:
            self.step(side, torch.tensor([self.bos_id]), self.initial_state(side, thought), thought)


class NeighbourSearch:
    """The ``app.decoding.Decoder`` protocol for one decoder of one sentence's thought vector."""

    def __init__(self, net: SkipThought, side: Side, thought: Tensor) -> None:
        self.net, self.side = net, side
        self.thought = thought.reshape(1, -1)  # (1, H)
        self.bos, self.eos = net.bos_id, net.eos_id

    def initial(self) -> DecoderState:
        return self.net.initial_state(self.side, self.thought)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        return self.net.step(self.side, tokens, state, self.thought)

    def select(self, state: DecoderState, rows: Tensor) -> DecoderState:
        return state[0][:, rows], state[1][:, rows]
