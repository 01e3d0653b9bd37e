"""Recipes of the shipped models, one module per family; importing this registers them all."""

from app.recipes import char_lm, cloze, forcing, recall, seq2seq  # noqa: F401
