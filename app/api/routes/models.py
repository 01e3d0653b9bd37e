"""Models: the listing (every checkpoint found, usable or not) and uploads of a user's own LSTM."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from app.api.deps import RegistryDep, SettingsDep
from app.api.errors import ApiError
from app.api.schemas import ERRORS, ErrorBody, ModelList
from app.checkpoints import entry_from_checkpoint
from app.uploads import UploadError, UploadStore, read_weights, user_checkpoint

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
    description: str


def _read(upload: UploadFile, limit: int, what: str) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"{what}: larger than the limit of {limit} bytes", what)
    if not data:
        raise ApiError(422, f"{what}: the file is empty", what)
    return data


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: {"model": ErrorBody, "description": "Malformed multipart or unreadable body."},
    413: {"model": ErrorBody, "description": "File larger than the upload limit."},
}


@router.post("/upload", response_model=UploadInfo, responses=UPLOAD_ERRORS)
def upload(
    request: Request,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="Checkpoint: .safetensors (preferred), or .pt/.pth state_dict.")
    ],
    vocab: Annotated[
        UploadFile | None, File(description="Optional vocabulary JSON: token list or token → index.")
    ] = None,
    tokenization: Annotated[
        Literal["char", "whitespace"], Form(description="How text is split into tokens.")
    ] = "char",
    prefix: Annotated[
        str | None, Form(description="Which LSTM, when the file holds several.", max_length=200)
    ] = None,
) -> dict[str, Any]:
    """Upload your own LSTM; it is then traced by POST /api/lstm/trace under the returned name."""
    store: UploadStore = request.app.state.uploads
    filename = upload_name(file.filename)
    data = _read(file, settings.max_upload_bytes, "file")
    vocab_bytes = _read(vocab, 5 * 2**20, "vocab") if vocab is not None and vocab.filename else None
    prefix = prefix or None
    name = store.name_for(
        data, vocab_bytes or b"", tokenization.encode(), (prefix or "").encode(), filename.encode()
    )
    try:
        weights = read_weights(data, filename)
        ckpt = user_checkpoint(
            weights, name, filename, prefix=prefix, vocab_json=vocab_bytes, tokenization=tokenization
        )
    except UploadError as exc:
        raise ApiError(422, str(exc), "prefix" if exc.choices else "file", {"choices": exc.choices}) from exc
    entry = entry_from_checkpoint(ckpt, None)
    if not entry.available:
        raise ApiError(422, f"the weights do not load: {entry.reason}", "file")
    store.put(ckpt)
    config = ckpt["config"]
    vocab_size = len(ckpt["vocab"]["tokens"]) if ckpt["vocab"] else None
    return {
        "name": name,
        "kind": "lstm",
        "layers": config["num_layers"],
        "input_size": config["input_size"],
        "hidden_size": config["hidden_size"],
        "bidirectional": config["bidirectional"],
        "vocab_size": vocab_size,
        "reads": "text" if vocab_size else "vectors",
        "description": ckpt["description"],
    }


def upload_name(filename: str | None) -> str:
    """The uploaded file's base name (only used for its suffix and in messages)."""
    base = (filename or "upload.pt").replace("\\", "/").rsplit("/", 1)[-1]
    return base[-120:] or "upload.pt"
