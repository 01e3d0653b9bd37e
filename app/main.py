"""The application factory: ``create_app()`` builds the FastAPI app; the lifespan loads models once.

Run it with ``recurrent-lens serve`` (which calls uvicorn with ``app.main:create_app`` as a factory,
so any number of workers each build their own app from the same Settings).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import runtime
from app.api import errors, limits
from app.api.cache import ResponseCache
from app.api.encoding import FastJSONResponse, dumps
from app.api.routes import birnn, decode, forcing, gradients, health, lstm, models, rnn, seq2seq, skipthought
from app.checkpoints import Registry
from app.config import Settings, get_settings
from app.pages import STATIC_DIR
from app.pages import router as pages_router
from app.uploads import UploadStore

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class EdgeMiddleware:
    """Pure ASGI (cheap per request): security headers on every response, a body-size cap, and a
    last line of defence: a fault no handler caught becomes a JSON 500 with the same headers (and
    the traceback in the log), never a bare text page."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if scope["path"].endswith("/upload") else self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length < 0:
                    message = "The request's Content-Length header is not a number of bytes."
                    await self._refuse(400, message, "invalid-body", {}, scope, receive, send)
                    return
                if length > limit:
                    message = f"The request body is {length:,} bytes, but the limit is {limit:,} bytes."
                    params = {"size": length, "limit": limit}
                    await self._refuse(413, message, "body-too-large", params, scope, receive, send)
                    return
                break

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            message = "The server failed on this request; the error was logged."
            await self._refuse(500, message, "internal-error", {}, scope, receive, send)

    async def _refuse(
        self,
        status: int,
        message: str,
        code: str,
        params: Mapping[str, object],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        body = dumps(errors.error_body(message, code, dict(params)))
        response = Response(body, status_code=status, media_type="application/json")
        await self._with_headers(response, scope, receive, send)

    async def _with_headers(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        response.raw_headers.extend(SECURITY_HEADERS)
        await response(scope, receive, send)


class CachedStatic(StaticFiles):
    """Static files: versioned URLs (``?v=hash``) are immutable for a year, others revalidate."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["cache-control"] = "public, max-age=31536000, immutable" if versioned else "no-cache"
        return response


def create_app(settings: Settings | None = None, registry: Registry | None = None) -> FastAPI:
    """Build the app. Tests pass their own Settings or a Registry of tiny nets."""
    settings = settings or get_settings()
    runtime.configure(settings.threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes (all torch work) run in anyio's threadpool. With one torch thread per worker,
        # more than a few computations at once only add GIL contention, which delays the event
        # loop (and /api/health) behind them; a short GIL switch interval keeps the loop prompt.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.compute_threads
        sys.setswitchinterval(0.0005)
        if app.state.registry is None:
            app.state.registry = Registry.from_paths(settings.models_dir, settings.extra_models)
            usable = sum(1 for e in app.state.registry if e.available)
            log.info("loaded %d models (%d unavailable)", usable, len(app.state.registry) - usable)
        app.state.registry.resolver = app.state.uploads.load
        runtime.warm_up(app.state.registry)
        yield

    app = FastAPI(
        title="Recurrent Lens",
        summary="See inside small trained recurrent sequence models while they run.",
        version="0.1.0",
        default_response_class=FastJSONResponse,
        docs_url=None,  # our own /docs page serves Swagger UI from /static (offline, strict CSP)
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.uploads = UploadStore(settings.upload_dir, settings.upload_budget_bytes)
    app.state.response_cache = ResponseCache(settings.response_cache_bytes)
    errors.install(app)
    limits.with_limits(app, settings)
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes, compresslevel=5)
    upload_body = settings.max_upload_bytes + settings.max_vocab_bytes + 2**20  # file, vocabulary, form
    app.add_middleware(EdgeMiddleware, max_body=settings.max_body_bytes, max_upload=upload_body)
    app.mount("/static", CachedStatic(directory=STATIC_DIR), name="static")
    # lesson-path order
    for topic in (health, models, rnn, gradients, lstm, birnn, seq2seq, forcing, decode, skipthought):
        app.include_router(topic.router)
    app.include_router(pages_router)
    return app
