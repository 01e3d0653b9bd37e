"""Models: the listing (every checkpoint found, usable or not) and uploads of a user's own LSTM."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from app.api.deps import RegistryDep, SettingsDep
from app.api.errors import ApiError
from app.api.limits import MAX_PREFIX_CHARS
from app.api.schemas import ERRORS, ErrorBody, ModelList
from app.checkpoints import entry_from_checkpoint
from app.uploads import UploadError, UploadStore, check_filename, prepare

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelList)
async def list_models(registry: RegistryDep) -> dict[str, object]:
    """Every model the server knows, with its metrics, or the reason it is unavailable."""
    return {"models": [entry.public() for entry in registry]}


class UploadInfo(BaseModel):
    name: str = Field(
        description="Use this name as `model` in POST /api/lstm/trace.", examples=["upload-3f2a9c0d1e2b4a5c"]
    )
    kind: str = Field(examples=["lstm"])
    layers: int
    input_size: int
    hidden_size: int
    bidirectional: bool
    vocab_size: int | None = Field(description="Tokens in the vocabulary (None: the model reads vectors).")
    reads: str = Field(description="text (embedding or one-hot with a vocabulary) or vectors.")
    tokenization: str | None = Field(description="How text is split: char or word (null: vectors).")
    unk: str | None = Field(description="The vocabulary's unknown token, if it has one.")
    max_steps: int = Field(description="The longest input this model traces within the request budgets.")
    skipped: list[str] = Field(
        description="Entries of the file that are not weights and were skipped (a training "
        "checkpoint's epoch, optimizer state, numpy scalars …), with their types."
    )
    description: str


def _read(upload: UploadFile, limit: int, what: str) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(
            413,
            f"{what} is larger than the limit of {limit:,} bytes.",
            what,
            code="file-too-large",
            params={"limit": limit},
        )
    if not data:
        raise ApiError(422, f"{what} is an empty file.", what, code="empty")
    return data


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {"model": ErrorBody, "description": "Malformed multipart or unreadable body."},
    413: {"model": ErrorBody, "description": "File larger than the upload limit."},
}


def _refuse(exc: UploadError) -> ApiError:
    extra = {"choices": exc.choices} if exc.choices else {}
    return ApiError(exc.status, str(exc), exc.field, extra, code=exc.code, params=exc.params)


@router.post("/upload", response_model=UploadInfo, responses=UPLOAD_ERRORS)
def upload(
    request: Request,
    settings: SettingsDep,
    file: Annotated[
        UploadFile,
        File(
            description="Checkpoint: .safetensors (preferred), or a torch state_dict: .pt, .pth, .bin, .ckpt."
        ),
    ],
    vocab: Annotated[
        UploadFile | None,
        File(
            description='Optional vocabulary JSON: a token list, a token → index object, or {"tokens": …, '
            '"tokenization": "whitespace" | "characters", "unk": "<unk>"}.'
        ),
    ] = None,
    tokenization: Annotated[
        Literal["char", "whitespace"] | None,
        Form(description="How text is split into tokens, when the vocabulary does not say (default char)."),
    ] = None,
    prefix: Annotated[
        str | None, Form(description="Which LSTM, when the file holds several.", max_length=MAX_PREFIX_CHARS)
    ] = None,
) -> dict[str, Any]:
    """Upload your own LSTM; it is then traced by POST /api/lstm/trace under the returned name."""
    store: UploadStore = request.app.state.uploads
    try:
        filename = check_filename(file.filename, settings)
    except UploadError as exc:
        raise _refuse(exc) from exc
    data = _read(file, settings.max_upload_bytes, "file")
    vocab_bytes = (
        _read(vocab, settings.max_vocab_bytes, "vocab") if vocab is not None and vocab.filename else None
    )
    prefix = prefix or None
    name = store.name_for(
        data, vocab_bytes or b"", (tokenization or "").encode(), (prefix or "").encode(), filename.encode()
    )
    try:
        prepared = prepare(data, filename, name, settings, vocab_bytes, tokenization, prefix)
    except UploadError as exc:
        raise _refuse(exc) from exc
    del data  # the file's bytes are not needed any more: keep the peak memory down
    ckpt = prepared.checkpoint
    entry = entry_from_checkpoint(ckpt, None)
    if not entry.available:
        log.warning("an upload built a checkpoint that does not load: %s", entry.reason)
        raise ApiError(
            422,
            "The weights were found but do not load into an LSTM of their shapes.",
            "file",
            code="shape-mismatch",
        )
    store.put(ckpt)
    config = ckpt["config"]
    vocab_dict = ckpt["vocab"]
    vocab_size = len(vocab_dict["tokens"]) if vocab_dict else None
    return {
        "name": name,
        "kind": "lstm",
        "layers": config["num_layers"],
        "input_size": config["input_size"],
        "hidden_size": config["hidden_size"],
        "bidirectional": config["bidirectional"],
        "vocab_size": vocab_size,
        "reads": "text" if vocab_size else "vectors",
        "tokenization": vocab_dict.get("level") if vocab_dict else None,
        "unk": (vocab_dict.get("specials") or {}).get("unk") if vocab_dict else None,
        "max_steps": prepared.max_steps,
        "skipped": prepared.skipped,
        "description": ckpt["description"],
    }
