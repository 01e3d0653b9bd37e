"""Recipes of the shipped models, one module per family; importing this registers them all."""

from app.recipes import (
    char_lm,  # noqa: F401
    seq2seq,  # noqa: F401
)
