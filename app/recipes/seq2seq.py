"""Seq2Seq recipes: ``dates`` (human dates → ISO), ``copy-attention`` and ``copy-plain``.

All three are the same ``Seq2Seq`` net (BiLSTM encoder, LSTMCell decoder) trained with teacher
forcing and cross-entropy; ``copy-plain`` differs from ``copy-attention`` only by
``attention=False`` and is trained on the identical budget (steps, batch, learning rate, seed), so
the gap between them is the bottleneck of one fixed vector C. Each checkpoint carries about eight
training snapshots (float16) for the page's training slider, with the exact match measured then.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.nn import functional as F

from app.nets.seq2seq import Seq2Seq, greedy_decode
from app.tasks import copy as copy_task
from app.tasks import dates as dates_task
from app.tasks.vocab import Vocab
from app.train import Run, fit, recipe, snapshot_steps

SPECIALS = {"pad": "<pad>", "bos": "<bos>", "eos": "<eos>", "unk": "<unk>"}


def make_vocab(chars: str) -> Vocab:
    """A character vocabulary with pad, bos, eos and unk first (ids 0–3)."""
    return Vocab.build(chars, specials=SPECIALS)


def net_config(source: Vocab, target: Vocab, **sizes: Any) -> dict[str, Any]:
    return {
        "source_vocab_size": len(source),
        "target_vocab_size": len(target),
        "pad_id": target.special_id("pad"),
        "bos_id": target.special_id("bos"),
        "eos_id": target.special_id("eos"),
        **sizes,
    }


def encode_sources(texts: Sequence[str], source: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded source ids (B, T) and lengths (B,)."""
    ids = [source.encode(t).ids for t in texts]
    lengths = torch.tensor([len(x) for x in ids])
    batch = torch.full((len(ids), int(lengths.max())), source.special_id("pad"), dtype=torch.long)
    for b, x in enumerate(ids):
        batch[b, : len(x)] = torch.tensor(x)
    return batch, lengths


def encode_targets(texts: Sequence[str], target: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs bos + y (B, L) and outputs y + eos (B, L), padded with pad."""
    pad, bos, eos = (target.special_id(r) for r in ("pad", "bos", "eos"))
    ids = [target.encode(t).ids for t in texts]
    width = max(len(x) for x in ids) + 1
    inputs = torch.full((len(ids), width), pad, dtype=torch.long)
    outputs = torch.full((len(ids), width), pad, dtype=torch.long)
    for b, x in enumerate(ids):
        inputs[b, : len(x) + 1] = torch.tensor([bos, *x])
        outputs[b, : len(x) + 1] = torch.tensor([*x, eos])
    return inputs, outputs


def teacher_forcing_loss(
    net: Seq2Seq, pairs: Sequence[tuple[str, str]], source: Vocab, target: Vocab
) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy of y_i given the gold y_<i, and the token accuracy, over non-pad positions."""
    src, lengths = encode_sources([s for s, _ in pairs], source)
    tgt_in, tgt_out = encode_targets([t for _, t in pairs], target)
    logits = net(src, lengths, tgt_in)  # (B, L, V)
    pad = target.special_id("pad")
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad)
    real = tgt_out != pad
    accuracy = ((logits.argmax(-1) == tgt_out) & real).sum() / real.sum()
    return loss, {"token_acc": float(accuracy)}


@torch.no_grad()
def translate_batch(
    net: Seq2Seq, texts: Sequence[str], source: Vocab, target: Vocab, max_len: int, chunk: int = 256
) -> list[str]:
    """Greedy decoding of many sources at once (batched, padded); the texts without specials."""
    net.eval()
    out: list[str] = []
    for start in range(0, len(texts), chunk):
        src, lengths = encode_sources(texts[start : start + chunk], source)
        decoded = greedy_decode(net, net.encode(src, lengths), max_len)
        out += [target.decode(decoded.row(b)) for b in range(src.shape[0])]
    return out


def exact_match(predictions: Sequence[str], gold: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(predictions, gold, strict=True)) / max(1, len(gold))


def token_accuracy(predictions: Sequence[str], gold: Sequence[str]) -> float:
    """Fraction of gold positions whose predicted token is right (a missing token is wrong)."""
    right = sum(
        sum(a == b for a, b in zip(p, g, strict=False)) for p, g in zip(predictions, gold, strict=True)
    )
    return right / max(1, sum(len(g) for g in gold))


def half(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Snapshots in float16 (they only drive the training slider): 8 of them cost 4 full copies."""
    return [{**s, "state_dict": {k: v.half() for k, v in s["state_dict"].items()}} for s in snapshots]


def train_seq2seq(
    r: Run,
    net: Seq2Seq,
    draw: Callable[[random.Random, int], list[tuple[str, str]]],
    source: Vocab,
    target: Vocab,
    *,
    batch: int,
    lr: float,
    snapshot_metric: Callable[[], dict[str, Any]],
    evaluate: Callable[[], dict[str, float]] | None = None,
) -> None:
    """Teacher forcing with the shared loop; batches come from ``draw(rng, batch)``."""
    data_rng = random.Random(r.rng.random())

    def loss_fn(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        return teacher_forcing_loss(net, draw(data_rng, batch), source, target)

    fit(
        r,
        net,
        loss_fn,
        lr=lr,
        warmup=min(50, max(1, r.steps // 10)),
        evaluate=evaluate,
        eval_every=max(1, r.steps // 5) if evaluate else 0,
        snapshots=snapshot_steps(r.steps),
        snapshot_metrics=snapshot_metric,
    )


# --- dates

DATES_SIZES = {"embed_size": 32, "hidden_size": 64, "decoder_size": 64, "attention_size": 32}
DATES_MAX_LEN = 16  # ISO dates are 10 characters + eos


def dates_eval_sets(seed: int, n: int) -> dict[str, list[dates_task.Example]]:
    """Fresh held-out examples: clean renderings and natural variants, on held-out days only."""
    rng = random.Random(f"dates-eval-{seed}")
    return {
        "clean": dates_task.generate(n, rng, "held_out", variant_rate=0.0),
        "variants": dates_task.generate(n, rng, "held_out", variant_rate=1.0),
    }


def dates_metrics(
    net: Seq2Seq, source: Vocab, target: Vocab, sets: dict[str, list[dates_task.Example]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, examples in sets.items():
        predictions = translate_batch(net, [e.source for e in examples], source, target, DATES_MAX_LEN)
        gold = [e.target for e in examples]
        out[name] = {"exact": exact_match(predictions, gold), "n": len(examples)}
        if name == "clean":
            by_locale: dict[str, list[bool]] = {}
            for e, p in zip(examples, predictions, strict=True):
                by_locale.setdefault(e.format.locale, []).append(p == e.target)
            out["by_locale"] = {k: round(sum(v) / len(v), 4) for k, v in sorted(by_locale.items())}
            out["errors"] = [
                {
                    "source": e.source,
                    "expected": e.target,
                    "got": p,
                    "locale": e.format.locale,
                    "pattern": e.format.pattern,
                }
                for e, p in zip(examples, predictions, strict=True)
                if p != e.target
            ][:20]
    return out


@recipe(
    "dates",
    kind="seq2seq",
    task="dates",
    description="Human-written dates in 10 locales → ISO YYYY-MM-DD (BiLSTM + LSTM, additive attention)",
    steps=1300,
    data=dates_task.SOURCE,
)
def dates(r: Run) -> dict[str, Any]:
    source = make_vocab(dates_task.source_alphabet())
    target = make_vocab(dates_task.TARGET_ALPHABET)
    config = net_config(source, target, attention=True, **DATES_SIZES)
    torch.manual_seed(r.seed)
    net = Seq2Seq(**config)
    n_eval = 50 if r.dry_run else 2000
    sets = dates_eval_sets(r.seed, n_eval)
    quick = {k: v[: min(200, n_eval)] for k, v in sets.items()}

    def draw(rng: random.Random, n: int) -> list[tuple[str, str]]:
        return [(e.source, e.target) for e in dates_task.generate(n, rng, "train", variant_rate=0.5)]

    def snapshot_metric() -> dict[str, Any]:
        m = dates_metrics(net, source, target, {"clean": quick["clean"]})
        return {"exact": round(m["clean"]["exact"], 4), "n": m["clean"]["n"]}

    def evaluate() -> dict[str, float]:
        return {"held_out_exact": snapshot_metric()["exact"]}

    train_seq2seq(
        r, net, draw, source, target, batch=64, lr=3e-3, snapshot_metric=snapshot_metric, evaluate=evaluate
    )
    m = dates_metrics(net, source, target, sets)
    kept = dates_task.formats()
    metrics = {
        "held_out_exact": round(m["clean"]["exact"], 4),
        "variants_exact": round(m["variants"]["exact"], 4),
        "held_out_n": m["clean"]["n"],
        "by_locale": m["by_locale"],
        "errors": m["errors"],
        "formats": len(kept),
        "patterns": len({f.resolved for f in kept}),
        "locales": len({f.locale for f in kept}),
        "dropped_ambiguous": len(dates_task.audit().dropped),
        "held_out_days": len(dates_task.days("held_out")),
        "summary": {
            "exact match (held-out days)": round(m["clean"]["exact"], 4),
            "exact match (natural variants)": round(m["variants"]["exact"], 4),
        },
    }
    return r.checkpoint(
        net,
        config,
        {"source": source.to_dict(), "target": target.to_dict()},
        metrics,
        snapshots=half(r.snapshots),
    )


# --- copy-attention and copy-plain: one recipe body, two flags, equal budgets

COPY_SIZES = {"embed_size": 16, "hidden_size": 64, "decoder_size": 96, "attention_size": 32}
COPY_STEPS, COPY_BATCH, COPY_LR = 3000, 64, 4e-3
COPY_EVAL_PER_BUCKET = 200
COPY_POOL = 8  # batches drawn at once, sorted by length, then served in random order


def copy_batches(rng: random.Random, batch: int, pool: int = COPY_POOL) -> Iterator[list[tuple[str, str]]]:
    """Batches of copy pairs with similar lengths: the same uniform length distribution overall,
    but a batch decodes for about its own length instead of the longest (≈ 1.6× faster)."""
    while True:
        pairs = sorted(copy_task.generate(batch * pool, rng), key=lambda p: len(p[0]))
        chunks = [pairs[k * batch : (k + 1) * batch] for k in range(pool)]
        rng.shuffle(chunks)
        yield from chunks


def copy_bucket_metrics(
    net: Seq2Seq, source: Vocab, target: Vocab, seed: int, per_bucket: int
) -> list[dict[str, Any]]:
    """Exact match and token accuracy per length bucket, on fresh strings (the last bucket is
    longer than any training string)."""
    rng = random.Random(f"copy-eval-{seed}")
    rows = []
    for lo, hi in copy_task.BUCKETS:
        pairs = copy_task.generate(per_bucket, rng, lo, hi)
        predictions = translate_batch(net, [s for s, _ in pairs], source, target, max_len=hi + 10)
        gold = [t for _, t in pairs]
        rows.append(
            {
                "bucket": copy_task.bucket_label(lo, hi),
                "min_length": lo,
                "max_length": hi,
                "seen_in_training": hi <= copy_task.MAX_LENGTH,
                "exact": round(exact_match(predictions, gold), 4),
                "token_accuracy": round(token_accuracy(predictions, gold), 4),
                "n": len(pairs),
            }
        )
    return rows


def copy_recipe(r: Run, attention: bool) -> dict[str, Any]:
    source = make_vocab(copy_task.SYMBOLS)
    target = make_vocab(copy_task.SYMBOLS)
    config = net_config(source, target, attention=attention, **COPY_SIZES)
    torch.manual_seed(r.seed)
    net = Seq2Seq(**config)
    per_bucket = 10 if r.dry_run else COPY_EVAL_PER_BUCKET

    batches: Iterator[list[tuple[str, str]]] | None = None

    def draw(rng: random.Random, n: int) -> list[tuple[str, str]]:
        nonlocal batches
        if batches is None:
            batches = copy_batches(rng, n)
        return next(batches)

    def snapshot_metric() -> dict[str, Any]:
        rows = copy_bucket_metrics(net, source, target, r.seed + 1, min(per_bucket, 40))
        return {"exact_by_bucket": {row["bucket"]: row["exact"] for row in rows}}

    train_seq2seq(r, net, draw, source, target, batch=COPY_BATCH, lr=COPY_LR, snapshot_metric=snapshot_metric)
    rows = copy_bucket_metrics(net, source, target, r.seed, per_bucket)
    summary = {f"exact match, length {row['bucket']}": row["exact"] for row in rows}
    metrics = {
        "buckets": rows,
        "attention": attention,
        "train_lengths": [copy_task.MIN_LENGTH, copy_task.MAX_LENGTH],
        "summary": summary,
    }
    return r.checkpoint(
        net,
        config,
        {"source": source.to_dict(), "target": target.to_dict()},
        metrics,
        snapshots=half(r.snapshots),
    )


@recipe(
    "copy-attention",
    kind="seq2seq",
    task="copy",
    description="Copy a string of 20 symbols, lengths 5–40: encoder–decoder WITH additive attention",
    steps=COPY_STEPS,
    data=copy_task.SOURCE,
)
def copy_attention(r: Run) -> dict[str, Any]:
    return copy_recipe(r, attention=True)


@recipe(
    "copy-plain",
    kind="seq2seq",
    task="copy",
    description="Copy a string of 20 symbols, lengths 5–40: the classic encoder–decoder, one fixed vector C",
    steps=COPY_STEPS,
    data=copy_task.SOURCE,
)
def copy_plain(r: Run) -> dict[str, Any]:
    return copy_recipe(r, attention=False)
