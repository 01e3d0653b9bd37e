"""The functions that make a gate or a state from its pre-activation, by name.

torch's recurrent modules use three (σ, tanh, relu); a Keras layer names its own ``activation``
and ``recurrent_activation``, and a trace keeps those names per gate (``activations`` of a
``RecurrentDirection``), so every name a trace may carry is here with its formula. The formulas
are Keras 3's (``keras/src/activations/activations.py``, which torch's functions below match),
except one name Keras changed between versions:

* ``hard_sigmoid``: Keras 3, clip(x/6 + 1/2, 0, 1), which is ``torch.nn.functional.hardsigmoid``;
* ``hard_sigmoid_keras2``: Keras 1 and 2 (standalone and ``tf.keras``), clip(0.2·x + 1/2, 0, 1).
  Before Keras 2.3 it was the default ``recurrent_activation`` of LSTM and GRU, so files saved
  then carry it; Keras 3 loads such a file with ITS hard_sigmoid, a different function. The
  reader of Keras files (``app.formats.keras``) maps a Keras 1/2 file's ``hard_sigmoid`` here.

``FORMULAS`` gives each as text for the page; ``KERAS2`` the names whose Keras 1/2 meaning is the
same function as here (a Keras 2 file naming another is refused rather than guessed).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F


def _hard_sigmoid_keras2(x: Tensor) -> Tensor:
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


def _linear(x: Tensor) -> Tensor:
    return x


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": _linear,
    "hard_sigmoid": F.hardsigmoid,
    "hard_sigmoid_keras2": _hard_sigmoid_keras2,
    "softsign": F.softsign,
    "softplus": F.softplus,
    "elu": F.elu,
    "selu": F.selu,
    "silu": F.silu,
    "gelu": F.gelu,
    "relu6": F.relu6,
    "exponential": torch.exp,
    "hard_silu": F.hardswish,
    "hard_tanh": F.hardtanh,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "mish": F.mish,
    "log_sigmoid": F.logsigmoid,
}

FORMULAS: dict[str, str] = {
    "sigmoid": "σ(x) = 1 / (1 + e^(−x))",
    "tanh": "tanh(x)",
    "relu": "max(x, 0)",
    "linear": "x",
    "hard_sigmoid": "clip(x/6 + 1/2, 0, 1)",
    "hard_sigmoid_keras2": "clip(0.2·x + 1/2, 0, 1)",
    "softsign": "x / (1 + |x|)",
    "softplus": "ln(1 + e^x)",
    "elu": "x if x > 0, else e^x − 1",
    "selu": "1.0507·(x if x > 0, else 1.6733·(e^x − 1))",
    "silu": "x·σ(x)",
    "gelu": "x·Φ(x) (exact, with the normal CDF)",
    "relu6": "min(max(x, 0), 6)",
    "exponential": "e^x",
    "hard_silu": "x·clip(x/6 + 1/2, 0, 1)",
    "hard_tanh": "clip(x, −1, 1)",
    "leaky_relu": "x if x > 0, else 0.2·x",
    "mish": "x·tanh(ln(1 + e^x))",
    "log_sigmoid": "ln σ(x)",
}

# Names whose Keras 1/2 function is the one above (hard_sigmoid is mapped to hard_sigmoid_keras2).
KERAS2 = frozenset(
    {"sigmoid", "tanh", "relu", "linear", "softsign", "softplus", "elu", "selu", "silu", "gelu"}
)
KERAS2_ALIASES = {"swish": "silu", "hard_sigmoid": "hard_sigmoid_keras2"}
KERAS3_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def apply(name: str, x: Tensor) -> Tensor:
    """``name``'s function applied to x (any shape). KeyError for a name not in ``ACTIVATIONS``."""
    return ACTIVATIONS[name](x)
