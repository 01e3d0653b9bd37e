"""Human-written dates → ISO ``YYYY-MM-DD``: the ``dates`` translation task (seq2seq + attention).

Every source string is a real date rendered by babel's ``format_date`` machinery (CLDR data) in
one of 10 locales and one of many patterns, then perhaps roughed up the way people type::

    >>> rng = random.Random(7)
    >>> fmt = DateFormat("en_GB", "d MMM yyyy")
    >>> fmt.render(datetime.date(2026, 11, 27)), iso(datetime.date(2026, 11, 27))
    ('27 Nov 2026', '2026-11-27')
    >>> DateFormat("ja", "y年M月d日EEEE").render(datetime.date(2026, 11, 27))
    '2026年11月27日金曜日'
    >>> natural_variant("Friday, November 27, 2026", DateFormat("en_US", "full"), rng)
    'Friday November 27 2026'

* **Formats.** The four CLDR styles (short, medium, long, full) of each locale plus custom patterns
  (``d MMM yyyy``, ``MMMM d, yyyy``, ``yyyyMMdd``, ``y年M月d日`` …), each rendered in every locale.
* **No ambiguity.** A string must map to exactly one date. ``formats()`` renders every candidate on
  a probe set of dates chosen to expose the classic traps (day/month swaps with both ≤ 12, two-digit
  years that look like days, digits run together) and keeps a format only if none of its strings,
  normalised the way the natural variants change text, collides with a string of a different date
  from itself or an earlier kept format. So en_US's ``M/d/yy`` stays and es's ``d/M/yy`` goes.
* **Years** 1950–2049, so a two-digit year is unambiguous (50–99 → 19xx, 00–49 → 20xx).
* **Held-out days.** Whole calendar days are held out (a CRC32 of the ISO date, 10 %): no rendering
  of a held-out day is ever trained on.
* **Natural variants** (``natural_variant``): upper/lower/title case, extra or missing spaces
  (never between two digits), no comma, abbreviated months with or without their period.
"""

from __future__ import annotations

import datetime
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal, cast

from babel import Locale
from babel.dates import DateTimePattern, get_date_format, get_day_names, get_month_names, parse_pattern

LOCALES = ("en_US", "en_GB", "de", "fr", "es", "it", "pt_BR", "nl", "ja", "zh_CN")
CJK_LOCALES = ("ja", "zh_CN")
STYLES = ("short", "medium", "long", "full")
CUSTOM_PATTERNS = (
    "d MMM yyyy",
    "dd MMM yyyy",
    "d MMMM yyyy",
    "d MMMM, yyyy",
    "MMM d, yyyy",
    "MMM d yyyy",
    "MMM dd, yyyy",
    "MMMM d, yyyy",
    "MMMM d yyyy",
    "d MMM yy",
    "d-MMM-yyyy",
    "dd-MMM-yy",
    "yyyy MMM d",
    "yyyy MMMM d",
    "EEE d MMM yyyy",
    "EEE, MMM d, yyyy",
    "EEEE d MMMM yyyy",
    "EEEE, MMMM d, yyyy",
    "EEEE, d. MMMM yyyy",
    "d. MMM yyyy",
    "d. MMMM yyyy",
    "d 'de' MMMM 'de' yyyy",
    "yyyyMMdd",
    "yyyy-MM-dd",
    "yyyy-M-d",
    "yyyy/MM/dd",
    "y/M/d",
    "yyyy.MM.dd",
    "dd.MM.yyyy",
    "d.M.yyyy",
    "dd.MM.yy",
    "dd/MM/yyyy",
    "d/M/yyyy",
    "MM/dd/yyyy",
    "M/d/yyyy",
    "dd-MM-yyyy",
    "ddMMyyyy",
    "y年M月d日",
    "y年MM月dd日",
    "y年M月d日EEEE",
    "y年M月d日 EEE",
    "yy年M月d日",
)
FIRST_YEAR, LAST_YEAR = 1950, 2049
FIRST_DAY = datetime.date(FIRST_YEAR, 1, 1)
DAY_COUNT = (datetime.date(LAST_YEAR, 12, 31) - FIRST_DAY).days + 1
HELD_OUT_PERCENT = 10
SOURCE = "generated with babel format_date (CLDR) in 10 locales; held out: 10 % of calendar days"
TARGET_ALPHABET = "0123456789-"


def iso(day: datetime.date) -> str:
    """The target: ISO 8601 ``YYYY-MM-DD``."""
    return day.isoformat()


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@cache
def _compiled(pattern: str) -> DateTimePattern:
    return parse_pattern(pattern)


@cache
def _resolve(locale: str, pattern: str) -> str:
    if pattern in STYLES:
        style = cast(Literal["full", "long", "medium", "short"], pattern)
        return str(get_date_format(style, locale=locale).pattern)
    return pattern


def _letters(pattern: str) -> str:
    """The pattern's field letters, quoted literals removed."""
    return re.sub(r"'[^']*'", "", pattern)


@dataclass(frozen=True)
class DateFormat:
    """One way of writing a date: a locale and a CLDR pattern (or a style name: short … full)."""

    locale: str
    pattern: str

    @property
    def resolved(self) -> str:
        """The CLDR pattern itself (a style name looked up in the locale's data)."""
        return _resolve(self.locale, self.pattern)

    @property
    def uses_names(self) -> bool:
        """Whether month or weekday names appear (so the rendering depends on the locale)."""
        letters = _letters(self.resolved)
        return "MMM" in letters or "E" in letters or "LLL" in letters

    def render(self, day: datetime.date) -> str:
        return str(_compiled(self.resolved).apply(day, _locale(self.locale)))


def candidate_formats() -> list[DateFormat]:
    """Every (locale, pattern) considered, in priority order: styles first, then custom patterns."""
    out = [DateFormat(loc, style) for loc in LOCALES for style in STYLES]
    for pattern in CUSTOM_PATTERNS:
        cjk = any("\u3000" <= ch <= "\u9fff" for ch in pattern)  # 年月日 patterns: ja and zh only
        out += [DateFormat(loc, pattern) for loc in LOCALES if not cjk or loc in CJK_LOCALES]
    return out


def normalise(text: str) -> str:
    """The equivalence class of a string under the natural variants (used for the ambiguity check)."""
    text = text.lower().replace(",", " ")
    text = re.sub(r"(?<=[^\W\d_])\.", "", text)  # a period right after a letter (abbreviations)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"(?<!\d) | (?!\d)", "", text)  # spaces not between two digits


def probe_days() -> list[datetime.date]:
    """Dates that expose every kind of clash between two formats, or within one.

    Every month (names of one locale may equal another month's names in another), days 1, 2, 11
    and 12 (day/month swaps: 1/2 vs 2/1, and runs such as 2026111 = 1 Nov or 11 Jan), days 13 and 26
    with years 2013 and 2026 (a two-digit year read as a day), and the first and last years.
    """
    days: set[datetime.date] = set()
    for year in (1950, 2001, 2012, 2013, 2026, 2049):
        for month in range(1, 13):
            for d in (1, 2, 11, 12, 13, 26, 31):
                if d <= 28 or d <= _month_length(year, month):
                    days.add(datetime.date(year, month, d))
    return sorted(days)


def _month_length(year: int, month: int) -> int:
    nxt = datetime.date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - datetime.timedelta(days=1)).day


@dataclass(frozen=True)
class FormatAudit:
    kept: tuple[DateFormat, ...]
    dropped: tuple[tuple[DateFormat, str], ...]  # (format, why)


@lru_cache(maxsize=1)
def audit() -> FormatAudit:
    """Keep the candidates whose strings map to exactly one date, given the formats kept before."""
    probe = probe_days()
    owner: dict[str, datetime.date] = {}  # normalised string → its date, over kept formats
    who: dict[str, DateFormat] = {}
    rendered: dict[str, list[str]] = {}  # locale-independent patterns are rendered once
    kept: list[DateFormat] = []
    dropped: list[tuple[DateFormat, str]] = []
    for fmt in candidate_formats():
        key = f"{fmt.locale}|{fmt.resolved}" if fmt.uses_names else fmt.resolved
        if key not in rendered:
            rendered[key] = [normalise(fmt.render(day)) for day in probe]
        mine: dict[str, datetime.date] = {}
        clash = None
        for text, day in zip(rendered[key], probe, strict=True):
            other = mine.setdefault(text, day)
            if other != day:
                clash = f"{text!r} is both {other} and {day} in this format"
                break
            if owner.get(text, day) != day:
                clash = (
                    f"{text!r} is {day} here but {owner[text]} in {who[text].locale} {who[text].pattern!r}"
                )
                break
        if clash:
            dropped.append((fmt, clash))
            continue
        kept.append(fmt)
        for text, day in mine.items():
            owner[text] = day
            who.setdefault(text, fmt)
    return FormatAudit(tuple(kept), tuple(dropped))


def formats() -> tuple[DateFormat, ...]:
    """The unambiguous formats used for training and evaluation."""
    return audit().kept


def is_held_out(day: datetime.date) -> bool:
    """Whole calendar days are held out: a fixed 10 % chosen by a CRC32 of the ISO date."""
    return zlib.crc32(iso(day).encode()) % 100 < HELD_OUT_PERCENT


@lru_cache(maxsize=2)
def days(split: str) -> tuple[datetime.date, ...]:
    """Every day of 1950–2049 in the split ("train" or "held_out")."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', not {split!r}")
    every = (FIRST_DAY + datetime.timedelta(days=i) for i in range(DAY_COUNT))
    return tuple(d for d in every if is_held_out(d) == (split == "held_out"))


@cache
def _abbreviations(locale: str) -> tuple[str, ...]:
    """Abbreviated month and weekday names of a locale (the ones a period can follow)."""
    names = list(get_month_names("abbreviated", locale=locale).values())
    names += list(get_day_names("abbreviated", locale=locale).values())
    return tuple(
        sorted({n for n in names if n[:1].isalpha() and not n[-1:].isdigit()}, key=lambda n: (-len(n), n))
    )


def natural_variant(text: str, fmt: DateFormat, rng: random.Random) -> str:
    """One or two of the changes people make when typing a date; the date it means never changes."""
    for _ in range(8):  # some changes do not apply to some strings (no comma, no abbreviation)
        varied = _vary(text, fmt, rng)
        if varied != text:
            return varied
    return text


def _vary(text: str, fmt: DateFormat, rng: random.Random) -> str:
    changes = rng.sample(("case", "comma", "period", "space", "space"), k=rng.choice((1, 1, 2)))
    for change in changes:
        if change == "case":
            text = rng.choice((str.upper, str.lower, str.title))(text)
        elif change == "comma":
            text = text.replace(", ", " ").replace(",", " ")
        elif change == "period" and fmt.uses_names:
            text = _toggle_period(text, fmt.locale, rng)
        elif change == "space":
            text = _respace(text, rng)
    return text


def _toggle_period(text: str, locale: str, rng: random.Random) -> str:
    """Drop the period after an abbreviated name, or add one where CLDR has none."""
    for abbr in _abbreviations(locale):
        for m in re.finditer(re.escape(abbr.rstrip(".")), text, flags=re.IGNORECASE):
            end = m.end()
            if end < len(text) and text[end] == ".":
                return text[:end] + text[end + 1 :]
            if end == len(text) or not text[end].isalpha():
                return text[:end] + "." + text[end:]
    return text


def _respace(text: str, rng: random.Random) -> str:
    """Double a space, drop one that is not between two digits, pad a separator or the ends."""
    options = []
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    droppable = [i for i in spaces if not (text[i - 1 : i].isdigit() and text[i + 1 : i + 2].isdigit())]
    separators = [  # a period that ends an abbreviation stays glued to it
        i
        for i, ch in enumerate(text)
        if ch in "/.-" and 0 < i < len(text) - 1 and not (ch == "." and text[i - 1].isalpha())
    ]
    if spaces:
        options.append("double")
    if droppable:
        options.append("drop")
    if separators:
        options.append("pad")
    options.append("ends")
    choice = rng.choice(options)
    if choice == "double":
        i = rng.choice(spaces)
        return text[:i] + "  " + text[i + 1 :]
    if choice == "drop":
        i = rng.choice(droppable)
        return text[:i] + text[i + 1 :]
    if choice == "pad":
        i = rng.choice(separators)
        return text[:i] + rng.choice((" ", "")) + text[i] + " " + text[i + 1 :]
    return rng.choice((" ", "")) + text + rng.choice((" ", ""))


@dataclass(frozen=True)
class Example:
    source: str
    target: str
    format: DateFormat
    varied: bool


def sample(rng: random.Random, split: str = "train", variant_rate: float = 0.5) -> Example:
    """One (human-written date, ISO date) pair from a split, in a random kept format."""
    day = rng.choice(days(split))
    fmt = rng.choice(formats())
    text = fmt.render(day)
    varied = rng.random() < variant_rate
    if varied:
        text = natural_variant(text, fmt, rng)
    return Example(text, iso(day), fmt, varied)


def generate(n: int, rng: random.Random, split: str = "train", variant_rate: float = 0.5) -> list[Example]:
    return [sample(rng, split, variant_rate) for _ in range(n)]


def stream(rng: random.Random, split: str = "train", variant_rate: float = 0.5) -> Iterator[Example]:
    while True:
        yield sample(rng, split, variant_rate)


@lru_cache(maxsize=1)
def source_alphabet() -> str:
    """Every character any kept format can produce, in any case (the source vocabulary)."""
    chars: set[str] = set(" ,.-/") | set("0123456789")
    # 12 months × 7 weekdays: day-of-week cycles through all 7 as the month goes by
    sample_days = [datetime.date(2026, m, d) for m in range(1, 13) for d in range(1, 8)]
    for fmt in formats():
        for day in sample_days:
            text = fmt.render(day)
            for form in (text, text.upper(), text.lower(), text.title()):
                chars.update(form)
    return "".join(sorted(chars))
