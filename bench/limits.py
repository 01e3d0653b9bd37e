"""Requests at their limits: CPU time and response size of the longest request each limit allows.

    .venv/bin/python bench/limits.py

Budget (issue 15, DESIGN "any request at its limits"): ≤ 2 s of CPU and ≤ 16 MB of response for
the longest allowed request of any accepted model, ≤ 5 s and ≤ 256 MB extra memory per upload.
Measured through the app (TestClient, response cache off) so validation, pricing, the work and
the JSON encoding are all counted; CPU is the process's (the app runs in TestClient's thread).

1. Every compute route with the shipped models, its text (and beam, samples, …) at the limit,
   rounded and full precision.
2. Uploads shaped to hit each budget (the widest, the deepest, the widest input, a word model with
   an embedding and a head), traced at the longest input the upload reports (``max_steps``),
   rounded and at full precision (its own, shorter, limit).
3. The largest upload a user can send (a 50 MB float32 LSTM): its time and peak extra memory.

The anchor, measured in the same run: ``nn.LSTM(128, 128)`` forward over 500 steps (the DESIGN
budget table's trace anchor). "priced" are the estimates of ``app/api/pricing.py``; "ns/MAC" is
CPU time over priced multiply-adds, the figure that ties ``RLENS_MAX_REQUEST_MACS`` to seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from safetensors.torch import save as save_safetensors  # noqa: E402
from torch import nn  # noqa: E402

from app import runtime  # noqa: E402
from app.api import pricing  # noqa: E402
from app.checkpoints import Registry, entry_from_checkpoint  # noqa: E402
from app.config import REPO_ROOT, Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from app.uploads import UploadStore, prepare  # noqa: E402

MB = 1e6
ROWS: list[dict[str, Any]] = []


def status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def anchor() -> float:
    lstm = nn.LSTM(128, 128)
    x = torch.randn(500, 1, 128)
    with torch.inference_mode():
        lstm(x)
        start = time.process_time()
        for _ in range(5):
            lstm(x)
    return (time.process_time() - start) / 5


def measure(client: TestClient, label: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    client.post(path, json=body)  # warm (kernels, input tables)
    cpu = time.process_time()
    wall = time.perf_counter()
    r = client.post(path, json=body, headers={"accept-encoding": "identity"})
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    row = {"case": label, "status": r.status_code, "cpu_s": cpu, "wall_s": wall, "mb": len(r.content) / MB}
    if r.status_code != 200:
        row["error"] = r.json().get("message", "")[:160]
    ROWS.append(row)
    return row


def shipped(client: TestClient, s: Settings) -> None:
    t = s.max_trace_chars
    play = ("To be, or not to be, that is the question: Whether 'tis nobler in the mind to suffer. " * 60)[:t]
    for fp in (False, True):
        tag = " full" if fp else ""
        measure(
            client,
            f"lstm shakespeare-char {t}{tag}",
            "/api/lstm/trace",
            {"model": "shakespeare-char", "text": play, "unit": 3, "full_precision": fp},
        )
        measure(
            client,
            f"rnn recall-rnn {t}{tag}",
            "/api/rnn/trace",
            {"model": "recall-rnn", "text": "C" + "1" * (t - 2) + "?", "unit": 3, "full_precision": fp},
        )
        c = s.max_cloze_chars
        measure(
            client,
            f"cloze cloze-bi {c}{tag}",
            "/api/birnn/cloze",
            {"model": "cloze-bi", "text": play[: c // 2] + "_" + play[c // 2 + 1 : c], "full_precision": fp},
        )
    g = s.max_gradient_chars
    for model in ("recall-lstm", "recall-rnn"):
        measure(
            client,
            f"gradients {model} {g}",
            "/api/gradients",
            {"model": model, "delay": 100, "sequence": "C" + "1" * (g - 2) + "?"},
        )
    n = s.max_seq2seq_chars
    source = {
        "dates": ("27 Nov 2026, " * 40)[:n],
        "copy-attention": ("abcdefghij" * 40)[:n],
        "idioms": " ".join(["mirar"] * 40)[:n],
    }
    for model, text in source.items():
        if model != "idioms":
            measure(
                client,
                f"translate {model} {n} hard {s.max_hard_samples}",
                "/api/seq2seq/translate",
                {
                    "model": model,
                    "text": text,
                    "attention_mode": "hard",
                    "samples": s.max_hard_samples,
                    "full_precision": True,
                },
            )
        measure(
            client,
            f"beam {model} {n} k={s.max_beam_width}",
            "/api/decode/beam",
            {
                "model": model,
                "text": text,
                "beam_width": s.max_beam_width,
                "max_length": s.max_decode_length,
                "length_penalty": 2.0,
                "full_precision": True,
            },
        )
    measure(
        client,
        f"forcing dates {n}",
        "/api/seq2seq/forcing",
        {"model": "dates", "text": source["dates"], "target": "2026-11-27" * 6, "full_precision": True},
    )
    words = " ".join(["anna"] * s.max_sentence_words)
    measure(
        client,
        f"skipthought {s.max_sentence_words} words k={s.max_beam_width}",
        "/api/skipthought/neighbours",
        {
            "model": "stories-skipthought",
            "text": words,
            "beam_width": s.max_beam_width,
            "full_precision": True,
        },
    )


class WordLM(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, layers)
        self.decoder = nn.Linear(hidden, vocab)


UPLOADS = {
    "LSTM(1, 1024) (issue 15)": lambda: nn.LSTM(1, 1024),
    "LSTM(1, 2048) widest, float16": lambda: nn.LSTM(1, 2048).half(),
    "LSTM(1400, 1400) most work per step, float16": lambda: nn.LSTM(1400, 1400).half(),
    "LSTM(1, 1990) widest recurrent matrix, float16": lambda: nn.LSTM(1, 1990).half(),
    "LSTM(64, 64, 16 layers, bi) deepest": lambda: nn.LSTM(64, 64, 16, bidirectional=True),
    "LSTM(1, 16) longest text": lambda: nn.LSTM(1, 16),
    "word LM V=5000 E=256 H=512 ×2": lambda: WordLM(5000, 256, 512, 2),
}


def uploads(client: TestClient) -> None:
    for label, make in UPLOADS.items():
        torch.manual_seed(0)
        module = make()
        data = save_safetensors({k: v.contiguous() for k, v in module.state_dict().items()})
        files: dict[str, Any] = {"file": ("m.safetensors", data)}
        words = None
        if isinstance(module, WordLM):
            words = [f"w{i}" for i in range(module.embedding.num_embeddings)]
            files["vocab"] = ("v.json", json.dumps({"tokens": words, "tokenization": "whitespace"}).encode())
        cpu = time.process_time()
        info = client.post("/api/models/upload", files=files)
        ROWS.append(
            {
                "case": f"upload {label} ({len(data) / MB:.1f} MB)",
                "status": info.status_code,
                "cpu_s": time.process_time() - cpu,
                "wall_s": float("nan"),
                "mb": 0.0,
            }
        )
        if info.status_code != 200:
            ROWS[-1]["error"] = info.json()["message"][:160]
            continue
        name, steps, width = info.json()["name"], info.json()["max_steps"], info.json()["input_size"]
        for fp in (False, True):
            body: dict[str, Any] = {"model": name, "unit": 0, "full_precision": fp}
            n = steps
            if fp:  # the longest full-precision trace: from the 422 of one step more than allowed
                over = client.post(
                    "/api/lstm/trace",
                    json={**body, "inputs": [[0.1] * width] * (steps + 1)}
                    if words is None
                    else {**body, "text": " ".join(words[: steps + 1])},
                )
                n = over.json().get("params", {}).get("most", steps) if over.status_code == 422 else steps
            if words is None:
                body["inputs"] = [[0.1 * ((t * 7 + k) % 13 - 6) for k in range(width)] for t in range(n)]
            else:
                body["text"] = " ".join(words[(t * 37) % len(words)] for t in range(n))
            row = measure(client, f"  trace {n} steps{' full' if fp else ''}", "/api/lstm/trace", body)
            lstm = module.rnn if isinstance(module, WordLM) else module
            head = module.decoder.out_features if isinstance(module, WordLM) else 0
            row["macs"] = pricing.trace(pricing.Recurrent.of(lstm), n, head, unit=True).macs


def peak_of_upload(path: str) -> None:
    """(Run in a fresh process.) Upload one file as the route does; print time and peak memory."""
    settings = Settings(upload_dir=Path(tempfile.mkdtemp(prefix="rlens-bench-")))
    store = UploadStore(settings.upload_dir, settings.upload_budget_bytes)
    rss = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak counts from here, the file's bytes included
    cpu, wall = time.process_time(), time.perf_counter()
    data = Path(path).read_bytes()
    prepared = prepare(data, Path(path).name, "upload-0000000000000000", settings)
    entry = entry_from_checkpoint(prepared.checkpoint, None)
    store.put(prepared.checkpoint)
    assert entry.available, entry.reason
    figures = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    print(json.dumps({**figures, "peak_mb": status("VmHWM") - rss}))


def largest_upload() -> None:
    """A float32 LSTM just under the upload cap, each format in a fresh process (a warm heap would
    hide its peak): time and peak extra memory of reading, checking, building and storing it."""
    size = 1270  # nn.LSTM(1270, 1270): 12.9 M parameters, 51.7 MB ≤ 50 MiB
    state = {k: v.contiguous() for k, v in nn.LSTM(size, size).state_dict().items()}
    folder = Path(tempfile.mkdtemp(prefix="rlens-bench-"))
    (folder / "big.safetensors").write_bytes(save_safetensors(state))
    torch.save(state, folder / "big.pt")
    for name in ("big.safetensors", "big.pt"):
        path = folder / name
        run = subprocess.run(
            [sys.executable, __file__, "--peak", str(path)], capture_output=True, text=True, check=True
        )
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        label = f"upload largest {path.suffix} ({path.stat().st_size / MB:.1f} MB), fresh process"
        ROWS.append({"case": label, "status": 200, "mb": 0.0, **figures})


def main() -> None:
    runtime.configure(1)
    s = Settings(upload_dir=Path(tempfile.mkdtemp(prefix="rlens-bench-")), response_cache_bytes=0)
    app = create_app(s, Registry.from_paths(REPO_ROOT / "models"))
    base = anchor()
    print(f"anchor: nn.LSTM(128, 128) forward, 500 steps: {base * 1e3:.2f} ms CPU")
    print(f"budgets: RLENS_MAX_REQUEST_MACS={s.max_request_macs:,}")
    print(f"         RLENS_MAX_RESPONSE_FLOATS={s.max_response_floats:,}")
    with TestClient(app) as client:
        shipped(client, s)
        uploads(client)
    largest_upload()
    print(f"\n{'case':58s} {'status':>6s} {'CPU s':>7s} {'× anchor':>9s} {'MB':>7s}  note")
    for row in ROWS:
        note = row.get("error", "")
        if "peak_mb" in row:
            note = f"peak extra memory {row['peak_mb']:.0f} MB, wall {row['wall_s']:.2f} s"
        if "macs" in row:
            per_mac = row["cpu_s"] / row["macs"] * 1e9
            note = f"priced {row['macs'] / 1e9:.2f} G multiply-adds: {per_mac:.3f} ns each"
        cpu, ratio = row["cpu_s"], row["cpu_s"] / base
        print(f"{row['case']:58s} {row['status']:>6d} {cpu:7.3f} {ratio:9.0f} {row['mb']:7.2f}  {note}")
    ok = [r for r in ROWS if r["status"] == 200]
    worst_cpu = max(ok, key=lambda r: r["cpu_s"])
    worst_mb = max(ok, key=lambda r: r["mb"])
    print(f"\nworst CPU: {worst_cpu['cpu_s']:.3f} s ({worst_cpu['case'].strip()}); budget 2 s")
    print(f"largest response: {worst_mb['mb']:.2f} MB ({worst_mb['case'].strip()}); budget 16 MB")
    priced = [r for r in ok if r.get("macs", 0) >= s.max_request_macs / 4]  # work, not fixed costs
    slowest = max(priced, key=lambda r: r["cpu_s"] / r["macs"])
    per_mac = slowest["cpu_s"] / slowest["macs"]
    print(
        f"slowest per priced multiply-add: {per_mac * 1e9:.3f} ns ({slowest['case'].strip()}), so "
        f"RLENS_MAX_REQUEST_MACS costs at most {per_mac * s.max_request_macs:.2f} s here"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        peak_of_upload(sys.argv[2])
    else:
        main()
