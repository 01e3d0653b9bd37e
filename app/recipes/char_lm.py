"""``shakespeare-char``: a character LSTM language model on Shakespeare (the LSTM gate page).

Trained on every work but the held-out plays (The Tempest, Twelfth Night) with random windows
from a zero state, exactly how the page traces text. Metrics: bits per character on the held-out
plays, and the "units worth a look": for simple features of the text (position in the line,
inside a [stage direction], inside a word, in a speaker's name), the units whose cell or hidden
state correlates most with the feature, against the best unit of the same net untrained.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from app.nets.char_lm import CharLM
from app.nets.lstm import trace_lstm
from app.tasks import shakespeare
from app.tasks.vocab import Vocab
from app.train import Run, fit, recipe

CONFIG = {"embed_size": 64, "hidden_size": 128, "num_layers": 1}
BATCH, WINDOW, LR, WEIGHT_DECAY = 64, 128, 1e-2, 0.15


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per-character features the analysis correlates units with (float arrays of len(text))."""
    n = len(text)
    line_pos = np.zeros(n)
    bracket = np.zeros(n)
    word = np.zeros(n)
    speaker = np.zeros(n)
    pos = 0
    depth = 0
    for t, ch in enumerate(text):
        line_pos[t] = pos
        pos = 0 if ch == "\n" else pos + 1
        if ch == "[":
            depth = 1
        bracket[t] = depth
        if ch == "]":
            depth = 0
        word[t] = 1.0 if ch.isalpha() or (ch == "'" and 0 < t < n - 1 and text[t - 1].isalpha()) else 0.0
    start = 0
    for line in text.split("\n"):
        end = start + len(line)
        stripped = line.strip()
        letters = [c for c in stripped if c.isalpha()]
        if letters and stripped.endswith(".") and all(c.isupper() for c in letters) and len(stripped) < 40:
            speaker[start:end] = 1.0
        start = end + 1
    return {
        "position in line": line_pos,
        "inside [stage direction]": bracket,
        "inside a word": word,
        "in a speaker's name": speaker,
    }


def _states(net: CharLM, ids: torch.Tensor, chunk: int = 2000) -> dict[str, np.ndarray]:
    """Cell and hidden states over a long text, traced in chunks with the state carried over."""
    cells, hiddens = [], []
    h0 = c0 = None
    with torch.inference_mode():
        for s in range(0, len(ids), chunk):
            piece = ids[s : s + chunk]
            tr = trace_lstm(net.lstm, net.embed(piece), h0=h0, c0=c0)
            d = tr.layers[-1][0]
            cells.append(d.cell.numpy())
            hiddens.append(d.hidden.numpy())
            h0, c0 = tr.h_n, tr.c_n
    return {"cell": np.concatenate(cells), "hidden": np.concatenate(hiddens)}


def _correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r of every column of ``values`` (T, H) with ``feature`` (T,)."""
    v = values - values.mean(0)
    f = feature - feature.mean()
    denom = np.sqrt((v * v).sum(0) * (f * f).sum()) + 1e-12
    return (v * f[:, None]).sum(0) / denom


def unit_analysis(net: CharLM, untrained: CharLM, vocab: Vocab, text: str) -> list[dict[str, Any]]:
    """For each feature: the best units of the trained net, and the untrained net's best |r|."""
    ids = torch.tensor(vocab.encode(text).ids)
    trained, baseline = _states(net, ids), _states(untrained, ids)
    found = []
    for name, feature in text_features(text).items():
        ranked = []
        for quantity, values in trained.items():
            r = _correlations(values, feature)
            ranked += [(abs(r[u]), quantity, int(u), float(r[u])) for u in range(values.shape[1])]
        ranked.sort(reverse=True)
        base = max(float(np.abs(_correlations(v, feature)).max()) for v in baseline.values())
        best = ranked[0]
        found.append(
            {
                "feature": name,
                "quantity": best[1],
                "unit": best[2],
                "r": round(best[3], 4),
                "untrained_best_abs_r": round(base, 4),
                "runners_up": [{"quantity": q, "unit": u, "r": round(r, 4)} for _, q, u, r in ranked[1:4]],
            }
        )
    return found


def bits_per_char(net: CharLM, ids: torch.Tensor, chunk: int = 4096) -> float:
    """Held-out cross-entropy in bits per character, one pass with the state carried over."""
    total, state = 0.0, None
    with torch.inference_mode():
        for s in range(0, len(ids) - 1, chunk):
            x = ids[s : s + chunk + 1]
            logits, state = net(x[:-1, None], state)
            total += float(F.cross_entropy(logits[:, 0], x[1:], reduction="sum"))
    return total / (len(ids) - 1) / math.log(2)


@recipe(
    "shakespeare-char",
    kind="char-lm",
    task="shakespeare",
    description="Character LSTM language model (1 layer, hidden 128) on Shakespeare",
    steps=7300,
    data=shakespeare.SOURCE + "; held out: The Tempest, Twelfth Night",
)
def shakespeare_char(r: Run) -> dict[str, Any]:
    train_text, held_out = shakespeare.split()
    if r.dry_run:
        train_text, held_out = train_text[:20_000], held_out[:3_000]
    vocab = Vocab.build(train_text, specials={"unk": "\ufffd"})
    data = torch.tensor(vocab.encode(train_text).ids)
    held_ids = torch.tensor(vocab.encode(held_out).ids)
    config = {"vocab_size": len(vocab), **CONFIG}
    untrained = CharLM(**config).eval()  # the same init as the trained net: the baseline
    net = CharLM(**config)
    net.load_state_dict(untrained.state_dict())
    gen = r.generator()
    window = min(WINDOW, len(data) - 2)

    def loss_fn(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        starts = torch.randint(0, len(data) - window - 1, (BATCH,), generator=gen)
        idx = starts[None, :] + torch.arange(window + 1)[:, None]  # (W+1, B)
        batch = data[idx]
        logits, _ = net(batch[:-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1:].reshape(-1))
        return loss, {"bits/char": float(loss.detach()) / math.log(2)}

    def evaluate() -> dict[str, float]:
        return {"held_out_bits_per_char": bits_per_char(net, held_ids[:50_000])}

    fit(
        r,
        net,
        loss_fn,
        lr=LR,
        weight_decay=WEIGHT_DECAY,
        warmup=50,
        floor=0.0,
        eval_every=max(1, r.steps // 10),
        evaluate=evaluate,
    )
    bpc = bits_per_char(net, held_ids)
    analysis_text = held_out[:60_000]
    units = unit_analysis(net, untrained, vocab, analysis_text)
    metrics = {
        "held_out_bits_per_char": round(bpc, 4),
        "train_chars": len(train_text),
        "held_out_chars": len(held_out),
        "units": units,
        "units_text_chars": len(analysis_text),
        "summary": {"bits/char (held-out plays)": round(bpc, 3)},
    }
    return r.checkpoint(net, config, vocab.to_dict(), metrics)
