"""``recurrent-lens``: serve the app, train a shipped model, or list the models.

recurrent-lens serve [--host 127.0.0.1] [--port 8000] [--workers N] [--models-dir DIR] [--model FILE ...]
recurrent-lens train NAME [--steps N] [--seed S] [--out DIR] [--dry-run]
recurrent-lens models [--models-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    # Workers are separate processes that build their own app from the environment.
    if args.models_dir is not None:
        os.environ["RLENS_MODELS_DIR"] = str(Path(args.models_dir).resolve())
    if args.model:
        os.environ["RLENS_EXTRA_MODELS"] = json.dumps([str(Path(p).resolve()) for p in args.model])
    if args.upload_dir is not None:
        os.environ["RLENS_UPLOAD_DIR"] = str(Path(args.upload_dir).resolve())
    missing = [p for p in args.model if not Path(p).is_file()]
    for p in missing:
        print(
            f"warning: --model {p} does not exist; it will be listed as unavailable",
            file=sys.stderr,
        )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from app.train import train

    path = train(args.name, steps=args.steps, seed=args.seed, out=args.out, dry_run=args.dry_run)
    print(f"wrote {path}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from app.checkpoints import Registry
    from app.config import get_settings

    models_dir = Path(args.models_dir) if args.models_dir else get_settings().models_dir
    registry = Registry.from_paths(models_dir)
    if args.json:
        print(json.dumps([e.public() for e in registry], indent=1, default=str))
        return 0
    if not len(registry):
        print(f"no checkpoints in {models_dir}")
        return 0
    rows = [("name", "kind", "status", "headline metrics")]
    for e in registry:
        summary = e.metrics.get("summary", {})
        metrics = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()
        )
        rows.append((e.name, e.kind, "ok" if e.available else f"UNAVAILABLE: {e.reason}", metrics))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    return 0


def build_parser() -> argparse.ArgumentParser:
    from app.train import all_recipes

    parser = argparse.ArgumentParser(
        prog="recurrent-lens",
        description="See inside small trained recurrent sequence models while they run.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="serve the web app and API", description="Serve the web app and API."
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes; each uses one torch thread (default: %(default)s)",
    )
    serve.add_argument("--models-dir", default=None, help="directory of *.pt checkpoints (default: ./models)")
    serve.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FILE",
        help="also serve this checkpoint file; repeat for several",
    )
    serve.add_argument(
        "--upload-dir",
        default=None,
        help="where uploaded checkpoints are kept (default: ./.uploads)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: %(default)s)",
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log every request (default: on)",
    )
    serve.set_defaults(func=_serve)

    recipes = all_recipes()
    train = sub.add_parser(
        "train",
        help="rebuild a shipped model from its seed",
        description="Rebuild a shipped model from its seed on one CPU core. Recipes: "
        + "; ".join(f"{n} ({r.description})" for n, r in sorted(recipes.items())),
    )
    train.add_argument(
        "name",
        choices=sorted(recipes),
        metavar="NAME",
        help="recipe to run: " + ", ".join(sorted(recipes)),
    )
    train.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's own)")
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed gives the same weights (default: %(default)s)",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory to write NAME.pt into (default: ./models, or a temporary directory with --dry-run)",
    )
    train.add_argument("--dry-run", action="store_true", help="run a few steps on small data (smoke test)")
    train.set_defaults(func=_train)

    models = sub.add_parser(
        "models",
        help="list the models and their metrics",
        description="List the models and their metrics.",
    )
    models.add_argument(
        "--models-dir", default=None, help="directory of *.pt checkpoints (default: ./models)"
    )
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
