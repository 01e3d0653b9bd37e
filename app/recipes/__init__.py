"""Recipes of the shipped models, one module per family; importing this registers them all."""

from app.recipes import char_lm, cloze, forcing, idioms, recall, seq2seq, skipthought  # noqa: F401
