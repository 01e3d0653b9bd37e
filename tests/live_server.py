"""The real server (`recurrent-lens serve`) in a subprocess on a free loopback port, for browser
and reliability tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.config import REPO_ROOT

# Debian's Chromium with the flags this closed network needs (no background fetches, no QUIC).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_server(
    models_dir: Path, extra_args: list[str] | None = None, env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="rlens-server-", suffix=".log")[1])
    upload_dir = tempfile.mkdtemp(prefix="rlens-uploads-")
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        "--models-dir",
        str(models_dir),
        "--upload-dir",
        upload_dir,
        "--log-level",
        "warning",
        "--no-access-log",
        *(extra_args or []),
    ]
    process = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return Server(url, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start in 60 s:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
