"""``idioms``: the toy translation where greedy decoding misses the most probable output (beam page).

The ``Seq2Seq`` net (BiLSTM encoder, LSTM decoder, additive attention) over word vocabularies,
trained with teacher forcing on targets drawn from the grammar (``app/tasks/idioms.py``). Maximum
likelihood on sampled targets teaches the net the grammar's distribution itself, so after training
it believes P(literal) ≈ 0.4, P(head) ≈ 0.6 and P(ending | head) ≈ 1/3 at every word, and greedy
decoding inherits greedy's mistake: it takes the head.

Metrics, on 500 fresh held-out sentences (1–8 words, never trained on): how often beam search of
width 5 returns an output whose TRUE probability is higher than greedy's, how often greedy wins,
how often each finds the true best output; the same with the network's own probabilities; and the
calibration above (mean model probabilities at word starts and after a head, teacher-forced).
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch

from app.decoding import Seq2SeqDecoder, beam_search, greedy
from app.nets.seq2seq import Seq2Seq
from app.recipes.seq2seq import SPECIALS, encode_sources, encode_targets, half, net_config, train_seq2seq
from app.tasks import idioms as task
from app.tasks.vocab import Vocab
from app.train import Run, recipe

SIZES = {"embed_size": 32, "hidden_size": 64, "decoder_size": 64, "attention_size": 32}
STEPS, BATCH, LR = 2000, 64, 3e-3
MAX_LEN = 2 * task.MAX_WORDS + 1  # every word an idiom, then eos
EVAL_SENTENCES = 500
BEAM = 5


def vocabs() -> tuple[Vocab, Vocab]:
    source = Vocab.build(task.WORDS, level="word", specials=SPECIALS)
    target = Vocab.build(task.target_tokens(), level="word", specials=SPECIALS)
    return source, target


def eval_sentences(seed: int, n: int) -> list[str]:
    """Fresh held-out sentences (their own seed; the CRC split keeps them out of training)."""
    rng = random.Random(f"idioms-eval-{seed}")
    return [s for s, _ in task.generate(n, rng, "held_out")]


@torch.no_grad()
def compare(
    net: Seq2Seq, source: Vocab, target: Vocab, sentences: list[str], widths: tuple[int, ...] = (BEAM,)
) -> dict[str, Any]:
    """Greedy vs beam search of each width on each sentence, judged by the TRUE probabilities."""
    net.eval()
    out: dict[str, Any] = {"n": len(sentences)}
    counts: dict[str, int] = {}

    def bump(key: str, value: bool = True) -> None:
        counts[key] = counts.get(key, 0) + int(value)

    log_gain: dict[int, float] = dict.fromkeys(widths, 0.0)
    for text in sentences:
        memory = net.encode(torch.tensor(source.encode(text).ids))
        decoder = Seq2SeqDecoder(net, memory)
        g = greedy(decoder, MAX_LEN)
        g_tokens = [target.tokens[i] for i in g.tokens]
        g_true = task.true_logprob(text, g_tokens)
        assert g_true is not None
        best_true = math.log(task.P_LITERAL) * len(text.split())
        bump("greedy_grammatical", g_true > -math.inf)
        bump("greedy_true_best", g_true >= best_true - 1e-9)
        for k in widths:
            b = beam_search(decoder, k, MAX_LEN).hypotheses[0]
            b_true = task.true_logprob(text, [target.tokens[i] for i in b.tokens])
            assert b_true is not None
            bump(f"beam{k}_more_probable", b_true > g_true + 1e-9)
            bump(f"greedy_more_probable_than_beam{k}", g_true > b_true + 1e-9)
            bump(f"beam{k}_true_best", b_true >= best_true - 1e-9)
            bump(f"beam{k}_grammatical", b_true > -math.inf)
            bump(f"beam{k}_model_more_probable", b.logprob > g.logprob + 1e-9)
            if b_true > -math.inf and g_true > -math.inf:
                log_gain[k] += (b_true - g_true) / math.log(2)
    out.update({key: counts.get(key, 0) for key in sorted(counts)})
    for k in widths:
        out[f"beam{k}_mean_log2_gain"] = round(log_gain[k] / max(1, len(sentences)), 4)
    return out


@torch.no_grad()
def calibration(net: Seq2Seq, source: Vocab, target: Vocab, pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Mean model probability of the literal and of the head at each word's first token, of the
    ending that follows a head, and of eos after the last word (teacher-forced on sampled targets).
    The grammar's values: 0.4, 0.6, 1/3 and 1."""
    net.eval()
    src, lengths = encode_sources([s for s, _ in pairs], source)
    tgt_in, _ = encode_targets([t for _, t in pairs], target)
    probs = torch.softmax(net(src, lengths, tgt_in), dim=-1)  # (B, L, V)
    sums = {"literal": 0.0, "head": 0.0, "ending": 0.0, "eos": 0.0}
    counts = dict.fromkeys(sums, 0)
    eos = target.special_id("eos")
    for b, (text, tgt) in enumerate(pairs):
        tokens = tgt.split()
        i = 0
        for w in text.split():
            e = task.LEXICON[w]
            sums["literal"] += float(probs[b, i, target.id(e.literal)])
            sums["head"] += float(probs[b, i, target.id(e.head)])
            counts["literal"] += 1
            counts["head"] += 1
            if tokens[i] == e.head:
                for ending in e.endings:  # the mean over the three: the probability of one
                    sums["ending"] += float(probs[b, i + 1, target.id(ending)]) / 3
                counts["ending"] += 1
                i += 2
            else:
                i += 1
        sums["eos"] += float(probs[b, i, eos])
        counts["eos"] += 1
    return {key: round(sums[key] / max(1, counts[key]), 4) for key in sums}


@recipe(
    "idioms",
    kind="seq2seq",
    task="idioms",
    description="Spanish verbs → English, literal (p = 0.4) or idiom (3 × 0.2): greedy takes the idiom, "
    "the most probable output is literal (BiLSTM + LSTM, additive attention)",
    steps=STEPS,
    data=task.SOURCE,
)
def idioms(r: Run) -> dict[str, Any]:
    source, target = vocabs()
    config = net_config(source, target, attention=True, **SIZES)
    torch.manual_seed(r.seed)
    net = Seq2Seq(**config)
    n_eval = 6 if r.dry_run else EVAL_SENTENCES
    sentences = eval_sentences(r.seed, n_eval)
    quick = sentences[: min(100, n_eval)]
    calibration_pairs = task.generate(
        20 if r.dry_run else 1000, random.Random(f"idioms-calibration-{r.seed}"), "held_out"
    )

    def draw(rng: random.Random, n: int) -> list[tuple[str, str]]:
        return task.generate(n, rng, "train")

    def snapshot_metric() -> dict[str, Any]:
        c = compare(net, source, target, quick)
        return {
            "beam5_more_probable": round(c["beam5_more_probable"] / c["n"], 4),
            "greedy_grammatical": round(c["greedy_grammatical"] / c["n"], 4),
            "n": c["n"],
        }

    train_seq2seq(r, net, draw, source, target, batch=BATCH, lr=LR, snapshot_metric=snapshot_metric)
    c = compare(net, source, target, sentences, widths=(BEAM, 16))
    cal = calibration(net, source, target, calibration_pairs)
    n = c["n"]
    metrics = {
        "held_out_sentences": n,
        "comparison": c,
        "calibration": cal,
        "grammar": {"p_literal": task.P_LITERAL, "p_ending": task.P_ENDING, "words": len(task.WORDS)},
        "summary": {
            "beam 5 more probable than greedy (true P)": round(c["beam5_more_probable"] / n, 4),
            "greedy more probable than beam 5": round(c["greedy_more_probable_than_beam5"] / n, 4),
            "beam 5 finds the true best": round(c["beam5_true_best"] / n, 4),
            "greedy finds the true best": round(c["greedy_true_best"] / n, 4),
            "model P(literal) at a word start": cal["literal"],
        },
    }
    return r.checkpoint(
        net,
        config,
        {"source": source.to_dict(), "target": target.to_dict()},
        metrics,
        snapshots=half(r.snapshots),
    )
