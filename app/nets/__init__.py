"""Instrumented PyTorch nets ("nets", not "models": ``models/`` holds weights).

``NETS`` maps a checkpoint's ``kind`` to the class its ``config`` builds; ``checkpoints.build_net``
is the one loader for every model.
"""

from __future__ import annotations

from torch import nn

from app.nets.char_lm import CharLM
from app.nets.seq2seq import Seq2Seq

NETS: dict[str, type[nn.Module]] = {
    "char-lm": CharLM,
    "seq2seq": Seq2Seq,
}
