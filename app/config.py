"""Settings: the one place for every limit, path and knob of the server.

Every field can be set from the environment with the prefix ``RLENS_``, for example
``RLENS_MODELS_DIR=/srv/models`` or ``RLENS_MAX_TRACE_CHARS=500``. The README lists them all
(a docs test keeps the two in step).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Server settings. Limits are checked at the API edge and named in every 4xx message."""

    model_config = SettingsConfigDict(env_prefix="RLENS_", extra="ignore")

    # --- where things live
    models_dir: Path = Field(
        default=REPO_ROOT / "models", description="Directory of shipped *.pt checkpoints."
    )
    extra_models: list[Path] = Field(
        default_factory=list, description="Extra checkpoint files to serve (serve --model)."
    )
    upload_dir: Path = Field(
        default=REPO_ROOT / ".uploads", description="Where uploaded user checkpoints are kept."
    )

    # --- runtime
    threads: int = Field(default=1, ge=1, description="torch threads; 1 avoids stalls on shared boxes.")
    compute_threads: int = Field(
        default=1,
        ge=1,
        description=(
            "Requests computed at once per worker; more wait their turn. One keeps /api/health"
            " prompt under load (more threads only contend for the GIL); scale with --workers."
        ),
    )
    float_digits: int = Field(
        default=4, ge=1, le=9, description="Significant digits of floats in JSON responses."
    )
    gzip_min_bytes: int = Field(default=1024, ge=0, description="Gzip responses larger than this.")
    response_cache_bytes: int = Field(
        default=64 * 2**20, ge=0, description="Per-worker cache of computed responses (0: off)."
    )

    # --- input limits (checked at the API edge)
    max_trace_chars: int = Field(default=2000, ge=1, description="Longest text for LSTM/RNN traces.")
    max_gradient_chars: int = Field(
        default=500, ge=2, description="Longest sequence for the vanishing-gradient lab (autograd step loop)."
    )
    max_seq2seq_chars: int = Field(default=200, ge=1, description="Longest seq2seq source text.")
    max_hard_samples: int = Field(default=50, ge=1, description="Most hard-attention samples.")
    max_beam_width: int = Field(default=16, ge=1, description="Widest beam search.")
    max_decode_length: int = Field(default=64, ge=1, description="Longest decoded output.")
    max_sentence_words: int = Field(default=40, ge=1, description="Longest skip-thought input.")
    max_sentence_chars: int = Field(
        default=400, ge=1, description="Longest skip-thought input in characters (checked before words)."
    )
    max_upload_bytes: int = Field(default=50 * 2**20, ge=1, description="Largest checkpoint upload.")
    upload_budget_bytes: int = Field(
        default=500 * 2**20, ge=1, description="Total size of kept uploads; LRU beyond it."
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
