"""A plain reference for the truth tests: torch's documented equations, one step at a time.

Written from the ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` docstrings in float64, independent of the
engines' code (no fused kernel, no batched rebuild, no scan): every gate is recorded at the step
that computes it, indexed by sequence position t, whichever way the direction reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class RefDirection:
    """Per-step records (T, ·) float64, in sequence order; ``pre`` holds each gate's pre-activation."""

    values: dict[str, Tensor] = field(default_factory=dict)
    pre: dict[str, Tensor] = field(default_factory=dict)
    previous_hidden: Tensor | None = None


@dataclass
class Reference:
    layers: list[list[RefDirection]]
    output: Tensor  # (T, D·H_out)
    h_n: Tensor  # (L·D, H_out)
    c_n: Tensor | None  # (L·D, H)


def _params(module: nn.Module, layer: int, direction: int) -> dict[str, Tensor]:
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    out = {}
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        p = getattr(module, name + sfx, None)
        if p is not None:
            out[name] = p.detach().double()
    rows = out["weight_ih"].shape[0]
    out.setdefault("bias_ih", torch.zeros(rows, dtype=torch.float64))
    out.setdefault("bias_hh", torch.zeros(rows, dtype=torch.float64))
    return out


def _direction(
    mode: str, p: dict[str, Tensor], xs: Tensor, h: Tensor, c: Tensor | None, reverse: bool
) -> tuple[RefDirection, Tensor, Tensor, Tensor | None]:
    steps = xs.shape[0]
    records: dict[str, list[Tensor | None]] = {}
    pres: dict[str, list[Tensor | None]] = {}
    prev: list[Tensor | None] = [None] * steps

    def keep(store: dict[str, list[Tensor | None]], t: int, **named: Tensor) -> None:
        for name, value in named.items():
            store.setdefault(name, [None] * steps)[t] = value

    hiddens: list[Tensor | None] = [None] * steps
    for t in reversed(range(steps)) if reverse else range(steps):
        x = xs[t]
        prev[t] = h
        gi = p["weight_ih"] @ x + p["bias_ih"]
        gh = p["weight_hh"] @ h + p["bias_hh"]
        if mode == "LSTM":
            zi, zf, zg, zo = (gi + gh).chunk(4)  # i, f, g, o
            i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
            assert c is not None
            c = f * c + i * g
            m = o * torch.tanh(c)
            h = p["weight_hr"] @ m if "weight_hr" in p else m
            keep(records, t, input=i, forget=f, candidate=g, output=o, cell=c, unprojected=m)
            keep(pres, t, input=zi, forget=zf, candidate=zg, output=zo)
        elif mode == "GRU":
            ir, iz, in_ = gi.chunk(3)  # r, z, n
            hr, hz, hn = gh.chunk(3)
            r = torch.sigmoid(ir + hr)
            z = torch.sigmoid(iz + hz)
            zn = in_ + r * hn  # the reset gate multiplies W_hn·h + b_hn
            n = torch.tanh(zn)
            h = (1 - z) * n + z * h
            keep(records, t, reset=r, update=z, candidate=n)
            keep(pres, t, reset=ir + hr, update=iz + hz, candidate=zn)
        else:
            act = torch.tanh if mode == "RNN_TANH" else torch.relu
            h = act(gi + gh)
            keep(records, t, from_input=gi, recurrent=gh)
            keep(pres, t, hidden=gi + gh)
        hiddens[t] = h
    ref = RefDirection(
        values={k: torch.stack(v) for k, v in records.items()},  # type: ignore[arg-type]
        pre={k: torch.stack(v) for k, v in pres.items()},  # type: ignore[arg-type]
        previous_hidden=torch.stack(prev),  # type: ignore[arg-type]
    )
    ref.values["hidden"] = torch.stack(hiddens)  # type: ignore[arg-type]
    return ref, ref.values["hidden"], h, c


def reference(module: nn.Module, x: Tensor, h0: Tensor | None = None, c0: Tensor | None = None) -> Reference:
    """Run ``module`` (nn.LSTM/GRU/RNN) on one sequence x (T, I) with a plain float64 loop."""
    dirs = 2 if module.bidirectional else 1
    width = getattr(module, "proj_size", 0) or module.hidden_size
    rows = module.num_layers * dirs
    h0 = torch.zeros(rows, width) if h0 is None else h0
    if module.mode == "LSTM" and c0 is None:
        c0 = torch.zeros(rows, module.hidden_size)
    layers, h_n, c_n = [], [], []
    layer_in = x.double()
    for layer in range(module.num_layers):
        pair, outs = [], []
        for d in range(dirs):
            k = layer * dirs + d
            c_start = None if c0 is None else c0[k].double()
            ref, hidden, h_last, c_last = _direction(
                module.mode, _params(module, layer, d), layer_in, h0[k].double(), c_start, bool(d)
            )
            pair.append(ref)
            outs.append(hidden)
            h_n.append(h_last)
            if c_last is not None:
                c_n.append(c_last)
        layers.append(pair)
        layer_in = torch.cat(outs, dim=1)
    return Reference(layers, layer_in, torch.stack(h_n), torch.stack(c_n) if c_n else None)
