"""``cloze-bi``, ``cloze-fwd``, ``cloze-bwd``: fill in a blanked-out character of Shakespeare (BiRNN page).

Three nets (``app.nets.cloze.ClozeLSTM``) with the same budget: the same training text (every work
but the held-out plays), the same number of steps, batch, window and learning-rate schedule, and
the same number of parameters to within 1 % (the one-direction LSTMs get hidden size 190 where the
bidirectional one has 128 per direction; that also matches the arithmetic per character). The only
difference is what the head sees at the blank: [→h ; ←h], →h alone (left context) or ←h alone
(right context).

Training reads random 96-character windows of true text from a zero state (as the page traces a
typed sentence) and uses every position of every window as the blank at once (``every_blank``),
so left and right contexts of 0 to 95 characters are all seen.

Metrics, on the held-out plays (The Tempest, Twelfth Night), on 20,000 positions drawn with a
fixed seed, the same positions for the three models: top-1 and top-5 accuracy with 30 characters of
context per side (the issue's reference: bidirectional 0.58, left-only 0.34), and the same with 1,
2, 5, 10 and 20 characters per side.
"""

from __future__ import annotations

from typing import Any

import torch

from app.nets.cloze import ClozeLSTM
from app.tasks import shakespeare
from app.tasks.cloze import (
    CONTEXT,
    build_vocab,
    centred_windows,
    encode_corpus,
    random_windows,
    sample_positions,
)
from app.tasks.vocab import Vocab
from app.train import Run, fit, recipe

EMBED = 32
HIDDEN = {"both": 128, "forward": 190, "backward": 190}  # equal parameter counts (see docstring)
BATCH, WINDOW, LR = 64, 96, 4e-3
STEPS = 600
EVAL_SEED = 20260  # held-out positions: fixed, so the three models are measured on the same ones
EVAL_COUNT = 20_000
CONTEXTS = (1, 2, 5, 10, 20, CONTEXT)
NAMES = {"both": "cloze-bi", "forward": "cloze-fwd", "backward": "cloze-bwd"}
SEES = {"both": "both sides", "forward": "left context only", "backward": "right context only"}


def cloze_accuracy(
    net: ClozeLSTM, ids: torch.Tensor, positions: torch.Tensor, context: int, blank_id: int, chunk: int = 2048
) -> dict[str, float]:
    """Top-1 and top-5 accuracy of filling in ``ids[p]`` from ``context`` characters per side."""
    top1 = top5 = 0
    with torch.inference_mode():
        for s in range(0, len(positions), chunk):
            windows, targets = centred_windows(ids, positions[s : s + chunk], context, blank_id)
            best = net(windows, context).topk(5, dim=-1).indices  # (N, 5)
            top1 += int((best[:, 0] == targets).sum())
            top5 += int((best == targets[:, None]).any(dim=1).sum())
    n = max(1, len(positions))
    return {"top1": top1 / n, "top5": top5 / n}


def _train(r: Run, direction: str) -> dict[str, Any]:
    train_text, held_out = shakespeare.split()
    eval_count = EVAL_COUNT
    if r.dry_run:
        train_text, held_out = train_text[:20_000], held_out[:3_000]
        eval_count = 200
    vocab: Vocab = build_vocab(train_text)
    blank_id = vocab.special_id("blank")
    ignore = torch.tensor([vocab.id(t) for t in vocab.specials.values()])  # never a target
    data = encode_corpus(vocab, train_text)
    held = encode_corpus(vocab, held_out)
    positions = sample_positions(held, CONTEXT, eval_count, EVAL_SEED, vocab)
    config: dict[str, Any] = {
        "vocab_size": len(vocab),
        "embed_size": EMBED,
        "hidden_size": HIDDEN[direction],
        "direction": direction,
    }
    net = ClozeLSTM(**config)
    gen = r.generator()
    window = min(WINDOW, len(data))

    def loss_fn(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        batch = random_windows(data, BATCH, window, gen)  # (W, B)
        loss, logits = net.loss(batch, blank_id, ignore)
        valid = ~torch.isin(batch, ignore)
        hits = (logits.detach().argmax(-1) == batch) & valid
        return loss, {"top-1": float(hits.sum()) / max(1, int(valid.sum()))}

    def evaluate() -> dict[str, float]:
        acc = cloze_accuracy(net, held, positions[:1000], CONTEXT, blank_id)
        return {"held_out_top1": acc["top1"]}

    fit(r, net, loss_fn, lr=LR, warmup=50, eval_every=max(1, r.steps // 10), evaluate=evaluate)
    by_context: dict[str, list[Any]] = {"context": list(CONTEXTS), "top1": [], "top5": []}
    for k in CONTEXTS:
        acc = cloze_accuracy(net, held, positions, k, blank_id)
        by_context["top1"].append(round(acc["top1"], 4))
        by_context["top5"].append(round(acc["top5"], 4))
    headline = {key: by_context[key][CONTEXTS.index(CONTEXT)] for key in ("top1", "top5")}
    metrics = {
        "sees": SEES[direction],
        "context_per_side": CONTEXT,
        "held_out_top1": headline["top1"],
        "held_out_top5": headline["top5"],
        "held_out_positions": len(positions),
        "by_context": by_context,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_chars": len(train_text),
        "held_out_chars": len(held_out),
        "summary": {
            f"top-1 ({CONTEXT}+{CONTEXT} chars, held-out plays)": round(headline["top1"], 3),
            f"top-5 ({CONTEXT}+{CONTEXT} chars, held-out plays)": round(headline["top5"], 3),
        },
    }
    return r.checkpoint(net, config, vocab.to_dict(), metrics)


DATA = shakespeare.SOURCE + "; held out: The Tempest, Twelfth Night"


@recipe(
    "cloze-bi",
    kind="cloze",
    task="shakespeare-cloze",
    description="Bidirectional LSTM (128 per direction) filling in a blanked-out character from both sides",
    steps=STEPS,
    data=DATA,
)
def cloze_bi(r: Run) -> dict[str, Any]:
    return _train(r, "both")


@recipe(
    "cloze-fwd",
    kind="cloze",
    task="shakespeare-cloze",
    description="Forward LSTM (hidden 190) filling in a blanked-out character from the left context only",
    steps=STEPS,
    data=DATA,
)
def cloze_fwd(r: Run) -> dict[str, Any]:
    return _train(r, "forward")


@recipe(
    "cloze-bwd",
    kind="cloze",
    task="shakespeare-cloze",
    description="Backward LSTM (hidden 190) filling in a blanked-out character from the right context only",
    steps=STEPS,
    data=DATA,
)
def cloze_bwd(r: Run) -> dict[str, Any]:
    return _train(r, "backward")
