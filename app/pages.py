"""The HTML pages: the lesson path, in the order of the seed material.

neuron → recurrent cell → vanishing gradients → LSTM gates → bidirectional RNN → encoder–decoder
with attention → teacher forcing → greedy and beam search → skip-thought vectors.

A lesson appears in the navigation once its template exists, so the path only ever shows real
pages. Templates receive ``static(path)``, which appends a content hash so browsers may cache
static files for a year and still see every change at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.config import REPO_ROOT

TEMPLATES_DIR = REPO_ROOT / "templates"
STATIC_DIR = REPO_ROOT / "static"


@dataclass(frozen=True)
class Lesson:
    slug: str  # URL path without the slash, template name, and page module name
    title: str  # page heading, and the name of the previous/next links
    blurb: str  # one line on the home page and under the link that leads to this lesson
    nav: str = ""  # short label in the header's lesson path (the title when empty)

    @property
    def label(self) -> str:
        """The header's label: short, so the lesson path fits one row at 1366 px."""
        return self.nav or self.title

    @property
    def path(self) -> str:
        return f"/{self.slug}"

    @property
    def exists(self) -> bool:
        return (TEMPLATES_DIR / f"{self.slug}.html").is_file()


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "rnn",
        "RNN cell",
        "From one neuron f(w·x+b) to a recurrent cell h_t = tanh(W·[h_{t−1}, x_t] + b).",
    ),
    Lesson(
        "gradients",
        "Vanishing gradients",
        "Why plain RNNs forget: ‖∂L/∂h_t‖ shrinking step by step, RNN vs LSTM.",
        "Gradients",
    ),
    Lesson(
        "lstm",
        "LSTM gates",
        "Forget, input and output gates and the cell state, live for any text you type.",
    ),
    Lesson(
        "birnn",
        "Bidirectional RNN",
        "Fill in a blank from both sides: forward and backward state streams.",
        "BiRNN",
    ),
    Lesson(
        "attention",
        "Seq2Seq & attention",
        "Encoder–decoder, the fixed-vector bottleneck, and the α heatmap.",
        "Attention",
    ),
    Lesson(
        "teacher-forcing",
        "Teacher forcing",
        "Feeding the gold token or the model's own: exposure bias, step by step.",
    ),
    Lesson(
        "beam",
        "Greedy vs beam",
        "Step through beam search: every candidate kept and pruned.",
        "Beam search",
    ),
    Lesson(
        "skip-thought",
        "Skip-thought",
        "One encoder, two decoders: the sentence before and the sentence after.",
    ),
)


def lessons() -> list[Lesson]:
    """The lessons that exist, in path order."""
    return [lesson for lesson in LESSONS if lesson.exists]


def neighbours(lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    """The lessons before and after ``lesson`` on the path (None at either end)."""
    path = lessons()
    i = path.index(lesson)
    return (path[i - 1] if i > 0 else None, path[i + 1] if i + 1 < len(path) else None)


@lru_cache(maxsize=512)
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    """``/static/<path>?v=<hash of the file>``: cache-busting URL for a static file."""
    file = STATIC_DIR / path
    try:
        version = _digest(file, file.stat().st_mtime_ns)
    except OSError:
        version = "missing"
    return f"/static/{path}?v={version}"


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["static"] = static_url
templates.env.globals["lessons"] = lessons

router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, **context: object) -> HTMLResponse:
    """Render a page template with the shared context.

    ``present`` is presentation mode (``present=1`` in the URL, or the older ``big=1`` large-font
    links), rendered on the server so a projected page never lays itself out twice.
    """
    context.setdefault("settings", request.app.state.settings)
    query = request.query_params
    context.setdefault("present", query.get("present") == "1" or query.get("big") == "1")
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The home page: what Recurrent Lens is, the lesson path, and the models."""
    return render(request, "home.html", page="home", title="Recurrent Lens")


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """OpenAPI docs (Swagger UI), served from our own static files."""
    return render(request, "docs.html", page="docs", title="API docs")


def _lesson_route(lesson: Lesson) -> None:
    def page(request: Request) -> HTMLResponse:
        previous, following = neighbours(lesson)
        return render(
            request,
            f"{lesson.slug}.html",
            page=lesson.slug,
            title=lesson.title,
            lesson=lesson,
            previous=previous,
            following=following,
        )

    page.__name__ = f"page_{lesson.slug.replace('-', '_')}"
    router.add_api_route(lesson.path, page, methods=["GET"], response_class=HTMLResponse)


for _lesson in LESSONS:
    if _lesson.exists:
        _lesson_route(_lesson)
