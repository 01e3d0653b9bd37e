"""A character-level LSTM language model: embedding → nn.LSTM → linear (Karpathy's char-rnn).

``trace()`` runs one text through the trace engine (``app.nets.lstm``) and returns every gate,
cell and hidden state together with the next-character distribution at every step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from app.nets.lstm import LSTMTrace, input_tables, trace_lstm


class CharLM(nn.Module):
    """Next-character model. Inputs are time-major ids (T, B), as nn.LSTM expects by default."""

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 32,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size, vocab_size)
        self._tables: tuple[tuple[int, ...], list[Tensor]] | None = None

    def forward(
        self, ids: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """ids (T, B) → logits (T, B, V) and the final (h, c)."""
        out, state = self.lstm(self.embed(ids), state)  # (T, B, H)
        return self.head(out), state

    def _input_tables(self) -> list[Tensor]:
        """Layer 0's input projection per character, cached until the weights change."""
        key = tuple(p._version for p in self.parameters()) + tuple(p.data_ptr() for p in self.parameters())
        if self._tables is None or self._tables[0] != key:
            with torch.no_grad():
                self._tables = (key, input_tables(self.lstm, self.embed.weight))
        return self._tables[1]

    @torch.inference_mode()
    def trace(self, ids: Tensor) -> tuple[LSTMTrace, Tensor]:
        """ids (T,) → (the full LSTM trace, next-character logits (T, V))."""
        trace = trace_lstm(self.lstm, self.embed(ids), ids=ids, tables=self._input_tables())
        return trace, self.head(trace.output)

    def warm_up(self) -> None:
        """One tiny trace: builds the input tables and oneDNN kernels before the first request."""
        self.trace(torch.zeros(4, dtype=torch.long))
