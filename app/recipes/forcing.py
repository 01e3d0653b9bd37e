"""Teacher-forcing recipes: ``copy-tf-1.0``, ``copy-tf-0.5``, ``copy-tf-0.0`` and ``copy-tf-scheduled``.

The attention copy model of ``copy-attention`` (same sizes, task, batches, learning rate and seed)
trained on an equal budget of steps, changing ONE thing: what the decoder reads at each step while
training. With ratio r, each row at each step reads the gold previous token with probability r and
its own previous argmax otherwise (``app.nets.forcing.scheduled_sampling``): 1.0 is pure teacher
forcing, 0.0 pure free running, 0.5 half and half. ``copy-tf-scheduled`` lowers r from 1 to about
0 with Bengio et al.'s (2015) inverse-sigmoid schedule r(step) = k / (k + exp(step / k)).

Every model is measured the way it is used, free running (greedy), never given the label:
curves over training on a fixed held-out set (loss under both regimes, token accuracy and exact
match), exact match by length bucket at the end, and recovery after one injected wrong token.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import torch
from torch.nn import functional as F

from app.nets.forcing import scheduled_sampling, unroll
from app.nets.seq2seq import Seq2Seq
from app.recipes.seq2seq import (
    COPY_BATCH,
    COPY_LR,
    COPY_SIZES,
    copy_batches,
    copy_bucket_metrics,
    encode_sources,
    encode_targets,
    exact_match,
    make_vocab,
    net_config,
    translate_batch,
)
from app.tasks import copy as copy_task
from app.tasks.vocab import Vocab
from app.train import Run, fit, recipe

FORCING_STEPS = 750  # the equal budget of every ratio (the reference point)
CURVE_POINTS = 30  # held-out evaluations over training
CURVE_EVAL_N = 128  # fixed held-out strings (lengths 5–40) for the curves
RECOVERY_N = 300  # strings for the injected-error test
RECOVERY_LENGTHS = (11, 20)  # where every ratio copies most strings, so "kept" compares robustness
SCHEDULE_K = 85.0  # inverse sigmoid: r = 0.5 near step k·ln k ≈ 378, half of 750

Pairs = Sequence[tuple[str, str]]


def forcing_loss(
    net: Seq2Seq,
    pairs: Pairs,
    source: Vocab,
    target: Vocab,
    ratio: float,
    generator: torch.Generator,
    per: Literal["token", "sequence"] = "token",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy of the gold y_i when the decoder reads gold tokens with probability ``ratio``
    and its own argmax otherwise; also the token accuracy and the fraction of own tokens fed."""
    src, lengths = encode_sources([s for s, _ in pairs], source)
    tgt_in, tgt_out = encode_targets([t for _, t in pairs], target)
    memory = net.encode(src, lengths)
    run, own = scheduled_sampling(net, memory, tgt_in, ratio, generator, per)
    logits = run.logits  # (B, L, V)
    pad = target.special_id("pad")
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad)
    real = tgt_out != pad  # (B, L)
    accuracy = ((logits.argmax(-1) == tgt_out) & real).sum() / real.sum()
    fed = real.clone()
    fed[:, 0] = False  # step 0 reads bos in every mode
    own_fraction = (own & fed).sum() / fed.sum().clamp_min(1)
    return loss, {"token_acc": float(accuracy), "own_fed": float(own_fraction)}


@torch.no_grad()
def held_out_losses(net: Seq2Seq, pairs: Pairs, source: Vocab, target: Vocab) -> dict[str, float]:
    """Loss and token accuracy of the gold tokens under teacher forcing and under free running
    (the decoder fed its own argmax for the whole label length, ratio 0)."""
    net.eval()
    out: dict[str, float] = {}
    never = torch.Generator().manual_seed(0)  # ratio 0 and 1 draw no coin that matters
    for name, ratio in (("tf", 1.0), ("free", 0.0)):
        loss, shown = forcing_loss(net, pairs, source, target, ratio, never)
        out[f"{name}_loss"] = float(loss)
        out[f"{name}_token_acc"] = shown["token_acc"]
    return out


@torch.no_grad()
def recovery_after_error(net: Seq2Seq, source: Vocab, target: Vocab, seed: int, n: int) -> dict[str, Any]:
    """Inject one wrong symbol into a free run and see whether the rest is still right.

    Fresh strings of lengths 11–40; for each, a step s uniform in the first half of the string
    and a wrong symbol uniform among the 19 others; the free run writes it at step s (so step s+1
    reads it), then continues greedily. "rest exact": steps s+1..end (eos included) all right.
    The same strings without injection give the baseline; "kept" is the share of the strings
    right without the error that are still right with it (robustness, apart from skill).
    """
    net.eval()
    rng = random.Random(f"forcing-recovery-{seed}")
    pairs = copy_task.generate(n, rng, RECOVERY_LENGTHS[0], RECOVERY_LENGTHS[1])
    src, lengths = encode_sources([s for s, _ in pairs], source)
    _, tgt_out = encode_targets([t for _, t in pairs], target)  # (B, L): y + eos, padded
    B, L = tgt_out.shape
    steps = torch.tensor([rng.randint(0, len(s) // 2 - 1) for s, _ in pairs])  # (B,)
    wrong = torch.tensor(
        [
            target.id(rng.choice([c for c in copy_task.SYMBOLS if c != s[k]]))
            for (s, _), k in zip(pairs, steps.tolist(), strict=True)
        ]
    )
    memory = net.encode(src, lengths)

    def written_tokens(inject: bool) -> torch.Tensor:
        def next_input(i: int, logits: torch.Tensor) -> torch.Tensor:
            token = logits.argmax(dim=-1)
            return torch.where(steps == i, wrong, token) if inject else token

        run = unroll(net, memory, next_input, L)
        written = torch.cat([run.fed[:, 1:], run.logits[:, -1:].argmax(-1)], dim=1)  # (B, L)
        if inject:  # the last column is an argmax unless the injection is at the last step
            last = steps == L - 1
            written[last, -1] = wrong[last]
        return written

    positions = torch.arange(L)[None, :]  # (1, L)
    real = tgt_out != target.special_id("pad")
    after = real & (positions > steps[:, None])  # steps s+1 .. eos
    out: dict[str, Any] = {"n": n, "lengths": list(RECOVERY_LENGTHS)}
    exact: dict[str, torch.Tensor] = {}
    for name, inject in (("injected", True), ("baseline", False)):
        right = written_tokens(inject) == tgt_out
        exact[name] = (right | ~after).all(dim=1)  # (B,)
        rest_acc = (right & after).sum() / after.sum()
        out[name] = {
            "rest_exact": round(float(exact[name].float().mean()), 4),
            "rest_token_accuracy": round(float(rest_acc), 4),
        }
    # robustness alone: of the strings the model gets right, how many survive one error
    survived = exact["injected"] & exact["baseline"]
    out["kept"] = round(float(survived.sum() / exact["baseline"].sum().clamp_min(1)), 4)
    out["kept_of"] = int(exact["baseline"].sum())
    return out


def schedule_ratio(step: float, k: float = SCHEDULE_K) -> float:
    """Bengio et al.'s inverse sigmoid decay of the teacher-forcing ratio."""
    return k / (k + math.exp(min(step / k, 700.0)))


def forcing_recipe(
    r: Run, ratio: Callable[[int], float], label: str, per: Literal["token", "sequence"]
) -> dict[str, Any]:
    source = make_vocab(copy_task.SYMBOLS)
    target = make_vocab(copy_task.SYMBOLS)
    config = net_config(source, target, attention=True, **COPY_SIZES)
    torch.manual_seed(r.seed)
    net = Seq2Seq(**config)
    coins = r.generator(1)
    per_bucket = 10 if r.dry_run else 200
    curve_set = copy_task.generate(
        16 if r.dry_run else CURVE_EVAL_N, random.Random(f"forcing-curve-{r.seed}")
    )

    # Data exactly as copy-attention draws it (train_seq2seq's data stream from the same seed).
    data_rng = random.Random(r.rng.random())
    batches: Iterator[list[tuple[str, str]]] = copy_batches(data_rng, COPY_BATCH)
    curves: dict[str, list[float]] = {
        k: []
        for k in (
            "step",
            "ratio",
            "train_loss",
            "tf_loss",
            "free_loss",
            "tf_token_acc",
            "free_token_acc",
            "free_exact",
        )
    }
    window: list[float] = []
    now = {"step": 0}

    def loss_fn(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        now["step"] = step
        loss, shown = forcing_loss(net, next(batches), source, target, ratio(step), coins, per)
        window.append(float(loss.detach()))
        return loss, shown

    def evaluate() -> dict[str, float]:
        values = held_out_losses(net, curve_set, source, target)
        predictions = translate_batch(
            net, [s for s, _ in curve_set], source, target, max_len=copy_task.MAX_LENGTH + 10
        )
        gold = [t for _, t in curve_set]
        values["free_exact"] = exact_match(predictions, gold)
        curves["step"].append(now["step"])
        curves["ratio"].append(round(ratio(now["step"]), 4))
        curves["train_loss"].append(round(sum(window) / max(1, len(window)), 4))
        window.clear()
        for key in ("tf_loss", "free_loss", "tf_token_acc", "free_token_acc", "free_exact"):
            curves[key].append(round(values[key], 4))
        return values

    fit(
        r,
        net,
        loss_fn,
        lr=COPY_LR,
        warmup=min(50, max(1, r.steps // 10)),
        evaluate=evaluate,
        eval_every=max(1, r.steps // CURVE_POINTS),
    )
    rows = copy_bucket_metrics(net, source, target, r.seed, per_bucket)
    recovery = recovery_after_error(net, source, target, r.seed, 20 if r.dry_run else RECOVERY_N)
    summary: dict[str, Any] = {f"exact match, length {row['bucket']}": row["exact"] for row in rows}
    summary["copies kept exact after one injected error"] = recovery["kept"]
    metrics = {
        "teacher_forcing": label,
        "buckets": rows,
        "curves": curves,
        "recovery": recovery,
        "final_free_loss": curves["free_loss"][-1],
        "final_tf_loss": curves["tf_loss"][-1],
        "train_lengths": [copy_task.MIN_LENGTH, copy_task.MAX_LENGTH],
        "summary": summary,
    }
    return r.checkpoint(net, config, {"source": source.to_dict(), "target": target.to_dict()}, metrics)


def _register(ratio: float) -> None:
    name = f"copy-tf-{ratio:.1f}"

    @recipe(
        name,
        kind="seq2seq",
        task="copy",
        description=f"Copy model with attention, trained with teacher-forcing ratio {ratio:.1f} "
        f"({FORCING_STEPS} steps, equal budget)",
        steps=FORCING_STEPS,
        data=copy_task.SOURCE,
    )
    def run(r: Run) -> dict[str, Any]:
        return forcing_recipe(r, lambda step: ratio, f"ratio {ratio:.1f}", "token")


for _ratio in (1.0, 0.5, 0.0):
    _register(_ratio)


@recipe(
    "copy-tf-scheduled",
    kind="seq2seq",
    task="copy",
    description=f"Copy model with attention, scheduled sampling: teacher-forcing ratio decays 1 → 0 "
    f"(inverse sigmoid, {FORCING_STEPS} steps, equal budget)",
    steps=FORCING_STEPS,
    data=copy_task.SOURCE,
)
def copy_tf_scheduled(r: Run) -> dict[str, Any]:
    return forcing_recipe(
        r,
        lambda step: schedule_ratio(step * FORCING_STEPS / max(1, r.steps)),
        f"scheduled, k = {SCHEDULE_K:g}",
        "token",
    )
