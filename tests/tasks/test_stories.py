"""The ordered-story generator: scripts, seeds, the held-out split, and the generator's own
knowledge of which neighbours are forced (checked against what the stories actually do)."""

from __future__ import annotations

import doctest
import random
from collections import defaultdict

import pytest

from app.tasks import stories
from app.tasks.stories import SCRIPTS, generate, pretty, tokenize


@pytest.fixture(scope="module")
def sample() -> list[stories.Story]:
    return generate(3000, random.Random("test-train"), "train") + generate(
        1000, random.Random("test-held-out"), "held_out"
    )


def test_docstring_example() -> None:
    assert doctest.testmod(stories).failed == 0


def test_at_least_eight_scripts_every_step_reachable_and_templates_unique() -> None:
    assert len(SCRIPTS) >= 8
    templates = [st.text for sc in SCRIPTS.values() for st in sc.steps.values()]
    assert len(templates) == len(set(templates))
    for sc in SCRIPTS.values():
        seen, todo = set(), [sc.start]
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            todo += [e.to for e in sc.steps[key].then if e.to is not None]
        assert seen == set(sc.steps), (sc.name, set(sc.steps) - seen)
        for st in sc.steps.values():
            assert st.text.endswith(" ."), st.text
            for slot in stories.template_slots(st.text):
                assert slot in sc.slots or slot in sc.all_derived() or slot in ("name", "friend"), (
                    sc.name,
                    slot,
                )


def test_same_seed_same_stories_other_seed_differs() -> None:
    a = generate(50, random.Random(1), "train")
    b = generate(50, random.Random(1), "train")
    c = generate(50, random.Random(2), "train")
    assert a == b and a != c


def test_every_script_is_told_with_varying_length_and_content(sample: list[stories.Story]) -> None:
    by_script = defaultdict(list)
    for story in sample:
        by_script[story.script].append(story)
    assert set(by_script) == set(SCRIPTS)
    for name, told in by_script.items():
        assert len({len(s.sentences) for s in told}) >= 2, name  # optional steps
        assert len({s.texts()[0] for s in told}) > 10, name
        assert all(s.sentences[0].step == SCRIPTS[name].start for s in told)
        assert all(st.position == k for s in told for k, st in enumerate(s.sentences))


def test_held_out_pairs_never_occur_in_training(sample: list[stories.Story]) -> None:
    train = [s for s in sample if not stories.is_held_out(s.script, s.name)]
    held = [s for s in sample if stories.is_held_out(s.script, s.name)]
    assert len(train) == 3000 and len(held) == 1000
    assert {(s.script, s.name) for s in train}.isdisjoint({(s.script, s.name) for s in held})
    assert all(stories.protagonists(name, "held_out") for name in SCRIPTS)
    # Sentences naming the protagonist put that name in a script it never had in training.
    train_texts = {t for s in train for t in s.texts()}
    named = [t for s in held for t in s.texts() if s.name in t.split()]
    assert named and not any(t in train_texts for t in named)


def test_a_sentence_text_identifies_its_step(sample: list[stories.Story]) -> None:
    steps = defaultdict(set)
    for story in sample:
        for s in story.sentences:
            steps[s.text].add((s.script, s.step))
    assert all(len(v) == 1 for v in steps.values())


def test_forced_neighbours_are_functions_of_the_sentence(sample: list[stories.Story]) -> None:
    """Whenever the generator says a neighbour is forced, that sentence always has that neighbour."""
    nexts, previouses = defaultdict(set), defaultdict(set)
    free_next = defaultdict(set)
    pairs = forced = 0
    for story in sample:
        for a, b in zip(story.sentences, story.sentences[1:], strict=False):
            pairs += 1
            forced += a.forced_next
            (nexts if a.forced_next else free_next)[a.text].add(b.text)
            if b.forced_previous:
                previouses[b.text].add(a.text)
        assert not story.sentences[0].forced_previous
        assert not story.sentences[-1].forced_next
    assert all(len(v) == 1 for v in nexts.values())
    assert all(len(v) == 1 for v in previouses.values())
    assert 0.25 < forced / pairs < 0.75  # plenty of forced cases, and plenty that are not
    assert any(len(v) > 1 for v in free_next.values())  # unforced ones really vary


def test_forced_flags_on_known_sentences() -> None:
    rng = random.Random(0)
    for _ in range(200):
        story = stories.tell(SCRIPTS["morning"], "anna", rng)
        for a, b in zip(story.sentences, story.sentences[1:], strict=False):
            if a.text == "anna eats eggs for breakfast .":
                assert a.forced_next and b.text == "anna washes the frying pan ."
                assert b.forced_previous
            if a.text == "anna brushes her teeth .":
                assert not a.forced_next  # a shower is optional
            if a.step == "shower":
                assert a.forced_next and b.text == "she dries her hair with a towel ."
                assert not b.forced_next  # "she" does not say who, and the clothes are new


def test_content_decides_the_branch() -> None:
    """At the same step (and position) the next step depends on what the sentence says."""
    after = defaultdict(set)
    for story in generate(600, random.Random(5), "train"):
        for a, b in zip(story.sentences, story.sentences[1:], strict=False):
            if a.step == "breakfast":
                food = a.text.split()[2]
                after[food].add(b.step)
    assert len(after) == 5 and all(len(v) == 1 for v in after.values())
    assert len({next(iter(v)) for v in after.values()}) == 5


def test_tokenize_and_pretty_round_trip() -> None:
    assert tokenize("Anna eats eggs for breakfast.") == ["anna", "eats", "eggs", "for", "breakfast", "."]
    assert tokenize("  Tom, go!  ") == ["tom", ",", "go", "!"]
    assert pretty("anna packs a suitcase for a trip to rome .") == "Anna packs a suitcase for a trip to Rome."
    assert pretty(["she", "dries", "her", "hair", "."]) == "She dries her hair."
    for story in generate(30, random.Random(9), "held_out"):
        for text in story.texts():
            assert " ".join(tokenize(pretty(text))) == text


def test_words_cover_every_generated_token(sample: list[stories.Story]) -> None:
    vocab = set(stories.words())
    assert {w for s in sample for t in s.texts() for w in t.split()} <= vocab
