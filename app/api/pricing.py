"""Prices: what a request will cost, estimated from the model and the input before anything runs.

Every compute route prices its request and refuses one over a budget in Settings with a 422 (code
``over-budget``) naming the limit and the figure, before any work is done:

* **work**, in multiply-adds (``Settings.max_request_macs``). A recurrent layer costs, per step and
  direction, ``gates·H·(I + H)`` (gates = 4 for an LSTM, 3 for a GRU, 1 for a vanilla RNN; I is the
  layer's input size, ``D·H`` above the first layer); a linear layer ``in·out``; attention over
  T_in inputs ``T_in·(A + 2H)``. A trace rebuilds every gate from the exact states, so it costs
  ``TRACE_FACTOR`` times the forward pass; a Python-level step (a decoder or an autograd step)
  and a (layer, direction) pass of the trace engine have fixed costs, counted as the multiply-adds
  that take as long here (``STEP_MACS``, ``LAYER_MACS``, measured by ``bench/limits.py``).
* **response**, in numbers (``Settings.max_response_floats``): the floats of the plain-JSON form
  (about 8 bytes each at 4 significant digits). A full-precision number counts
  ``FULL_PRECISION_WEIGHT`` (about 12 bytes). A token, a label or a small object of the response
  counts as the floats its JSON takes the room of.

The budgets are calibrated (``bench/limits.py``) so that the longest allowed request of any
accepted model finishes in ≤ 2 s of one core here and its response is ≤ 16 MB. The same functions
price an upload when it arrives (``upload_trace``): an upload that could not trace even
``Settings.upload_min_trace_steps`` steps within the budgets is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from app.api.errors import ApiError
from app.config import Settings

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}  # torch's RNNBase.mode → gate blocks
STATES = {4: 2, 3: 1, 1: 1}  # per-step states besides the gates: LSTM c and h; GRU and RNN h
TRACE_FACTOR = 2.0  # the trace engine's forward kernel + the batched rebuild of every gate
AUTOGRAD_FACTOR = 3.0  # forward + backward of an autograd step loop
LAYER_MACS = 1_200_000  # one (layer, direction) pass of the trace engine, apart from its arithmetic
LAYER_SQRT_MACS = 70_000  # ... and per √T: the chunked cell scan runs ~2√T small vectorised steps
STEP_MACS = 250_000  # one Python-level step of a decoder loop or an autograd loop
FULL_PRECISION_WEIGHT = 1.5  # a float32 in full (~12 bytes of JSON) against 4 digits (~8)
TOKEN_FLOATS = 3  # a token string in a list, with quotes and comma (~24 bytes)
PAIR_FLOATS = 5  # a {"token": …, "prob": …} object (~40 bytes)


@dataclass(frozen=True)
class Price:
    """Estimated work (multiply-adds) and response size (numbers) of one request."""

    macs: float = 0.0
    floats: float = 0.0

    def __add__(self, other: Price) -> Price:
        return Price(self.macs + other.macs, self.floats + other.floats)

    def __mul__(self, k: float) -> Price:
        return Price(self.macs * k, self.floats * k)


@dataclass(frozen=True)
class Recurrent:
    """The shape of a recurrent stack: enough to price it, from a module or from a file's header."""

    gates: int  # 4 LSTM, 3 GRU, 1 vanilla RNN
    input_size: int
    hidden_size: int
    num_layers: int = 1
    directions: int = 1
    proj_size: int = 0  # LSTM projection: h_t has proj_size units instead of hidden_size

    @classmethod
    def of(cls, module: nn.Module) -> Recurrent:
        """From an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` or one of the cells."""
        if isinstance(module, nn.RNNBase):
            return cls(
                GATES[module.mode],
                module.input_size,
                module.hidden_size,
                module.num_layers,
                2 if module.bidirectional else 1,
                getattr(module, "proj_size", 0) or 0,
            )
        if isinstance(module, nn.RNNCellBase):
            gates = module.weight_ih.shape[0] // module.hidden_size
            return cls(gates, module.input_size, module.hidden_size)
        raise TypeError(f"not a recurrent module: {type(module).__name__}")

    @property
    def output_size(self) -> int:
        """Units of h_t per direction."""
        return self.proj_size or self.hidden_size

    def step_macs(self) -> float:
        """Multiply-adds of one time step through every layer and direction."""
        total = 0.0
        out = self.output_size
        for layer in range(self.num_layers):
            inputs = self.input_size if layer == 0 else self.directions * out
            per_direction = self.gates * self.hidden_size * (inputs + out)
            if self.proj_size:
                per_direction += self.hidden_size * self.proj_size
            total += self.directions * per_direction
        return total

    def params(self, bias: bool = True) -> int:
        """Parameters of the stack (as torch counts them)."""
        total = 0
        out = self.output_size
        for layer in range(self.num_layers):
            inputs = self.input_size if layer == 0 else self.directions * out
            rows = self.gates * self.hidden_size
            per_direction = rows * (inputs + out) + (2 * rows if bias else 0)
            if self.proj_size:
                per_direction += self.hidden_size * self.proj_size
            total += self.directions * per_direction
        return total

    def traced_floats(self, steps: int) -> float:
        """Numbers a full trace returns: every gate and state of every layer and direction, [T][H]."""
        per_step = (self.gates + STATES.get(self.gates, 1)) * self.hidden_size
        return self.num_layers * self.directions * steps * per_step


def linear_macs(module: nn.Linear | None) -> float:
    """Multiply-adds of one application of a linear layer (0 for None)."""
    return 0.0 if module is None else float(module.in_features * module.out_features)


def _engine(rnn: Recurrent, steps: int) -> Price:
    """The trace engine over ``steps``: forward kernel, gate rebuild and per-pass fixed costs."""
    passes = rnn.num_layers * rnn.directions
    fixed = passes * (LAYER_MACS + LAYER_SQRT_MACS * math.sqrt(steps))
    return Price(TRACE_FACTOR * rnn.step_macs() * steps + fixed, rnn.traced_floats(steps))


# --- one function per compute route ----------------------------------------------------------


def trace(rnn: Recurrent, steps: int, head_out: int = 0, unit: bool = False) -> Price:
    """POST /api/lstm/trace (and an upload's worst trace): every gate and state, the top-5 next
    tokens after each step (when there is a head), and the selected unit's breakdown [T] × 12."""
    price = _engine(rnn, steps)
    price += Price(steps * head_out * rnn.directions * rnn.output_size, steps * TOKEN_FLOATS)
    if head_out:
        price += Price(floats=steps * min(5, head_out) * PAIR_FLOATS)
    if unit:
        price += Price(floats=steps * 12)
    return price


def rnn_trace(net: Any, steps: int, vocab_size: int, classes: int) -> Price:
    """POST /api/rnn/trace: four [T][H] quantities, logits and probs [T][C], the head [C][H]."""
    rnn = Recurrent.of(net.rnn)
    hidden = rnn.hidden_size
    price = _engine(rnn, steps) + Price(steps * classes * hidden * 2)
    floats = 4 * steps * hidden + 2 * steps * classes + classes * (hidden + 1) + hidden + vocab_size
    return price + Price(floats=floats + steps * (TOKEN_FLOATS + 1) + (vocab_size + classes) * TOKEN_FLOATS)


def gradients(net: Any, steps: int) -> Price:
    """POST /api/gradients: an autograd step loop in float64 (forward and backward per step)."""
    rnn = Recurrent.of(net.rnn)
    macs = AUTOGRAD_FACTOR * rnn.step_macs() * steps + 2 * STEP_MACS * steps
    return Price(macs, steps * (4 + TOKEN_FLOATS))


def cloze(nets: list[Any], steps: int) -> Price:
    """POST /api/birnn/cloze: the bidirectional trace and the companions' traces; only the
    bidirectional model's gates and states are returned (both directions, [T][H] each)."""
    price = Price(floats=steps * TOKEN_FLOATS)
    for k, net in enumerate(nets):
        rnn = Recurrent.of(net.lstm)
        engine = _engine(rnn, steps)
        price += Price(engine.macs + linear_macs(net.head), engine.floats if k == 0 else 0.0)
    return price


def _decoder_step(net: Any, source_steps: int) -> float:
    """Multiply-adds of one seq2seq decoder step for one row: cell, attention, output layer."""
    macs = Recurrent.of(net.decoder).step_macs() + linear_macs(net.out)
    if net.attention:
        keys = net.U_a.out_features
        macs += linear_macs(net.W_a) + source_steps * (keys + net.U_a.in_features)
    return macs


def _encoder(net: Any, source_steps: int) -> float:
    macs = Recurrent.of(net.encoder).step_macs() * source_steps + linear_macs(net.bridge)
    if net.attention:
        macs += linear_macs(net.U_a) * source_steps
    return macs


def translate(net: Any, source_steps: int, max_length: int, samples: int) -> Price:
    """POST /api/seq2seq/translate: encoder, greedy soft decoding, ``samples`` hard runs at once;
    α, energies, shares and norms [T_out][T_in], the states [T_in][2H] and contexts [T_out][2H]."""
    step = _decoder_step(net, source_steps)
    rows = 1 + samples
    macs = _encoder(net, source_steps) + max_length * (rows * step + 2 * STEP_MACS)
    states = net.encoder.hidden_size * 2
    floats = max_length * source_steps * (4 + samples) + (source_steps + max_length + 1) * states
    floats += max_length * (5 * PAIR_FLOATS + 2 * TOKEN_FLOATS) + samples * max_length * (1 + TOKEN_FLOATS)
    return Price(macs, floats + source_steps * TOKEN_FLOATS)


def forcing(net: Any, source_steps: int, max_length: int) -> Price:
    """POST /api/seq2seq/forcing: encoder and two decoder lanes of up to ``max_length`` steps,
    each step with its top 3, probabilities and α [steps][T_in]."""
    step = _decoder_step(net, source_steps)
    macs = _encoder(net, source_steps) + 2 * max_length * (step + STEP_MACS)
    per_step = source_steps + 3 * PAIR_FLOATS + 3 * TOKEN_FLOATS + 4
    return Price(macs, 2 * max_length * per_step + (source_steps + max_length) * TOKEN_FLOATS)


CANDIDATE_FLOATS = 20  # one beam-tree candidate object (id, parent, token, 3 floats, flags) ~150 bytes


def beam(net: Any, source_steps: int, width: int, max_length: int, target_vocab: int) -> Price:
    """POST /api/decode/beam: the beam (``width`` rows) and greedy, with every step's candidates:
    each live beam's top 2k continuations."""
    step = _decoder_step(net, source_steps)
    macs = _encoder(net, source_steps) + max_length * ((width + 1) * step + 3 * STEP_MACS)
    candidates = width * min(2 * width, target_vocab)
    floats = max_length * candidates * CANDIDATE_FLOATS + width * max_length * (TOKEN_FLOATS + 1)
    return Price(macs, floats + (source_steps + 3 * max_length) * TOKEN_FLOATS)


def skipthought(net: Any, words: int, width: int, max_length: int, index_size: int) -> Price:
    """POST /api/skipthought/neighbours: encode, two decoders (beam of ``width``), cosine search
    over the index of training sentences."""
    hidden = net.encoder.hidden_size
    encoder = Recurrent.of(net.encoder).step_macs() * words
    decoder = Recurrent.of(net.decoder("next").lstm).step_macs() + linear_macs(net.out)
    macs = encoder + 2 * max_length * (width * decoder + 3 * STEP_MACS) + index_size * hidden
    floats = (words + 1) * hidden + 4 * max_length * (TOKEN_FLOATS + 1) + 10 * 3 * TOKEN_FLOATS
    return Price(macs, floats + words * TOKEN_FLOATS)


# --- charging --------------------------------------------------------------------------------


def amount(x: float) -> str:
    """A count for a sentence: 950, 12,400, 3.2 million, 4.0 billion."""
    if x >= 1e9:
        return f"{x / 1e9:.1f} billion"
    if x >= 1e6:
        return f"{x / 1e6:.1f} million"
    return f"{round(x):,}"


def fits(price: Price, settings: Settings, full_precision: bool = False) -> bool:
    floats = price.floats * (FULL_PRECISION_WEIGHT if full_precision else 1.0)
    return price.macs <= settings.max_request_macs and floats <= settings.max_response_floats


def max_steps(
    price_of: Callable[[int], Price], settings: Settings, limit: int, full_precision: bool = False
) -> int:
    """The most steps (0..limit) whose price fits the budgets (prices grow with the steps)."""
    if fits(price_of(limit), settings, full_precision):
        return limit
    lo, hi = 0, limit  # fits(lo) is assumed (0 steps), fits(hi) is False
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(price_of(mid), settings, full_precision):
            lo = mid
        else:
            hi = mid
    return lo


def charge(
    price: Price,
    settings: Settings,
    field: str,
    *,
    full_precision: bool = False,
    most: int | None = None,
    unit: str = "steps",
) -> None:
    """Refuse (422 ``over-budget``) a request whose price is over a budget, naming the limit and
    the figure; ``most`` is the longest input of this model that would fit, when known."""
    floats = price.floats * (FULL_PRECISION_WEIGHT if full_precision else 1.0)
    hint = f" This model fits at most {most:,} {unit}." if most is not None else ""
    params: dict[str, Any] = {"macs": round(price.macs), "floats": round(floats)}
    if most is not None:
        params["most"] = most
    precision = " at full precision" if full_precision else ""
    budgets = (
        (price.macs, settings.max_request_macs, "max_request_macs", "cost about {} multiply-adds"),
        (
            floats,
            settings.max_response_floats,
            "max_response_floats",
            f"return about {{}} numbers{precision}",
        ),
    )
    for figure, limit, budget, what in budgets:
        if figure > limit:
            raise ApiError(
                422,
                f"This request would {what.format(amount(figure))}, but the limit is {amount(limit)} "
                f"(RLENS_{budget.upper()}), so {field} must be shorter.{hint}",
                field,
                code="over-budget",
                params={**params, "limit": limit, "budget": budget},
            )


def charge_steps(
    price_of: Callable[[int], Price],
    steps: int,
    settings: Settings,
    field: str,
    limit: int,
    full_precision: bool = False,
) -> None:
    """``charge`` for a request whose price grows with its length: over budget, the message also
    names the longest input (≤ ``limit``) this model fits."""
    price = price_of(steps)
    if not fits(price, settings, full_precision):
        most = max_steps(price_of, settings, limit, full_precision)
        charge(price, settings, field, full_precision=full_precision, most=most)
