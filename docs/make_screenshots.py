"""Take the README screenshots: start the server with the shipped models, open each page in
headless Chromium in a prepared state, and save docs/screenshots/<page>.png.

    .venv/bin/python docs/make_screenshots.py [--only lstm]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live_server import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"

# page name -> (URL path with view state, selector of a plot to wait for or None); full pages at
# 1440×1000, except the SCREENS below.
VIEWS: dict[str, tuple[str, str | None]] = {
    "home": ("/", None),
    "lstm": ("/lstm?t=27&unit=103&q=hidden", "#hm-hidden"),
    "rnn": ("/rnn?text=C31415%3F&t=3&unit=27", "#hm-hidden"),
    "gradients": ("/gradients?T=50", "#grad-overlay"),
    "birnn": ("/birnn?s=20&unit=5", "#hm-backward"),
    "attention": ("/attention?text=vendredi%2027%20novembre%202026&t=6", "#alpha"),
    "teacher-forcing": ("/teacher-forcing", "#curve-loss"),
    "beam": ("/beam?t=3", "#tree"),
    "skip-thought": ("/skip-thought?text=Rosa%20eats%20pancakes%20for%20breakfast.&story=morning", "#map"),
    "presentation": ("/attention?present=1&text=vendredi%2027%20novembre%202026&t=6", "#alpha"),
}

# Views taken as one screen of a projector instead of a full page: (width, height, element scrolled
# to just below the sticky header).
SCREENS: dict[str, tuple[int, int, str]] = {
    "presentation": (1024, 768, "#alpha"),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", default=[], help="page name to capture (repeatable)")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for name, (path, wait) in VIEWS.items():
                if args.only and name not in args.only:
                    continue
                width, height, scroll_to = SCREENS.get(name, (1440, 1000, ""))
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                if wait:
                    page.wait_for_function(
                        "(s) => { const el = document.querySelector(s); return el?.data?.length; }",
                        arg=wait,
                    )
                time.sleep(1.0)
                if scroll_to:
                    page.evaluate(
                        """(sel) => { const card = document.querySelector(sel).closest('section');
                             const top = card.getBoundingClientRect().top + window.scrollY;
                             const header = document.querySelector('header').getBoundingClientRect().height;
                             window.scrollTo(0, top - header - 8); }""",
                        scroll_to,
                    )
                    time.sleep(0.3)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=not scroll_to)
                page.close()
                print(f"wrote {OUT / (name + '.png')}")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
