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

    # --- input limits (checked at the API edge; each one appears in the OpenAPI schema)
    max_body_bytes: int = Field(
        default=8 * 2**20,
        ge=1,
        description="Largest JSON request body; bigger ones get 413 before they are read.",
    )
    max_trace_chars: int = Field(default=2000, ge=1, description="Longest text for LSTM/RNN traces.")
    max_cloze_chars: int = Field(
        default=1000,
        ge=2,
        description="Longest text for the bidirectional cloze (both directions and two companion models).",
    )
    max_gradient_chars: int = Field(
        default=500, ge=2, description="Longest sequence for the vanishing-gradient lab (autograd step loop)."
    )
    max_seq2seq_chars: int = Field(default=200, ge=1, description="Longest seq2seq source text.")
    max_hard_samples: int = Field(default=50, ge=1, description="Most hard-attention samples.")
    max_beam_width: int = Field(default=16, ge=1, description="Widest beam search.")
    max_decode_length: int = Field(default=64, ge=2, description="Longest decoded output.")
    max_sentence_words: int = Field(default=40, ge=1, description="Longest skip-thought input.")
    max_sentence_chars: int = Field(
        default=400, ge=1, description="Longest skip-thought input in characters (checked before words)."
    )

    # --- prices: every compute request is priced from the model and the input before it runs
    max_request_macs: int = Field(
        default=4_000_000_000,
        ge=1,
        description=(
            "Most multiply-adds one request may cost, estimated before it runs (fixed costs such as a"
            " Python-level step count as their measured equivalent); about 1.5 s of one core here."
        ),
    )
    max_response_floats: int = Field(
        default=1_800_000,
        ge=1,
        description=(
            "Most numbers one response may carry (plain JSON, about 8 bytes each at 4 significant"
            " digits, so about 14 MB; a full-precision number counts 1.5)."
        ),
    )

    # --- uploads: measured from the file's header before any weight is materialised
    max_upload_bytes: int = Field(default=50 * 2**20, ge=1, description="Largest checkpoint upload.")
    max_upload_unpacked_bytes: int = Field(
        default=64 * 2**20,
        ge=1,
        description="Most bytes the tensors of one upload may declare (a zip archive's members unpacked).",
    )
    max_upload_layers: int = Field(default=16, ge=1, description="Most recurrent layers in an upload.")
    max_upload_hidden: int = Field(default=2048, ge=1, description="Largest hidden size in an upload.")
    max_upload_params: int = Field(
        default=16_000_000, ge=1, description="Most parameters an upload's model may have (all it uses)."
    )
    upload_min_trace_steps: int = Field(
        default=100,
        ge=1,
        description="Fewest steps an upload must trace within the request budgets (else it is refused).",
    )
    max_vocab_bytes: int = Field(default=5 * 2**20, ge=1, description="Largest vocabulary JSON upload.")
    max_filename_chars: int = Field(default=255, ge=1, description="Longest upload file name.")
    upload_budget_bytes: int = Field(
        default=500 * 2**20, ge=1, description="Total size of kept uploads; LRU beyond it."
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
