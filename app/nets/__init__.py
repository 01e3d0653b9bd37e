"""Instrumented PyTorch nets ("nets", not "models": ``models/`` holds weights).

``NETS`` maps a checkpoint's ``kind`` to the class its ``config`` builds; ``checkpoints.build_net``
is the one loader for every model.
"""

from __future__ import annotations

from torch import nn

from app.nets.char_lm import CharLM
from app.nets.cloze import ClozeLSTM
from app.nets.recall import RecallLSTM, RecallRNN
from app.nets.seq2seq import Seq2Seq
from app.nets.skipthought import SkipThought
from app.nets.user_lstm import UserLSTM

NETS: dict[str, type[nn.Module]] = {
    "char-lm": CharLM,
    "lstm": UserLSTM,
    "recall-rnn": RecallRNN,
    "recall-lstm": RecallLSTM,
    "cloze": ClozeLSTM,
    "seq2seq": Seq2Seq,
    "skipthought": SkipThought,
}
