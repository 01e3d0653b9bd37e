"""The dates task: enough locales and patterns, no ambiguous string, whole days held out, and
natural variants that never change the date a string means."""

from __future__ import annotations

import datetime
import doctest
import os
import random
import subprocess
import sys

from app.tasks import dates


def test_docstring_example() -> None:
    result = doctest.testmod(dates)
    assert result.attempted >= 3 and result.failed == 0


def test_at_least_10_locales_and_40_patterns_survive_the_ambiguity_check() -> None:
    kept = dates.formats()
    assert set(dates.LOCALES) <= {f.locale for f in kept}
    assert len({f.resolved for f in kept}) >= 40
    patterns = {f.pattern for f in kept}
    for style in dates.STYLES:
        assert style in patterns
    for custom in ("d MMM yyyy", "MMMM d, yyyy", "yyyyMMdd", "y年M月d日"):
        assert custom in patterns
    years = {f.render(datetime.date(1950, 1, 2)) for f in kept} | {
        f.render(datetime.date(2049, 12, 31)) for f in kept
    }
    assert "1950-01-02" in years and "2049年12月31日" in years


def test_every_string_maps_to_exactly_one_date_on_fresh_random_days() -> None:
    """Independent of the audit's probe: random days, every kept format, normalised strings."""
    rng = random.Random(99)
    every = dates.days("train") + dates.days("held_out")
    probe = rng.sample(every, 60) + [datetime.date(2001, 2, 3), datetime.date(2003, 2, 1)]
    seen: dict[str, datetime.date] = {}
    for fmt in dates.formats():
        for day in probe:
            key = dates.normalise(fmt.render(day))
            assert seen.setdefault(key, day) == day, (fmt, key, seen[key], day)


def test_the_audit_drops_the_classic_traps() -> None:
    dropped = {(f.locale, f.resolved) for f, _ in dates.audit().dropped}
    kept = {(f.locale, f.resolved) for f in dates.formats()}
    assert ("en_US", "M/d/yy") in kept
    assert ("es", "d/M/yy") in dropped  # 2/1/50 would be both 2 Jan and 1 Feb
    assert not any(p == "M/d/yyyy" for _, p in kept) or not any(p == "d/M/yyyy" for _, p in kept)
    for fmt, why in dates.audit().dropped:
        assert " is " in why and fmt not in dates.formats()


def test_whole_days_are_held_out() -> None:
    train, held = set(dates.days("train")), set(dates.days("held_out"))
    assert not train & held and len(train) + len(held) == dates.DAY_COUNT == 36525
    assert 0.08 < len(held) / dates.DAY_COUNT < 0.12
    assert min(train) == datetime.date(1950, 1, 1) or min(held) == datetime.date(1950, 1, 1)
    rng = random.Random(1)
    for e in dates.generate(300, rng, "held_out"):
        assert dates.is_held_out(datetime.date.fromisoformat(e.target))
    for e in dates.generate(300, rng, "train"):
        assert not dates.is_held_out(datetime.date.fromisoformat(e.target))


def test_generation_is_seeded() -> None:
    a = [e.source for e in dates.generate(50, random.Random(5))]
    b = [e.source for e in dates.generate(50, random.Random(5))]
    c = [e.source for e in dates.generate(50, random.Random(6))]
    assert a == b and a != c


def test_natural_variants_change_the_text_but_never_the_date() -> None:
    rng = random.Random(2)
    changed = 0
    kinds = {"upper": 0, "no period": 0, "no comma": 0}
    for _ in range(2000):
        day = rng.choice(dates.days("train"))
        fmt = rng.choice(dates.formats())
        text = fmt.render(day)
        varied = dates.natural_variant(text, fmt, rng)
        changed += varied != text
        assert dates.normalise(varied) == dates.normalise(text), (text, varied)
        kinds["upper"] += varied == text.upper() != text
        kinds["no period"] += "." in text and varied == text.replace(".", "", 1)
        kinds["no comma"] += "," in text and "," not in varied
    assert changed > 1900
    assert all(v > 5 for v in kinds.values()), kinds
    fr = dates.DateFormat("fr", "d MMM yyyy")
    seen = {
        dates.natural_variant(fr.render(datetime.date(2026, 11, 27)), fr, random.Random(s)) for s in range(60)
    }
    assert "27 nov 2026" in seen and "27 NOV. 2026" in seen


def test_every_generated_character_is_in_the_source_alphabet() -> None:
    alphabet = set(dates.source_alphabet())
    rng = random.Random(3)
    for e in dates.generate(3000, rng, "train", variant_rate=0.7):
        assert set(e.source) <= alphabet, set(e.source) - alphabet
        assert set(e.target) <= set(dates.TARGET_ALPHABET) and len(e.target) == 10
    assert {"年", "月", "日", "é", "É", "ä", "Ä"} <= alphabet


def test_generation_does_not_depend_on_the_process_hash_seed() -> None:
    """Same seed, same data in any process: no set or hash order leaks into the examples (string
    hashing is randomised per process, so an in-process comparison would not catch it)."""
    code = (
        "import random; from app.tasks import dates; "
        "print([e.source for e in dates.generate(400, random.Random(0), variant_rate=1.0)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
