"""A user's own LSTM ("bring your own"): an ``nn.LSTM`` with an optional embedding and output layer.

Built from weights found in a user's checkpoint (see ``app/uploads.py``). Inputs are either token
ids (through the embedding, or one-hot when the LSTM reads a vocabulary-sized vector) or raw
vectors (a time series pasted as CSV). Unknown tokens, when the user's vocabulary has no unknown
token, are fed as a zero input vector; the API reports their positions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from app.nets.lstm import LSTMTrace, input_tables, trace_lstm


class UserLSTM(nn.Module):
    """nn.LSTM (+ optional nn.Embedding in front, + optional nn.Linear on top)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        bias: bool = True,
        vocab_size: int | None = None,  # rows of the embedding, if there is one
        embedding: bool = False,  # an nn.Embedding(vocab_size, input_size) feeds the LSTM
        one_hot: bool = False,  # token ids are fed as one-hot vectors of size input_size
        output_size: int | None = None,  # an nn.Linear(D·H, output_size) reads the last layer
        head_bias: bool = True,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size or 1, input_size) if embedding else None
        self.one_hot = one_hot
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional)
        dirs = 2 if bidirectional else 1
        self.head = nn.Linear(dirs * hidden_size, output_size, bias=head_bias) if output_size else None

    def inputs_for(self, ids: Tensor, unknown: list[int] | None = None) -> Tensor:
        """Token ids (T,) → LSTM inputs (T, input_size); unknown positions get a zero vector."""
        if self.embed is not None:
            x = self.embed(ids.clamp(0, self.embed.num_embeddings - 1))
        elif self.one_hot:
            x = nn.functional.one_hot(ids.clamp(0, self.lstm.input_size - 1), self.lstm.input_size).float()
        else:
            raise ValueError("this LSTM reads vectors, not tokens: send numeric inputs")
        if unknown:
            x = x.clone()
            x[torch.tensor(unknown)] = 0.0
        return x

    @torch.inference_mode()
    def trace_inputs(self, x: Tensor) -> tuple[LSTMTrace, Tensor | None]:
        """Inputs (T, input_size) → the full trace and the output layer's logits (T, V) if any."""
        tr = trace_lstm(self.lstm, x)
        return tr, (self.head(tr.output) if self.head is not None else None)

    @torch.inference_mode()
    def trace(self, ids: Tensor, unknown: list[int] | None = None) -> tuple[LSTMTrace, Tensor | None]:
        """Token ids (T,) → the full trace and logits, through the embedding (lookup tables)."""
        if self.embed is not None and not unknown:
            tables = input_tables(self.lstm, self.embed.weight)
            tr = trace_lstm(self.lstm, self.embed(ids), ids=ids, tables=tables)
            return tr, (self.head(tr.output) if self.head is not None else None)
        return self.trace_inputs(self.inputs_for(ids, unknown))

    @property
    def reads_tokens(self) -> bool:
        return self.embed is not None or self.one_hot

    def warm_up(self) -> None:
        self.trace_inputs(torch.zeros(3, self.lstm.input_size))
