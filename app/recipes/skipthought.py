"""The ``stories-skipthought`` recipe: skip-thought vectors on generated ordered stories.

Data: 24 000 training stories from ``app.tasks.stories`` (10 scripts) and, for the metrics, 2 000
freshly generated held-out stories whose (script, protagonist) pairs never occur in training.
Every sentence occurrence is one training example: encode it, then teacher-force the previous
decoder on the sentence before it and the next decoder on the sentence after it. At a story's
edge the neighbour is the empty sentence (just <eos>), so the decoders also learn where stories
start and end. Loss: cross-entropy per target token, both decoders summed.

Metrics on held-out stories (``skipthought_metrics``), over sentences that have that neighbour:

* perplexity exp(mean NLL per target token, <eos> included) and token accuracy (teacher-forced
  argmax) of each decoder, with the sentence's own thought vector;
* the same with SHUFFLED thought vectors (each sentence's decoders get another held-out sentence's
  vector, a random derangement): the control that tells "the vector carries the neighbours" from
  "the decoders learned a language model" (on Shakespeare skip-thought failed exactly there);
* the same with the vector of a sentence at the SAME PLACE (same script, same position) of another
  held-out story: what that control still gets right comes from the script and the position; the
  gap to the sentence's own vector is what the sentence's content adds;
* exact match of the greedy decode against the true neighbour: over every case, and over the cases
  the generator marks as forced (the neighbour is a function of the sentence's text alone).

The checkpoint also carries what the page needs (kept small): the distinct training sentences as
token ids (int16, the nearest-neighbour index is encoded from them when the server loads the
model), their script, a fixed 2-D PCA of their thought vectors (mean and two components), and a
stratified sample of sentence occurrences for the map, with their place in the story.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from app.nets.skipthought import SIDES, Side, SkipThought
from app.tasks import stories as stories_task
from app.tasks.vocab import Vocab
from app.train import Run, fit, recipe

SPECIALS = {"pad": "<pad>", "bos": "<bos>", "eos": "<eos>", "unk": "<unk>"}
SIZES = {"embed_size": 64, "hidden_size": 128, "decoder_size": 128}
TRAIN_STORIES, HELD_OUT_STORIES = 24_000, 2_000
BATCH, LR = 128, 3e-3
MAP_PER_SCRIPT = 200  # map points per script
MAX_DECODE = 20  # generous: the longest story sentence has 12 tokens + <eos>


def make_vocab(texts: Sequence[str]) -> Vocab:
    """Word vocabulary of the training sentences; pad, bos, eos, unk first (ids 0–3)."""
    return Vocab.build((w for t in texts for w in t.split()), level="word", specials=SPECIALS)


@dataclass
class Corpus:
    """Sentences once each (``texts``), and every occurrence as (sentence, previous, next) indices.

    Index ``len(texts)`` is the empty sentence: the neighbour of a story's first and last sentence.
    """

    texts: list[str]  # distinct sentences
    script: list[int]  # script index of each distinct sentence
    inputs: torch.Tensor  # (N + 1, L) bos + y, padded
    targets: torch.Tensor  # (N + 1, L) y + eos, padded
    lengths: torch.Tensor  # (N + 1,) tokens in y (0 for the empty sentence)
    current: torch.Tensor  # (S,) each occurrence's sentence
    previous: torch.Tensor  # (S,) its previous sentence (N = none)
    next: torch.Tensor  # (S,) its next sentence (N = none)
    sentences: list[stories_task.Sentence]  # (S,) the occurrences, with the generator's flags
    story_length: torch.Tensor  # (S,)

    @property
    def empty(self) -> int:
        return len(self.texts)


def build_corpus(stories: Sequence[stories_task.Story], vocab: Vocab) -> Corpus:
    index: dict[str, int] = {}
    script_ids = {name: i for i, name in enumerate(stories_task.SCRIPTS)}
    texts: list[str] = []
    scripts: list[int] = []
    current: list[int] = []
    previous: list[int] = []
    following: list[int] = []
    occurrences: list[stories_task.Sentence] = []
    story_length: list[int] = []
    for story in stories:
        ids = []
        for s in story.sentences:
            if s.text not in index:
                index[s.text] = len(texts)
                texts.append(s.text)
                scripts.append(script_ids[s.script])
            ids.append(index[s.text])
        for k, s in enumerate(story.sentences):
            current.append(ids[k])
            previous.append(ids[k - 1] if k > 0 else -1)
            following.append(ids[k + 1] if k + 1 < len(ids) else -1)
            occurrences.append(s)
            story_length.append(len(ids))
    n = len(texts)
    pad, bos, eos = (vocab.special_id(r) for r in ("pad", "bos", "eos"))
    encoded = [vocab.encode(t).ids for t in texts] + [[]]
    width = max(len(x) for x in encoded) + 1
    inputs = torch.full((n + 1, width), pad, dtype=torch.long)
    targets = torch.full((n + 1, width), pad, dtype=torch.long)
    for i, x in enumerate(encoded):
        inputs[i, : len(x) + 1] = torch.tensor([bos, *x])
        targets[i, : len(x) + 1] = torch.tensor([*x, eos])
    none = lambda xs: torch.tensor([n if x < 0 else x for x in xs])  # noqa: E731
    return Corpus(
        texts=texts,
        script=scripts,
        inputs=inputs,
        targets=targets,
        lengths=torch.tensor([len(x) for x in encoded]),
        current=torch.tensor(current),
        previous=none(previous),
        next=none(following),
        sentences=occurrences,
        story_length=torch.tensor(story_length),
    )


def source_batch(corpus: Corpus, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder input for distinct sentences ``rows``: ids without bos (B, T) and lengths (B,)."""
    lengths = corpus.lengths[rows].clamp_min(1)
    src = corpus.inputs[rows, 1 : int(lengths.max()) + 1]  # drop bos: the encoder reads y only
    return src, lengths


def target_batch(corpus: Corpus, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    width = int(corpus.lengths[rows].max()) + 1
    return corpus.inputs[rows, :width], corpus.targets[rows, :width]


def batch_loss(
    net: SkipThought, corpus: Corpus, occ: torch.Tensor, pad: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """Summed cross-entropy of both decoders per target token, and the token accuracy."""
    src, lengths = source_batch(corpus, corpus.current[occ])
    thought, _ = net.encode(src, lengths)  # (B, H)
    total = torch.zeros(())
    right = count = 0
    for side, rows in zip(SIDES, (corpus.previous[occ], corpus.next[occ]), strict=True):
        tgt_in, tgt_out = target_batch(corpus, rows)
        logits = net.teacher_force(side, thought, tgt_in)  # (B, L, V)
        total = total + F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad, reduction="sum"
        )
        real = tgt_out != pad
        right += int(((logits.argmax(-1) == tgt_out) & real).sum())
        count += int(real.sum())
    return total / count, {"token_acc": right / count}


# --- evaluation


@torch.no_grad()
def encode_all(net: SkipThought, corpus: Corpus, rows: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Thought vectors (len(rows), H) of distinct sentences ``rows``."""
    out = []
    for start in range(0, len(rows), chunk):
        src, lengths = source_batch(corpus, rows[start : start + chunk])
        out.append(net.encode(src, lengths)[0])
    return torch.cat(out) if out else torch.zeros(0, net.hidden_size)


@torch.no_grad()
def greedy_batch(net: SkipThought, side: Side, thought: torch.Tensor, max_len: int) -> list[list[int]]:
    """Greedy decoding of B thought vectors at once; each row's ids up to (without) <eos>."""
    B = thought.shape[0]
    state = net.initial_state(side, thought)
    prev = torch.full((B,), net.bos_id, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    rows: list[list[int]] = [[] for _ in range(B)]
    for _ in range(max_len):
        logp, state = net.step(side, prev, state, thought)
        prev = logp.argmax(-1)
        done_now = done | (prev == net.eos_id)
        for b in torch.nonzero(~done_now).flatten().tolist():
            rows[b].append(int(prev[b]))
        done = done_now
        if bool(done.all()):
            break
    return rows


@torch.no_grad()
def teacher_forced(
    net: SkipThought, corpus: Corpus, side: Side, thought: torch.Tensor, rows: torch.Tensor, pad: int
) -> tuple[float, int, int]:
    """(summed NLL, right tokens, tokens) of one decoder on target sentences ``rows``."""
    tgt_in, tgt_out = target_batch(corpus, rows)
    logits = net.teacher_force(side, thought, tgt_in)
    nll = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad, reduction="sum"
    )
    real = tgt_out != pad
    return float(nll), int(((logits.argmax(-1) == tgt_out) & real).sum()), int(real.sum())


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation with no fixed point: each row gets another row's vector."""
    if n < 2:
        return torch.arange(n)
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(1)  # a single cycle through a random order
    return perm


def same_place(corpus: Corpus, generator: torch.Generator) -> torch.Tensor:
    """A derangement within each (script, position) group: every sentence gets the vector of a
    sentence at the same place of another story of the same script. What the decoders still get
    right from it comes from the script and the position alone; the rest needs the content."""
    perm = torch.arange(len(corpus.sentences))
    groups: dict[tuple[str, int], list[int]] = {}
    for k, s in enumerate(corpus.sentences):
        groups.setdefault((s.script, s.position), []).append(k)
    for members in groups.values():
        if len(members) > 1:
            idx = torch.tensor(members)
            perm[idx] = idx[derangement(len(members), generator)]
    return perm


@torch.no_grad()
def skipthought_metrics(
    net: SkipThought, corpus: Corpus, vocab: Vocab, seed: int, chunk: int = 1024
) -> dict[str, Any]:
    """Perplexity, token accuracy and exact match of both decoders on ``corpus`` (held-out stories),
    with each sentence's own thought vector ("own") and two controls: another held-out sentence's
    vector ("shuffled") and the vector of a sentence at the same place (script, position) of
    another story ("same_place")."""
    net.eval()
    pad = vocab.special_id("pad")
    thoughts = encode_all(net, corpus, corpus.current)  # (S, H) one per occurrence
    generator = torch.Generator().manual_seed(seed)
    vectors = {
        "own": thoughts,
        "shuffled": thoughts[derangement(len(thoughts), generator)],
        "same_place": thoughts[same_place(corpus, generator)],
    }
    out: dict[str, Any] = {}
    for side in SIDES:
        neighbour = corpus.previous if side == "previous" else corpus.next
        has = torch.nonzero(neighbour != corpus.empty).flatten()  # occurrences with a real neighbour
        forced_flag = torch.tensor(
            [
                (s.forced_previous if side == "previous" else s.forced_next)
                for s in (corpus.sentences[int(i)] for i in has)
            ],
            dtype=torch.bool,
        )
        sums = {name: [0.0, 0.0, 0.0] for name in vectors}  # NLL, right tokens, tokens
        exact = {name: torch.zeros(len(has), dtype=torch.bool) for name in vectors}
        for start in range(0, len(has), chunk):
            occ = has[start : start + chunk]
            rows = neighbour[occ]
            gold = [corpus.texts[int(r)] for r in rows]
            for name, given in vectors.items():
                nll, right, count = teacher_forced(net, corpus, side, given[occ], rows, pad)
                acc = sums[name]
                acc[0] += nll
                acc[1] += right
                acc[2] += count
                decoded = greedy_batch(net, side, given[occ], MAX_DECODE)
                exact[name][start : start + len(occ)] = torch.tensor(
                    [vocab.decode(ids) == g for ids, g in zip(decoded, gold, strict=True)]
                )
        row: dict[str, Any] = {"cases": len(has), "forced_cases": int(forced_flag.sum())}
        for name in vectors:
            total_nll, total_right, total_count = sums[name]
            nll, right, count = total_nll, int(total_right), int(total_count)
            row[name] = {
                "perplexity": round(math.exp(nll / max(1, count)), 4),
                "token_accuracy": round(right / max(1, count), 4),
                "exact": round(float(exact[name].float().mean()), 4),
                "exact_forced": round(float(exact[name][forced_flag].float().mean()), 4)
                if forced_flag.any()
                else None,
                "exact_not_forced": round(float(exact[name][~forced_flag].float().mean()), 4)
                if (~forced_flag).any()
                else None,
                "tokens": int(count),
            }
        row["perplexity_ratio"] = round(row["own"]["perplexity"] / row["shuffled"]["perplexity"], 4)
        row["same_place_ratio"] = round(row["own"]["perplexity"] / row["same_place"]["perplexity"], 4)
        out[side] = row
    # Story edges: does the previous decoder write nothing for a first sentence (and next for a last)?
    for side, neighbour in zip(SIDES, (corpus.previous, corpus.next), strict=True):
        edge = torch.nonzero(neighbour == corpus.empty).flatten()
        decoded = greedy_batch(net, side, thoughts[edge], MAX_DECODE) if len(edge) else []
        out[side]["edge_cases"] = len(edge)
        out[side]["edge_empty"] = round(sum(1 for d in decoded if not d) / max(1, len(edge)), 4)
    return out


def pca_2d(vectors: torch.Tensor) -> dict[str, Any]:
    """Mean, the two leading principal directions (sign fixed: largest loading positive) and the
    share of variance each explains."""
    x = vectors.double()
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    components = vh[:2]  # (2, H)
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    components = components * signs
    variance = s**2
    return {
        "mean": mean.float(),
        "components": components.float(),
        "explained": [round(float(v), 4) for v in (variance[:2] / variance.sum())],
    }


def map_sample(corpus: Corpus, per_script: int, rng: random.Random) -> dict[str, torch.Tensor]:
    """``per_script`` sentence occurrences of each script (distinct sentences), for the map."""
    by_script: dict[str, list[int]] = {}
    seen: set[int] = set()
    order = list(range(len(corpus.sentences)))
    rng.shuffle(order)
    for k in order:
        sent = int(corpus.current[k])
        bucket = by_script.setdefault(corpus.sentences[k].script, [])
        if sent in seen or len(bucket) >= per_script:
            continue
        seen.add(sent)
        bucket.append(k)
    picks = sorted(k for ks in by_script.values() for k in ks)
    return {
        "sentence": torch.tensor([int(corpus.current[k]) for k in picks], dtype=torch.int32),
        "position": torch.tensor([corpus.sentences[k].position for k in picks], dtype=torch.int8),
        "length": torch.tensor([int(corpus.story_length[k]) for k in picks], dtype=torch.int8),
    }


def pack_sentences(corpus: Corpus, vocab: Vocab) -> dict[str, torch.Tensor]:
    """Distinct training sentences as one flat int16 tensor of token ids plus offsets (compact)."""
    ids = [vocab.encode(t).ids for t in corpus.texts]
    offsets = [0]
    for x in ids:
        offsets.append(offsets[-1] + len(x))
    return {
        "ids": torch.tensor([i for x in ids for i in x], dtype=torch.int16),
        "offsets": torch.tensor(offsets, dtype=torch.int32),
        "script": torch.tensor(corpus.script, dtype=torch.int8),
    }


def summary(m: dict[str, Any]) -> dict[str, float]:
    return {
        "next-sentence perplexity (held-out)": m["next"]["own"]["perplexity"],
        "next, shuffled thought vectors": m["next"]["shuffled"]["perplexity"],
        "previous-sentence perplexity (held-out)": m["previous"]["own"]["perplexity"],
        "previous, shuffled thought vectors": m["previous"]["shuffled"]["perplexity"],
        "next, same script and position, other story": m["next"]["same_place"]["perplexity"],
        "exact next sentence (forced cases)": m["next"]["own"]["exact_forced"],
    }


@recipe(
    "stories-skipthought",
    kind="skipthought",
    task="stories",
    description="Skip-thought on generated ordered stories: LSTM encoder → thought vector → two LSTM "
    "decoders write the previous and the next sentence",
    steps=2000,
    data=stories_task.SOURCE,
    dry_steps=3,
)
def stories_skipthought(r: Run) -> dict[str, Any]:
    n_train, n_eval = (120, 40) if r.dry_run else (TRAIN_STORIES, HELD_OUT_STORIES)
    train_stories = stories_task.generate(n_train, random.Random(f"stories-train-{r.seed}"), "train")
    eval_stories = stories_task.generate(n_eval, random.Random(f"stories-held-out-{r.seed}"), "held_out")
    vocab = make_vocab([s.text for story in train_stories for s in story.sentences])
    corpus = build_corpus(train_stories, vocab)
    held_out = build_corpus(eval_stories, vocab)
    config = {
        "vocab_size": len(vocab),
        "pad_id": vocab.special_id("pad"),
        "bos_id": vocab.special_id("bos"),
        "eos_id": vocab.special_id("eos"),
        **SIZES,
    }
    torch.manual_seed(r.seed)
    net = SkipThought(**config)
    pad = vocab.special_id("pad")
    batches = r.generator(1)
    quick = build_corpus(eval_stories[:200], vocab)

    def loss_fn(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        occ = torch.randint(len(corpus.current), (BATCH,), generator=batches)
        return batch_loss(net, corpus, occ, pad)

    def evaluate() -> dict[str, float]:
        thought = encode_all(net, quick, quick.current)
        has = torch.nonzero(quick.next != quick.empty).flatten()
        nll, _, count = teacher_forced(net, quick, "next", thought[has], quick.next[has], pad)
        return {"held_out_next_ppl": math.exp(nll / max(1, count))}

    fit(
        r,
        net,
        loss_fn,
        lr=LR,
        warmup=min(100, max(1, r.steps // 10)),
        evaluate=evaluate,
        eval_every=max(1, r.steps // 10),
    )
    m = skipthought_metrics(net, held_out, vocab, seed=r.seed)
    train_vectors = encode_all(net, corpus, torch.arange(len(corpus.texts)))
    train_set = set(corpus.texts)
    novel = sum(1 for s in held_out.sentences if s.text not in train_set)
    metrics = {
        **m,
        "held_out_stories": len(eval_stories),
        "held_out_sentences": len(held_out.sentences),
        "held_out_sentences_not_in_training": novel,
        "train_stories": len(train_stories),
        "train_sentences": len(corpus.sentences),
        "distinct_train_sentences": len(corpus.texts),
        "scripts": len(stories_task.SCRIPTS),
        "summary": summary(m),
    }
    extra = {
        "corpus": {
            **pack_sentences(corpus, vocab),
            "scripts": list(stories_task.SCRIPTS),
            "script_titles": [s.title for s in stories_task.SCRIPT_LIST],
            "map": map_sample(corpus, 20 if r.dry_run else MAP_PER_SCRIPT, random.Random(f"map-{r.seed}")),
            "train_stories": len(train_stories),
            "seed": r.seed,
        },
        "pca": pca_2d(train_vectors),
    }
    return r.checkpoint(net, config, vocab.to_dict(), metrics, **extra)
